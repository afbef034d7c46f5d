// Load: N concurrent recorded SSH sessions through the proxy to a real sshd, each
// typing a key a second and timing its echo while the node prints 1 KiB a second,
// against the same load straight to the same sshd in the same run. For each N
// (BENCH_LOAD_SESSIONS, default 100,500,1000): echo latency p50/p99 both ways and what
// the proxy adds, the proxy's CPU and resident memory per session, whether any session
// dropped, and whether every recording holds exactly what its session received.
// Run by ./scripts/bench (which builds the release proxy and e2e/loadgen); prints
// Markdown.
//
// The node is an sshd of its own (MaxStartups raised) for an ordinary user made for
// the run, whose sessions run e2e/bench/load-session.pl (not a login shell). Sessions
// are spread BENCH_LOAD_PER_USER (default 10, the proxy's default cap) to a user, so
// the half-second sweep reads one web session per ten live sessions, as with people.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startCluster, startProxy, until } from '../lib/harness.mjs';
import { compareRecordings, processStats, runLoad } from '../lib/load.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const COUNTS = (process.env.BENCH_LOAD_SESSIONS || '100,500,1000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS || 30);
const PER_USER = Number(process.env.BENCH_LOAD_PER_USER || 10);
const PARALLEL = Number(process.env.BENCH_LOAD_PARALLEL || 16);
const GENERATOR = process.env.GATEHOUSE_LOADGEN;
if (!GENERATOR || !fs.existsSync(GENERATOR)) {
  throw new Error(`GATEHOUSE_LOADGEN must name the built load generator (got ${GENERATOR}); run ./scripts/bench`);
}
const openFiles = Number(fs.readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\d+)/m)[1]);
const most = Math.max(...COUNTS);
if (openFiles < most * 8 + 1000) {
  throw new Error(`${most} sessions need about ${most * 8 + 1000} open files in the proxy; this shell allows ${openFiles}. Run \`ulimit -n ${most * 8 + 1000}\` first (./scripts/bench does).`);
}

// BENCH_LOAD_PROXIES=2: the same through two proxies on PostgreSQL (recordings in Garage)
// behind HAProxy, as examples/cluster sets them up (needs GATEHOUSE_TEST_POSTGRES).
const CLUSTER = process.env.BENCH_LOAD_PROXIES === '2';
const LOGIN = 'ghload';
const COMMAND = `exec /usr/bin/perl ${path.join(here, 'load-session.pl')}`;
const NODE = 'load';

const proxy = await (CLUSTER ? startCluster : startProxy)(`
[roles.loadrec]
node_labels = { env = "load" }
logins = ["${LOGIN}"]

[roles.loaddirect]
node_labels = { env = "load" }
logins = ["${LOGIN}"]
ssh_mode = "direct"

[limits]
ssh_sessions_per_user = ${PER_USER}

# A hundred people sign in from this one address.
[signin]
attempts_per_ip_per_minute = 100000
`);
const caPem = CLUSTER ? path.join(proxy.dir, 'tls.pem') : path.join(proxy.dir, 'data', 'tls', 'cert.pem');
const ca = fs.readFileSync(caPem);
/** The processes serving the sessions: the proxy, or both proxies and HAProxy. */
const servers = () => (CLUSTER
  ? { 'proxy a': proxy.proxies[0].child.pid, 'proxy b': proxy.proxies[1].child.pid, haproxy: proxy.lbPid }
  : { proxy: proxy.child.pid });

// An ordinary user with a small shell, for the sessions (root's login runs pyenv).
if (spawnSync('id', [LOGIN]).status !== 0) execFileSync('useradd', ['-m', '-s', '/bin/sh', LOGIN]);
// Not locked (sshd without PAM refuses a locked account), and no password either.
execFileSync('usermod', ['-p', '*', LOGIN]);

const sshd = await startLoadNode();
const cleanup = async () => {
  sshd.child.kill('SIGTERM');
  await proxy.stop();
  spawnSync('pkill', ['-KILL', '-u', LOGIN]);
};

