// The SSH WebSocket: the real OpenSSH client, carried over the proxy's WebSocket as the
// browser's SSH is, reaches a real sshd in direct mode (bytes relayed) and in recorded
// mode (the proxy's own SSH server bridges to the node and records), checking every host
// certificate against the host CA. Every refusal arrives as a close code with a reason
// the tab can show, and the proxy keeps serving.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startNode, startProxy } from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const BRIDGE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'ws-stdio.mjs');
const CONFIG = `
[roles.direct]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
ssh_mode = "direct"

[roles.recorded]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]

[roles.forwarder]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
ssh_mode = "direct"
port_forwarding = true
agent_forwarding = true
`;

let proxy;
let node;
let work;
let direct;

before(async () => {
  proxy = await startProxy(CONFIG);
  node = await startNode(proxy);
  work = fs.mkdtempSync(path.join(proxy.dir, 'relay-'));
  direct = await certified('nina', ['direct']);
});

after(async () => {
  await node?.stop();
  await proxy?.stop();
  // Its recordings include one of 2 GiB (the both-ways test).
  if (proxy) fs.rmSync(proxy.dir, { recursive: true, force: true });
});

const certified = (name, roles) => proxy.certifiedKey(name, roles, work);

/**
 * The real ssh client through the proxy's SSH WebSocket, as the browser connects: a
 * certificate for this node and login first (certificates last a minute), then the
 * socket. With `certify: false` the key's current certificate is used as it is.
 */
