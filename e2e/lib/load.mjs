// The machinery of the load benchmark (e2e/bench/load.mjs): the SSH load generator
// (e2e/loadgen, one Rust process speaking real SSH for every session), certificates
// minted for it just in time, CPU and memory read from /proc, and each session's bytes
// compared with its recording. Nothing here starts a proxy: a run is given the proxies'
// URLs (one proxy, several, or a load balancer in front of them) and the processes to
// watch, so the same run measures one proxy or a cluster.

import { spawn, execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import readline from 'node:readline';

/** A fresh Ed25519 key: its OpenSSH public key line, and its 32-byte seed in hex. */
export function newKey() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
  const string = (b) => { const len = Buffer.alloc(4); len.writeUInt32BE(b.length); return Buffer.concat([len, b]); };
  const blob = Buffer.concat([string(Buffer.from('ssh-ed25519')), string(raw)]);
  return { publicKey: `ssh-ed25519 ${blob.toString('base64')}`, seed: seed.toString('hex') };
}

/** POST /api/v1/ssh/certificate on `url` for `who` ({ cookie, csrf }): the certificate line. */
export function certify(url, ca, who, publicKey, node, login) {
  const body = JSON.stringify({ public_key: publicKey, node, login });
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: hostname, port, path: '/api/v1/ssh/certificate', method: 'POST', ca, agent: keepAlive,
      headers: { cookie: who.cookie, 'x-csrf-token': who.csrf, 'content-type': 'application/json' },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`the certificate was refused (HTTP ${res.statusCode}): ${text}`));
        else resolve(JSON.parse(text).certificate);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 8 });

/** CPU time (clock ticks) and resident memory (bytes) of a process, and its threads. */
export function processStats(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command's name: field 3 is index 0, so utime (14) and stime (15) are 11, 12.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(status.match(/^VmRSS:\s+(\d+) kB/m)[1]) * 1024;
  const threads = Number(status.match(/^Threads:\s+(\d+)/m)[1]);
  return { ticks, rss, threads };
}

/** The whole machine's CPU ticks: busy and total, over every core. */
export function machineTicks() {
  const [, ...values] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const n = values.map(Number);
  const idle = n[3] + n[4];
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The load generator, started with the proxies' TLS certificates to trust. */
export function startGenerator(bin, caPem) {
  const child = spawn(bin, [caPem], { stdio: ['pipe', 'pipe', 'inherit'] });
  const listeners = new Set();
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; for (const l of listeners) l({ exited }); });
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line);
    for (const l of listeners) l(event);
  });
  return {
    child,
    get exited() { return exited; },
    send: (command) => child.stdin.write(`${JSON.stringify(command)}\n`),
    on: (listener) => listeners.add(listener),
    off: (listener) => listeners.delete(listener),
  };
}

/**
 * One load run: `n` sessions opened `parallel` at a time, each with a certificate minted
 * right before it connects; then `seconds` of steady typing, timed, with the CPU of
 * `watch` ({ label: pid }) and the machine read over exactly that window.
 *
 * `session(i)` says how session i connects: { url (for the generator), certifyAt (the
 * proxy URL that mints its certificate), who, node, login, command, origin?, cookie? }.
 */