const rows = [];
try {
  const users = [];
  for (let i = 0; i < Math.ceil(most / PER_USER); i += 4) {
    const batch = [];
    for (let j = i; j < Math.min(i + 4, Math.ceil(most / PER_USER)); j++) batch.push(proxy.enrolAndSignIn(`load${j}`, ['loadrec']));
    users.push(...await Promise.all(batch));
  }
  const direct = await proxy.enrolAndSignIn('loaddirect', ['loaddirect']);
  for (const n of COUNTS) {
    const common = { generatorBin: GENERATOR, caPem, ca, n, parallel: PARALLEL, seconds: SECONDS };
    const load = (i) => ({ certifyAt: proxy.url, node: NODE, login: LOGIN, command: COMMAND, i });
    // The baseline: the same generator and sshd, no proxy (a direct-mode certificate,
    // which the node trusts, minted by the proxy).
    const straight = await runLoad({
      ...common,
      session: (i) => ({ ...load(i), who: direct, url: `tcp://127.0.0.1:${sshd.port}` }),
    });
    // Fresh proxy processes on the same data directories, so their memory is this run's.
    for (const p of CLUSTER ? proxy.proxies : [proxy]) {
      await p.stop();
      await p.restart();
    }
    // HAProxy takes a restarted proxy back after two health checks.
    await new Promise((r) => setTimeout(r, CLUSTER ? 3000 : 1000));
    const watch = servers();
    const rssBefore = Object.fromEntries(Object.entries(watch).map(([label, pid]) => [label, processStats(pid).rss]));
    const idle = { rss: Object.values(rssBefore).reduce((a, b) => a + b, 0) };
    const runStarted = Math.floor(Date.now() / 1000);
    const wss = proxy.url.replace(/^https:/, 'wss:');
    const through = await runLoad({
      ...common,
      watch,
      rssBefore,
      session: (i) => {
        const who = users[Math.floor(i / PER_USER)];
        return { ...load(i), who, cookie: who.cookie, origin: proxy.url, url: `${wss}/api/v1/nodes/${NODE}/ssh?login=${LOGIN}` };
      },
    });
    const recordings = await finishedRecordings(runStarted, through.opened);
    const verdict = compareRecordings(through.sessions, recordings);
    rows.push({ n, straight, through, verdict, idle, load: fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') });
    report(rows.at(-1));
  }
} finally {
  await cleanup();
}

table(rows);

/** The recordings of sessions started since `since`, once every one has ended: [{ id, bytes }]. */
async function finishedRecordings(since, expected) {
  const list = () => proxy.cli('recordings', 'list', '--limit', '1000000').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((r) => r.started_at >= since);
  const rows = await until(() => {
    const all = list();
    return all.length >= expected && all.every((r) => r.ended_at) ? all : null;
  }, `${expected} recordings to end`, 60_000).catch(() => list());
  return rows.map((r) => ({
    id: r.id,
    bytes: execFileSync(process.env.GATEHOUSE_BIN, ['--config', proxy.config, 'recordings', 'cat', r.id], { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] }),
  }));
}

/** sshd for the load: trusts the proxy's user CA, admits `LOGIN` with a certificate for LOGIN@load. */
async function startLoadNode() {
  const port = await freePort();
  const dir = path.join(proxy.dir, 'node-load');
  fs.mkdirSync(dir, { recursive: true });
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  proxy.cli('nodes', 'add', NODE, '--addr', `127.0.0.1:${port}`, '--labels', 'env=load', '--host-key', `${hostKey}.pub`);
  fs.writeFileSync(path.join(dir, 'user_ca.pub'), proxy.cli('ca', 'user'));
  fs.writeFileSync(path.join(dir, 'sshd_config'), [
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${hostKey}`,
    `HostCertificate ${hostKey}-cert.pub`,
    `TrustedUserCAKeys ${path.join(dir, 'user_ca.pub')}`,
    `AuthorizedPrincipalsCommand /bin/echo %u@${NODE}`,
    'AuthorizedPrincipalsCommandUser nobody',
    'AuthorizedKeysFile none',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    `AllowUsers ${LOGIN}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    // Up to 200 connections may be mid-handshake before sshd starts refusing some.
    'MaxStartups 200:30:400',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'LogLevel ERROR',
  ].join('\n') + '\n');
  fs.mkdirSync('/run/sshd', { recursive: true });
  const log = fs.openSync(path.join(dir, 'sshd.log'), 'a');
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', log, log] });
  await until(() => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), `sshd to listen:\n${fs.existsSync(path.join(dir, 'sshd.log')) ? fs.readFileSync(path.join(dir, 'sshd.log'), 'utf8') : ''}`);
  return { port, child, dir };
}