async function sshViaProxy(who, {
  nodeName = 'demo', login = LOGIN, origin = proxy.url, cookie = who.cookie,
  command = 'echo "through the proxy as $(id -un)"', tty = false, key = who.key, input, certify = true, args = [], env,
  spawnAsync = false,
} = {}) {
  if (certify) await proxy.certify({ ...who, key }, nodeName, login);
  const known = path.join(work, 'known_hosts');
  fs.writeFileSync(known, `@cert-authority * ${fs.readFileSync(path.join(proxy.dir, 'data', 'ca', 'host_ca.pub'), 'utf8').trim()}\n`);
  const url = `wss://localhost:${proxy.port}/api/v1/nodes/${nodeName}/ssh?login=${encodeURIComponent(login)}`;
  const ca = path.join(proxy.dir, 'data', 'tls', 'cert.pem');
  const proxyCommand = [process.execPath, BRIDGE, url, `'${cookie}'`, ca, origin].join(' ');
  const argv = [
    '-F', 'none', '-i', key, '-o', `CertificateFile=${key}-cert.pub`, '-o', 'IdentitiesOnly=yes',
    '-o', `ProxyCommand=${proxyCommand}`, '-o', `UserKnownHostsFile=${known}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=15', ...(tty ? ['-tt'] : []), ...args, `${login}@${nodeName}`,
    ...(command === null ? [] : [command]),
  ];
  if (spawnAsync) return spawn('ssh', argv, { env: env ?? process.env });
  return spawnSync('ssh', argv, {
    encoding: tty || input ? 'buffer' : 'utf8', timeout: 60_000, maxBuffer: 256 * 1024 * 1024, input, env: env ?? process.env,
  });
}

/** The recordings the proxy lists, newest first. */
function recordings() {
  return proxy.cli('recordings', 'list').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

/** `gatehouse recordings cat`: the output bytes, and what it says on stderr. */
function catRecording(id) {
  const result = spawnSync(process.env.GATEHOUSE_BIN, ['--config', proxy.config, 'recordings', 'cat', id], { maxBuffer: 256 * 1024 * 1024 });
  assert.equal(result.status, 0, String(result.stderr));
  return { bytes: result.stdout, note: String(result.stderr) };
}

async function waitForAudit(pattern) {
  const file = path.join(proxy.dir, 'data', 'audit.jsonl');
  for (let i = 0; i < 50 && !pattern.test(fs.readFileSync(file, 'utf8')); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(fs.readFileSync(file, 'utf8'), pattern);
}

async function assertStillServing() {
  assert.equal((await proxy.request('GET', '/api/v1/health')).status, 200);
}

describe('the SSH WebSocket', () => {
  test('direct mode relays SSH end to end to the node', async () => {
    const result = await sshViaProxy(direct);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), `through the proxy as ${LOGIN}`);
    const audit = fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');
    assert.match(audit, new RegExp(`"kind":"ssh.start","user":"nina".*node demo as ${LOGIN}, direct`));
    await new Promise((r) => setTimeout(r, 200));
    assert.match(fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8'), /"kind":"ssh.end","user":"nina".*bytes up/);
  });

  test('a login the roles do not allow is refused with the allowed ones named', async () => {
    const result = await sshViaProxy(direct, { login: 'postgres' });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, new RegExp(`closed 4403: You may not log in to demo as postgres; your roles allow: ${LOGIN}\\.`));
    await assertStillServing();
  });

  test('an unknown node and a missing session are refused clearly', async () => {
    assert.match((await sshViaProxy(direct, { nodeName: 'nowhere' })).stderr, /closed 4404: There is no node named nowhere\./);
    const noSession = await sshViaProxy(direct, { cookie: '__Host-gatehouse_session=' + 'A'.repeat(43) });
    assert.match(noSession.stderr, /closed 4401: You are not signed in/);
    await assertStillServing();
  });

  test('a page from another origin cannot open the socket', async () => {
    const result = await sshViaProxy(direct, { origin: 'https://evil.example' });
    assert.match(result.stderr, /refused with HTTP 403/);
  });

  test('recorded mode bridges to the node, and the recording holds exactly the bytes it sent', async () => {
    const omar = await certified('omar', ['recorded']);
    // Colours, a long run of lines, and an exit status, through a pty.
    const command = 'printf "\\033[1;31mred\\033[0m caf\\303\\251\\n"; seq 1 20000; exit 7';
    const result = await sshViaProxy(omar, { command, tty: true });
    assert.equal(result.status, 7, String(result.stderr));
    const seen = result.stdout;
    assert.match(seen.toString('utf8'), /\x1b\[1;31mred\x1b\[0m café\r\n1\r\n2\r\n/);
    assert.match(seen.toString('utf8'), /\r\n20000\r\n/);
    await waitForAudit(/"kind":"ssh.end","user":"omar".*recorded; recording [0-9a-f]{32};.*exit status 7/);
    const [row] = recordings();
    assert.equal(row.user, 'omar');
    assert.equal(row.target, 'demo');
    assert.equal(row.login, LOGIN);
    assert.match(row.end_reason, /exit \(exit status 7\)/);
    const { bytes, note } = catRecording(row.id);
    assert.ok(bytes.equals(seen), `the recording (${bytes.length} bytes) is what the client received (${seen.length} bytes)`);
    assert.match(note, /ended: exit/);
    const file = path.join(proxy.dir, 'data', 'recordings', row.file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'recordings are private to the proxy');
    // The node saw the proxy's one-minute certificate, not the browser's.
    assert.match(node.logText(), /ID gatehouse:omar:recorded/);
  });

  test('recorded mode carries a large output intact, in order', async () => {
    const omar = await certified('omar2', ['recorded']);
    const result = await sshViaProxy(omar, { command: 'head -c 12000000 /dev/urandom | base64 -w 100', tty: true });
    assert.equal(result.status, 0, String(result.stderr));
    assert.ok(result.stdout.length > 16_000_000, `${result.stdout.length} bytes arrived`);
    await waitForAudit(/"kind":"ssh.end","user":"omar2"/);
    const row = recordings().find((r) => r.user === 'omar2');
    const sha = (b) => createHash('sha256').update(b).digest('hex');
    assert.equal(sha(catRecording(row.id).bytes), sha(result.stdout));
  });

  test('recorded mode carries both directions at full speed at once (input echoed by cat)', async () => {
    // Everything between the browser and the node must keep reading one direction while
    // it waits to write the other: before the WebSocket pump ran its directions side by
    // side, this stalled at 8 MB each way (it passed at 4).
    const olga = await certified('olga', ['recorded']);
    const input = (await import('node:crypto')).randomBytes(24 * 1024 * 1024);
    const result = await sshViaProxy(olga, { command: 'cat', input });
    assert.equal(result.status, 0, String(result.stderr));
    const sha = (b) => createHash('sha256').update(b).digest('hex');
    assert.equal(result.stdout.length, input.length);
    assert.equal(sha(result.stdout), sha(input));
  });

  test('recorded mode carries 1 GiB each way at once, both ends hashing what they got', { timeout: 900_000 }, async () => {
    // russh used to grant a peer window as data arrived, before the bridge took it: with
    // both directions at full speed the proxy's two SSH sessions ended up waiting on each
    // other for good, past about 128 MB. The patched russh grants as the bridge reads.
    // The node hashes its input while it sends a file; the client hashes the output.
    const size = 1024 * 1024 * 1024;
    const dir = fs.mkdtempSync(path.join(work, 'both-ways-'));
    const up = path.join(dir, 'up.bin');
    const down = path.join(dir, 'down.bin');
    for (const file of [up, down]) {
      const made = spawnSync('head', ['-c', String(size), '/dev/urandom'], { stdio: ['ignore', fs.openSync(file, 'w'), 'inherit'] });
      assert.equal(made.status, 0);
    }
    const fileSha = async (file) => {
      const hash = createHash('sha256');
      for await (const chunk of fs.createReadStream(file)) hash.update(chunk);
      return hash.digest('hex');
    };
    const [upSha, downSha] = [await fileSha(up), await fileSha(down)];
    const received = path.join(dir, 'received.sha256');
    const ula = await certified('ula', ['recorded']);
    // Fd 3 keeps the session's input for the background job (a non-interactive shell
    // gives background jobs /dev/null otherwise).
    const command = `exec 3<&0; sha256sum <&3 > ${received} & cat ${down}; wait`;
    const ssh = await sshViaProxy(ula, { command, spawnAsync: true });
    const hash = createHash('sha256');
    let [sent, got, last, lastMoved] = [0, 0, -1, Date.now()];
    ssh.stdout.on('data', (chunk) => { hash.update(chunk); got += chunk.length; });
    const input = fs.createReadStream(up);
    input.on('data', (chunk) => { sent += chunk.length; });
    input.pipe(ssh.stdin);
    // Killed on a stall, ssh stops reading: the assertion below says what moved.
    ssh.stdin.on('error', () => {});
    let stderr = '';
    ssh.stderr.on('data', (chunk) => { stderr += chunk; });
    const exited = new Promise((resolve) => ssh.on('close', resolve));
    // A stall shows as no byte moving either way for 60 s, not as the test's timeout.
    const watch = setInterval(() => {
      if (sent + got !== last) [last, lastMoved] = [sent + got, Date.now()];
      else if (Date.now() - lastMoved > 60_000) {
        stderr += 'nothing moved either way for 60 s';
        ssh.kill();
      }
    }, 1000);
    const status = await exited;
    clearInterval(watch);
    const mib = (n) => (n / 1048576).toFixed(0);
    assert.equal(status, 0, `ssh ended (${status}) with ${mib(sent)} MiB sent and ${mib(got)} MiB received: ${stderr}`);
    assert.equal(got, size, `${mib(got)} MiB of 1024 received`);
    assert.equal(hash.digest('hex'), downSha, 'what the client received is the file the node sent');
    assert.equal(fs.readFileSync(received, 'utf8').split(' ')[0], upSha, 'what the node received is the file the client sent');
    fs.rmSync(dir, { recursive: true, force: true });
    await assertStillServing();
  });

  test("recorded mode refuses another user's certificate on this user's session", async () => {
    const victor = await certified('victor', ['recorded']);
    await proxy.certify(victor, 'demo', LOGIN);
    const mallory = await certified('mallory', ['recorded']);
    // Mallory's web session opens the socket; Victor's certificate tries to sign in.
    const result = await sshViaProxy(mallory, { key: victor.key, certify: false });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /Permission denied/);
    await waitForAudit(/"kind":"ssh.denied","user":"mallory".*issued to gatehouse:victor, not to the signed-in user/);
    assert.doesNotMatch(node.logText(), /gatehouse:(victor|mallory)/, 'the proxy never signed in to the node');
    await assertStillServing();
  });

  test('a dead node is a clear error in both modes and the proxy keeps serving', async () => {
    await node.stop();
    const result = await sshViaProxy(direct);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /closed 4502: Cannot reach demo \(127\.0\.0\.1:\d+\): Connection refused/);
    const recorded = await sshViaProxy(await certified('rita', ['recorded']));
    assert.match(recorded.stderr, /closed 4502: Cannot reach demo \(127\.0\.0\.1:\d+\): Connection refused/);
    await assertStillServing();
    // The node comes back (on a new port) for the stories below.
    node = await startNode(proxy);
  });
});

/** Whether `ssh -L` through the socket reaches the node: the forwarded port answers with sshd's banner. */
async function localForwardWorks(who) {
  const port = await (await import('../lib/harness.mjs')).freePort();
  const ssh = await sshViaProxy(who, {
    args: ['-L', `${port}:127.0.0.1:${node.port}`, '-o', 'ExitOnForwardFailure=yes'], command: 'sleep 8', spawnAsync: true,
  });
  let stderr = '';
  ssh.stderr.on('data', (d) => { stderr += d; });
  try {
    // Wait until the local end listens, then read what comes back through it.
    for (let i = 0; i < 100; i++) {
      const up = await new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
      });
      if (up) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const banner = await new Promise((resolve) => {
      let got = '';
      const s = net.connect(port, '127.0.0.1');
      s.on('data', (d) => { got += d; if (got.includes('\n')) { s.destroy(); resolve(got); } });
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      setTimeout(() => { s.destroy(); resolve(got); }, 3000);
    });
    await new Promise((r) => setTimeout(r, 300));
    return { works: banner.startsWith('SSH-2.0-'), stderr };
  } finally {
    ssh.kill('SIGTERM');
  }
}

/** A running ssh-agent holding one key; its socket for SSH_AUTH_SOCK. */
function startAgent() {
  const sock = path.join(work, `agent-${Math.random().toString(36).slice(2)}.sock`);
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  return { sock, stop: () => agent.kill('SIGTERM') };
}

describe('no forwarding unless a role grants it', () => {
  test('direct mode: -W, -L, -R and -A all fail at the real sshd, and work only with a role that grants them', async () => {
    const fern = await certified('fern', ['direct']);
    const stdio = await sshViaProxy(fern, { args: ['-W', `127.0.0.1:${node.port}`], command: null, input: '' });
    assert.notEqual(stdio.status, 0);
    assert.doesNotMatch(stdio.stdout.toString(), /SSH-2\.0-/);
    assert.match(stdio.stderr.toString(), /administratively prohibited|stdio forwarding failed/);
    const local = await localForwardWorks(fern);
    assert.equal(local.works, false, 'nothing came back through -L');
    assert.match(local.stderr, /administratively prohibited/);
    const remote = await sshViaProxy(fern, { args: ['-N', '-R', '0:127.0.0.1:22', '-o', 'ExitOnForwardFailure=yes'], command: null });
    assert.notEqual(remote.status, 0);
    assert.match(remote.stderr, /remote port forwarding failed/);
    const agent = startAgent();
    try {
      const env = { ...process.env, SSH_AUTH_SOCK: agent.sock };
      await new Promise((r) => setTimeout(r, 300));
      const forwarded = await sshViaProxy(fern, { args: ['-A'], command: 'echo "agent=[$SSH_AUTH_SOCK]"', env });
      assert.equal(forwarded.status, 0, forwarded.stderr);
      assert.equal(forwarded.stdout.trim(), 'agent=[]', 'no agent reached the node');
      // The control: a role that grants forwarding gets it, so the refusals above are the certificate's.
      const finn = await certified('finn', ['forwarder']);
      const granted = await sshViaProxy(finn, { args: ['-W', `127.0.0.1:${node.port}`], command: null, input: '' });
      assert.match(granted.stdout.toString(), /^SSH-2\.0-OpenSSH/);
      const withAgent = await sshViaProxy(finn, { args: ['-A'], command: 'echo "agent=[$SSH_AUTH_SOCK]"', env });
      assert.match(withAgent.stdout.trim(), /^agent=\[\/tmp\/ssh-/);
    } finally {
      agent.stop();
    }
  });

  test('recorded mode: the bridge refuses -W, -L, -R and -A, and audits each', async () => {
    const rory = await certified('rory', ['recorded']);
    const stdio = await sshViaProxy(rory, { args: ['-W', `127.0.0.1:${node.port}`], command: null, input: '' });
    assert.notEqual(stdio.status, 0);
    assert.match(stdio.stderr.toString(), /administratively prohibited|stdio forwarding failed/);
    await waitForAudit(/"kind":"ssh.denied","user":"rory".*a forwarded connection to 127\.0\.0\.1:\d+ in a recorded session/);
    const local = await localForwardWorks(rory);
    assert.equal(local.works, false);
    const remote = await sshViaProxy(rory, { args: ['-N', '-R', '0:127.0.0.1:22', '-o', 'ExitOnForwardFailure=yes'], command: null });
    assert.notEqual(remote.status, 0);
    assert.match(remote.stderr, /remote port forwarding failed/);
    await waitForAudit(/"kind":"ssh.denied","user":"rory".*remote forwarding of 127\.0\.0\.1:0|"kind":"ssh.denied","user":"rory".*remote forwarding of .*:0/);
    const agent = startAgent();
    try {
      await new Promise((r) => setTimeout(r, 300));
      const env = { ...process.env, SSH_AUTH_SOCK: agent.sock };
      const forwarded = await sshViaProxy(rory, { args: ['-A'], command: 'echo "agent=[$SSH_AUTH_SOCK]"', env });
      assert.equal(forwarded.stdout.trim(), 'agent=[]');
      await waitForAudit(/"kind":"ssh.denied","user":"rory".*agent forwarding in a recorded session/);
    } finally {
      agent.stop();
    }
  });
});

describe('what a recorded session leaves in its recording', () => {
  test('a program fed commands without a pty: the recording has the commands, not only the output', async () => {
    const nia = await certified('nia', ['recorded']);
    const result = await sshViaProxy(nia, { command: 'bash', input: Buffer.from('echo secret-work-$((6*7))\nexit 3\n') });
    assert.equal(result.status, 3, String(result.stderr));
    assert.equal(result.stdout.toString().trim(), 'secret-work-42');
    await waitForAudit(/"kind":"ssh.end","user":"nia"/);
    const row = recordings().find((r) => r.user === 'nia');
    const typed = spawnSync(process.env.GATEHOUSE_BIN, ['--config', proxy.config, 'recordings', 'cat', row.id, '--input']);
    assert.equal(typed.stdout.toString(), 'echo secret-work-$((6*7))\nexit 3\n');
    assert.equal(catRecording(row.id).bytes.toString(), 'secret-work-42\n');
    const cast = proxy.cli('recordings', 'export', row.id);
    assert.match(cast, /"i","echo secret-work-\$\(\(6\*7\)\)\\nexit 3\\n"\]/, 'asciicast carries it as input');
  });

  test('an SFTP server run as a command, or asked for as a subsystem, is refused with a sentence and audited', async () => {
    const sam = await certified('sam', ['recorded']);
    const exec = await sshViaProxy(sam, { command: '/usr/lib/openssh/sftp-server', input: Buffer.alloc(0) });
    assert.notEqual(exec.status, 0);
    assert.match(exec.stderr.toString(), /Gatehouse refused to run an SFTP server in this recorded session/);
    await waitForAudit(/"kind":"ssh.denied","user":"sam".*an SFTP server \(\\"\/usr\/lib\/openssh\/sftp-server\\"\)/);
    const subsystem = await sshViaProxy(sam, { args: ['-s'], command: 'sftp', input: Buffer.alloc(0) });
    assert.notEqual(subsystem.status, 0);
    await waitForAudit(/"kind":"ssh.denied","user":"sam".*the subsystem \\"sftp\\" in a recorded session/);
    assert.ok(!recordings().some((r) => r.user === 'sam'), 'nothing ran, so nothing was recorded');
    await assertStillServing();
  });
});
