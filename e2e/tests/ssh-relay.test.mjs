// The SSH WebSocket: the real OpenSSH client, bridged over the proxy's WebSocket as the
// browser's SSH will be, reaches a real sshd in direct mode, checking the node's host
// certificate against the host CA. Every refusal arrives as a close code with a reason
// the tab can show, and the proxy keeps serving.

import assert from 'node:assert/strict';
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

function sshViaProxy(who, { nodeName = 'demo', login = LOGIN, origin = proxy.url, cookie = who.cookie } = {}) {
  const known = path.join(work, 'known_hosts');
  fs.writeFileSync(known, `@cert-authority * ${fs.readFileSync(path.join(proxy.dir, 'data', 'ca', 'host_ca.pub'), 'utf8').trim()}\n`);
  const url = `wss://localhost:${proxy.port}/api/v1/nodes/${nodeName}/ssh?login=${encodeURIComponent(login)}`;
  const ca = path.join(proxy.dir, 'data', 'tls', 'cert.pem');
  const proxyCommand = [process.execPath, BRIDGE, url, `'${cookie}'`, ca, origin].join(' ');
  return spawnSync('ssh', [
    '-F', 'none', '-i', who.key, '-o', `CertificateFile=${who.key}-cert.pub`, '-o', 'IdentitiesOnly=yes',
    '-o', `ProxyCommand=${proxyCommand}`, '-o', `UserKnownHostsFile=${known}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=15', `${login}@${nodeName}`, 'echo "through the proxy as $(id -un)"',
  ], { encoding: 'utf8', timeout: 30_000 });
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

  test('a role that must record is not relayed directly', async () => {
    const recorded = await certified('omar', ['recorded']);
    const result = sshViaProxy(recorded);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /closed 4501: Sessions on demo must be recorded/);
  });

  test('a dead node is a clear error and the proxy keeps serving', async () => {
    await node.stop();
    const result = sshViaProxy(direct);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /closed 4502: Cannot reach demo \(127\.0\.0\.1:\d+\): Connection refused/);
    await assertStillServing();
  });
});