function ms(x) { return Number.isFinite(x) ? `${x.toFixed(1)} ms` : '–'; }

/** What one N showed, as it finishes (failures and drops in full). */
function report({ n, straight, through, verdict, idle, load }) {
  console.error(`\nN=${n} (load average ${load}):`);
  for (const [what, r] of [['straight to sshd', straight], ['through the proxy', through]]) {
    console.error(`  ${what}: ${r.opened}/${n} open (ramp ${r.rampSeconds.toFixed(1)} s), ${r.latency.count} keys timed, `
      + `p50 ${ms(r.latency.p50)} p90 ${ms(r.latency.p90)} p99 ${ms(r.latency.p99)} max ${ms(r.latency.max)}, `
      + `${r.echoesMissing} echoes missing, ${r.outOfOrder} out of order, ${r.drops.length} dropped, machine ${(r.machineBusy * 100).toFixed(0)}% busy`);
    for (const [label, p] of Object.entries(r.processes)) {
      console.error(`    ${label}: CPU ${(p.cpu * 100).toFixed(0)}% of a core, RSS ${(p.rss / 2 ** 20).toFixed(0)} MiB, ${p.threads} threads`);
    }
    for (const line of [...r.failures, ...r.drops].slice(0, 10)) console.error(`    ${line}`);
  }
  console.error(`  proxy before the run: RSS ${(idle.rss / 2 ** 20).toFixed(1)} MiB`);
  console.error(`  recordings: ${verdict.whole} whole, ${verdict.missing.length} missing, ${verdict.short.length} short, ${verdict.differ.length} differing; ${verdict.extraBytes} bytes recorded past what sessions read before closing`);
  for (const line of [...verdict.short, ...verdict.differ.map((id) => `differs: ${id}`)].slice(0, 10)) console.error(`    ${line}`);
}

function table(rows) {
  const via = CLUSTER ? 'two proxies on PostgreSQL behind HAProxy (proxy CPU and RSS: both proxies and HAProxy together)' : 'one proxy';
  console.log(`Load: recorded SSH sessions through ${via}, each typing a key a second and receiving 1 KiB/s; ${SECONDS} s steady phase; ${os.cpus().length} cores.\n`);
  console.log('| sessions | echo p50 / p99, straight to sshd | through the proxy (recorded) | added by the proxy p50 / p99 | proxy CPU | proxy RSS per session | generator CPU (straight / through) | machine busy (straight / through) | sessions dropped | recordings whole |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const { n, straight: s, through: t, verdict: v } of rows) {
    const pct = (x) => `${(x * 100).toFixed(0)}%`;
    // The proxy, or the sum of every serving process (both proxies and HAProxy).
    const serving = Object.entries(t.processes).filter(([label]) => label !== 'generator').map(([, p]) => p);
    const proxyStats = { cpu: serving.reduce((a, p) => a + p.cpu, 0), rssPerSession: serving.reduce((a, p) => a + p.rssPerSession, 0) };
    const dropped = (s.n - s.opened) + s.drops.length + (t.n - t.opened) + t.drops.length;
    console.log(`| ${n} | ${ms(s.latency.p50)} / ${ms(s.latency.p99)} | ${ms(t.latency.p50)} / ${ms(t.latency.p99)} `
      + `| ${ms(t.latency.p50 - s.latency.p50)} / ${ms(t.latency.p99 - s.latency.p99)} | ${pct(proxyStats.cpu)} of a core `
      + `| ${(proxyStats.rssPerSession / 1024).toFixed(0)} KiB | ${pct(s.processes.generator.cpu)} / ${pct(t.processes.generator.cpu)} `
      + `| ${pct(s.machineBusy)} / ${pct(t.machineBusy)} | ${dropped === 0 ? 'none' : `${dropped} (${t.n - t.opened} through the proxy did not open, ${t.drops.length} dropped)`} `
      + `| ${v.whole} of ${t.opened}${v.missing.length + v.short.length + v.differ.length ? ` (${v.missing.length} missing, ${v.short.length} short, ${v.differ.length} differ)` : ''} |`);
  }
}
