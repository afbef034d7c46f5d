// The SSH WebSocket: the real OpenSSH client, carried over the proxy's WebSocket as the
// browser's SSH is, reaches a real sshd in direct mode (bytes relayed) and in recorded
// mode (the proxy's own SSH server bridges to the node and records), checking every host
// certificate against the host CA. Every refusal arrives as a close code with a reason
// the tab can show, and the proxy keeps serving.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
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
});

const certified = (name, roles) => proxy.certifiedKey(name, roles, work);

function sshViaProxy(who, {
  nodeName = 'demo', login = LOGIN, origin = proxy.url, cookie = who.cookie,
  command = 'echo "through the proxy as $(id -un)"', tty = false, key = who.key, input,
} = {}) {
  const known = path.join(work, 'known_hosts');
  fs.writeFileSync(known, `@cert-authority * ${fs.readFileSync(path.join(proxy.dir, 'data', 'ca', 'host_ca.pub'), 'utf8').trim()}\n`);
  const url = `wss://localhost:${proxy.port}/api/v1/nodes/${nodeName}/ssh?login=${encodeURIComponent(login)}`;
  const ca = path.join(proxy.dir, 'data', 'tls', 'cert.pem');
  const proxyCommand = [process.execPath, BRIDGE, url, `'${cookie}'`, ca, origin].join(' ');
  return spawnSync('ssh', [
    '-F', 'none', '-i', key, '-o', `CertificateFile=${key}-cert.pub`, '-o', 'IdentitiesOnly=yes',
    '-o', `ProxyCommand=${proxyCommand}`, '-o', `UserKnownHostsFile=${known}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=15', ...(tty ? ['-tt'] : []), `${login}@${nodeName}`, command,
  ], { encoding: tty || input ? 'buffer' : 'utf8', timeout: 60_000, maxBuffer: 256 * 1024 * 1024, input });
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
    const result = sshViaProxy(direct);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), `through the proxy as ${LOGIN}`);
    const audit = fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');
    assert.match(audit, new RegExp(`"kind":"ssh.start","user":"nina".*node demo as ${LOGIN}, direct`));
    await new Promise((r) => setTimeout(r, 200));
    assert.match(fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8'), /"kind":"ssh.end","user":"nina".*bytes up/);
  });

  test('a login the roles do not allow is refused with the allowed ones named', async () => {
    const result = sshViaProxy(direct, { login: 'postgres' });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, new RegExp(`closed 4403: You may not log in to demo as postgres; your roles allow: ${LOGIN}\\.`));
    await assertStillServing();
  });

  test('an unknown node and a missing session are refused clearly', async () => {
    assert.match(sshViaProxy(direct, { nodeName: 'nowhere' }).stderr, /closed 4404: There is no node named nowhere\./);
    const noSession = sshViaProxy(direct, { cookie: '__Host-gatehouse_session=' + 'A'.repeat(43) });
    assert.match(noSession.stderr, /closed 4401: You are not signed in/);
    await assertStillServing();
  });

  test('a page from another origin cannot open the socket', async () => {
    const result = sshViaProxy(direct, { origin: 'https://evil.example' });
    assert.match(result.stderr, /refused with HTTP 403/);
  });

  test('recorded mode bridges to the node, and the recording holds exactly the bytes it sent', async () => {
    const omar = await certified('omar', ['recorded']);
    // Colours, a long run of lines, and an exit status, through a pty.
    const command = 'printf "\\033[1;31mred\\033[0m caf\\303\\251\\n"; seq 1 20000; exit 7';
    const result = sshViaProxy(omar, { command, tty: true });
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
    const result = sshViaProxy(omar, { command: 'head -c 12000000 /dev/urandom | base64 -w 100', tty: true });
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
    const result = sshViaProxy(olga, { command: 'cat', input });
    assert.equal(result.status, 0, String(result.stderr));
    const sha = (b) => createHash('sha256').update(b).digest('hex');
    assert.equal(result.stdout.length, input.length);
    assert.equal(sha(result.stdout), sha(input));
  });

  test("recorded mode refuses another user's certificate on this user's session", async () => {
    const victor = await certified('victor', ['recorded']);
    const mallory = await certified('mallory', ['recorded']);
    // Mallory's web session opens the socket; Victor's certificate tries to sign in.
    const result = sshViaProxy(mallory, { key: victor.key });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /Permission denied/);
    await waitForAudit(/"kind":"ssh.denied","user":"mallory".*issued to gatehouse:victor, not to the signed-in user/);
    assert.doesNotMatch(node.logText(), /gatehouse:(victor|mallory)/, 'the proxy never signed in to the node');
    await assertStillServing();
  });

  test('a dead node is a clear error in both modes and the proxy keeps serving', async () => {
    await node.stop();
    const result = sshViaProxy(direct);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /closed 4502: Cannot reach demo \(127\.0\.0\.1:\d+\): Connection refused/);
    const recorded = sshViaProxy(await certified('rita', ['recorded']));
    assert.match(recorded.stderr, /closed 4502: Cannot reach demo \(127\.0\.0\.1:\d+\): Connection refused/);
    await assertStillServing();
  });
});