export async function runLoad({ generatorBin, caPem, ca, n, parallel = 16, seconds, session, watch = {}, rssBefore = {} }) {
  const generator = startGenerator(generatorBin, caPem);
  watch = { generator: generator.child.pid, ...watch };
  const failures = [];
  const drops = [];
  let opened = 0;
  let inflight = 0;
  let wake = () => {};
  generator.on((event) => {
    if ('opened' in event) opened += 1;
    if ('failed' in event) failures.push(`session ${event.failed}: ${event.error}`);
    if ('dropped' in event) drops.push(`session ${event.dropped}: ${event.error}`);
    if ('opened' in event || 'failed' in event || 'exited' in event) { inflight -= 1; wake(); }
  });
  const rampStart = performance.now();
  for (let i = 0; i < n; i++) {
    while (inflight >= parallel) await new Promise((r) => { wake = r; });
    if (generator.exited) throw new Error(`the load generator exited (${JSON.stringify(generator.exited)})`);
    const s = session(i);
    const key = newKey();
    let certificate;
    try {
      certificate = await certify(s.certifyAt, ca, s.who, key.publicKey, s.node, s.login);
    } catch (err) {
      failures.push(`session ${i}: ${err.message}`);
      continue;
    }
    inflight += 1;
    generator.send({ open: {
      id: i, url: s.url, cookie: s.cookie ?? null, origin: s.origin ?? null, login: s.login,
      command: s.command, seed: key.seed, certificate,
    } });
  }
  while (inflight > 0) await new Promise((r) => { wake = r; });
  const rampSeconds = (performance.now() - rampStart) / 1000;
  // Let every session type a few keys before the clock starts.
  await new Promise((r) => setTimeout(r, 3000));
  const before = Object.fromEntries(Object.entries(watch).map(([label, pid]) => [label, processStats(pid)]));
  const machineBefore = machineTicks();
  const dropsBefore = drops.length;
  generator.send('measure');
  const started = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - started) / 1000;
  const after = Object.fromEntries(Object.entries(watch).map(([label, pid]) => [label, processStats(pid)]));
  const machineAfter = machineTicks();
  const result = await new Promise((resolve, reject) => {
    generator.on((event) => {
      if ('result' in event) resolve(event.result);
      if ('exited' in event) reject(new Error(`the load generator exited before its result (${JSON.stringify(event.exited)})`));
    });
    generator.send('stop');
  });
  generator.child.stdin.end();
  const latencies = Float64Array.from(result.latencies_us, (us) => us / 1000).sort();
  const processes = Object.fromEntries(Object.keys(watch).map((label) => [label, {
    cpu: (after[label].ticks - before[label].ticks) / CLK_TCK / elapsed,
    rss: after[label].rss,
    rssPerSession: rssBefore[label] === undefined ? undefined : (after[label].rss - rssBefore[label]) / Math.max(opened, 1),
    threads: after[label].threads,
  }]));
  return {
    n, opened, failures, rampSeconds, seconds: elapsed,
    droppedDuringSteady: drops.length - dropsBefore, drops,
    latency: {
      count: latencies.length,
      p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99),
      max: latencies.length ? latencies[latencies.length - 1] : NaN,
    },
    keysTimed: result.sessions.reduce((a, s) => a + s.keys_timed, 0),
    echoesMissing: result.sessions.reduce((a, s) => a + s.echoes_missing, 0),
    outOfOrder: result.sessions.reduce((a, s) => a + s.out_of_order, 0),
    sessions: result.sessions,
    processes,
    machineBusy: (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total),
  };
}

/**
 * Each session's bytes against its recording: the recording must begin with exactly what
 * the session received (it may hold a little more: output the proxy recorded while the
 * session was closing). `recordings` is [{ id, bytes }]; a recording is matched to its
 * session by the tag the session typed first (`T{id}!`, echoed at the start).
 */
export function compareRecordings(sessions, recordings) {
  const byTag = new Map();
  for (const rec of recordings) {
    const tag = rec.bytes.subarray(0, 4096).toString('latin1').match(/T(\d+)!/);
    if (tag) byTag.set(Number(tag[1]), rec);
  }
  const sha = (b) => createHash('sha256').update(b).digest('hex');
  const verdict = { missing: [], short: [], differ: [], whole: 0, extraBytes: 0 };
  for (const s of sessions) {
    const rec = byTag.get(s.id);
    if (!rec) verdict.missing.push(s.id);
    else if (rec.bytes.length < s.received) verdict.short.push(`${s.id} (${rec.bytes.length} of ${s.received} bytes)`);
    else if (sha(rec.bytes.subarray(0, s.received)) !== s.sha256) verdict.differ.push(s.id);
    else { verdict.whole += 1; verdict.extraBytes += rec.bytes.length - s.received; }
  }
  return verdict;
}
