// The certificates Gatehouse issues, tried as an attacker would against real OpenSSH
// sshds with the real ssh client: a certificate is one decision (one login on one node,
// about a minute, from the proxy's address, no forwarding), nodes enforce that with the
// lines `gatehouse nodes add` prints, `gatehouse nodes check` proves it, and a
// recorded-mode certificate opens no node at all.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, startNode, startProxy } from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const CONFIG = `
[roles.ops]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
ssh_mode = "direct"

[roles.deploy]
node_labels = { env = "demo" }
logins = ["deploy"]
ssh_mode = "direct"

[roles.recorded]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
`;

let proxy;
let node;
let other;
let work;
let legacy;

before(async () => {
  proxy = await startProxy(CONFIG);
  node = await startNode(proxy);
  other = await startNode(proxy, 'other', 'env=demo');
  work = fs.mkdtempSync(path.join(proxy.dir, 'client-'));
});

after(async () => {
  legacy?.kill('SIGTERM');
  await node?.stop();
  await other?.stop();
  await proxy?.stop();
});

const caFile = (name) => path.join(proxy.dir, 'data', 'ca', `${name}.pub`);
const fingerprint = (file) => execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' }).split(' ')[1];

/** known_hosts that trusts only host certificates from the Gatehouse host CA. */
function knownHosts() {
  const file = path.join(work, 'known_hosts');
  fs.writeFileSync(file, `@cert-authority * ${fs.readFileSync(caFile('host_ca'), 'utf8').trim()}\n`);
  return file;
}

/** Straight to a node's sshd, not through the proxy, as a thief with a copy would. */
function sshStraight(who, target, login, { from, command = 'echo "in as $(id -un)"' } = {}) {
  return spawnSync('ssh', [
    '-F', 'none', '-i', who.key, '-o', `CertificateFile=${who.key}-cert.pub`, '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${knownHosts()}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=10', ...(from ? ['-b', from] : []), '-p', String(target.port), `${login}@127.0.0.1`, command,
  ], { encoding: 'utf8', timeout: 20_000 });
}

/** ssh-keygen's reading of a certificate. */
function listing(who) {
  return execFileSync('ssh-keygen', ['-L', '-f', `${who.key}-cert.pub`], { encoding: 'utf8' });
}

describe('a certificate is one decision', () => {
  test('one principal, LOGIN@node, about a minute, from the proxy only, a pty and nothing else', async () => {
    const kate = await proxy.certifiedKey('kate', ['ops'], work, { node: 'demo', login: LOGIN });
    const text = listing(kate);
    assert.match(text, /Type: ssh-ed25519-cert-v01@openssh.com user certificate/);
    assert.match(text, /Key ID: "gatehouse:kate"/);
    assert.ok(text.includes(`Signing CA: ED25519 ${fingerprint(caFile('user_ca'))}`), text);
    assert.match(text, new RegExp(`Principals: \\n\\s+${LOGIN}@demo\\n\\s+Critical Options: \\n\\s+source-address 127\\.0\\.0\\.1\\n\\s+Extensions: \\n\\s+permit-pty\\n`));
    const [, from, to] = text.match(/Valid: from (\S+) to (\S+)/);
    const span = (Date.parse(`${to}Z`) - Date.parse(`${from}Z`)) / 1000;
    assert.ok(span <= 120, `valid for at most two minutes (${span} s)`);
    assert.ok(Date.parse(`${to}Z`) - Date.now() <= 61_000, 'and for at most a minute from now');
    // From the proxy's own address, the node admits it: the one thing it is for.
    const ok = sshStraight(kate, node, LOGIN);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), `in as ${LOGIN}`);
    assert.match(node.logText(), new RegExp(`Accepted publickey for ${LOGIN} from 127\\.0\\.0\\.1 .*ID gatehouse:kate`));
  });

  test('the node refuses it for any other login, and the proxy will not sign one it was not asked for', async () => {
    // Allowed `deploy` on demo; tries to be the node's admin login with it.
    const dora = await proxy.certifiedKey('dora', ['deploy'], work, { node: 'demo', login: 'deploy' });
    assert.match(listing(dora), /Principals: \n\s+deploy@demo\n/);
    const asAdmin = sshStraight(dora, node, LOGIN);
    assert.notEqual(asAdmin.status, 0);
    assert.match(asAdmin.stderr, /Permission denied/);
    assert.match(node.logText(), /Certificate does not contain an authorized principal/);
    const refused = await proxy.certify(dora, 'demo', LOGIN);
    assert.equal(refused.status, 403);
    assert.equal(refused.json.message, 'You may not log in to demo as ' + LOGIN + '; your roles allow: deploy.');
    assert.match(fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8'), /"kind":"ssh.cert_denied","user":"dora"/);
  });

  test('every other node refuses it', async () => {
    const kim = await proxy.certifiedKey('kim', ['ops'], work, { node: 'demo', login: LOGIN });
    const elsewhere = sshStraight(kim, other, LOGIN);
    assert.notEqual(elsewhere.status, 0, 'a certificate for demo does not open other');
    assert.match(elsewhere.stderr, /Permission denied/);
    await proxy.certify(kim, 'other', LOGIN);
    const there = sshStraight(kim, other, LOGIN);
    assert.equal(there.status, 0, `the same key certified for other opens other: ${there.stderr}`);
  });

  test('a copy used from any address but the proxy is refused', async () => {
    const kai = await proxy.certifiedKey('kai', ['ops'], work, { node: 'demo', login: LOGIN });
    const stolen = sshStraight(kai, node, LOGIN, { from: '127.0.0.2' });
    assert.notEqual(stolen.status, 0);
    assert.match(stolen.stderr, /Permission denied/);
    assert.match(node.logText(), /valid certificate but not from a permitted source address \(127\.0\.0\.2\)/);
    assert.equal(sshStraight(kai, node, LOGIN).status, 0, 'the same certificate from the proxy address works');
  });

  test('a recorded-mode certificate is from a CA no node trusts, so a copy opens nothing', async () => {
    const rex = await proxy.certifiedKey('rex', ['recorded'], work, { node: 'demo', login: LOGIN });
    const text = listing(rex);
    assert.ok(text.includes(`Signing CA: ED25519 ${fingerprint(caFile('session_ca'))}`), text);
    assert.notEqual(fingerprint(caFile('session_ca')), fingerprint(caFile('user_ca')));
    const straight = sshStraight(rex, node, LOGIN);
    assert.notEqual(straight.status, 0);
    assert.match(straight.stderr, /Permission denied/);
  });

  test('certificates are refused without a session, a CSRF token, a good key, or a node and login the roles allow', async () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test';
    const body = JSON.stringify({ public_key: key, node: 'demo', login: LOGIN });
    const json = { 'content-type': 'application/json' };
    const none = await proxy.request('POST', '/api/v1/ssh/certificate', { headers: { ...json, 'x-csrf-token': 'x' }, body });
    assert.equal(none.status, 401);
    const ivan = await proxy.enrolAndSignIn('ivan', ['ops']);
    const noCsrf = await proxy.request('POST', '/api/v1/ssh/certificate', { headers: { ...json, cookie: ivan.cookie, 'x-csrf-token': 'wrong' }, body });
    assert.equal(noCsrf.status, 403);
    const headers = { ...json, cookie: ivan.cookie, 'x-csrf-token': ivan.csrf };
    const post = (payload) => proxy.request('POST', '/api/v1/ssh/certificate', { headers, body: JSON.stringify(payload) });
    const garbage = await post({ public_key: 'ssh-ed25519 !!!', node: 'demo', login: LOGIN });
    assert.equal(garbage.status, 400);
    assert.equal(garbage.json.code, 'bad_key');
    const rsaDir = fs.mkdtempSync(path.join(proxy.dir, 'rsa-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', path.join(rsaDir, 'id_rsa')]);
    const rsa = await post({ public_key: fs.readFileSync(path.join(rsaDir, 'id_rsa.pub'), 'utf8'), node: 'demo', login: LOGIN });
    assert.equal(rsa.status, 400);
    assert.match(rsa.json.message, /Only Ed25519/);
    const nowhere = await post({ public_key: key, node: 'nowhere', login: LOGIN });
    assert.equal(nowhere.status, 404);
    const nobody = await proxy.enrolAndSignIn('judy', ['undefined-role']);
    const denied = await proxy.request('POST', '/api/v1/ssh/certificate', {
      headers: { ...json, cookie: nobody.cookie, 'x-csrf-token': nobody.csrf }, body,
    });
    assert.equal(denied.status, 403);
    assert.equal(denied.json.code, 'denied');
    assert.match(denied.json.message, /Your roles do not give you access to demo/);
  });
});

describe('gatehouse nodes check', () => {
  test('passes on a node set up as nodes add says', () => {
    const result = proxy.run(['nodes', 'check', 'demo', '--login', LOGIN]);
    assert.equal(result.status, 0, result.out + result.err);
    assert.equal((result.out.match(/^ok /gm) ?? []).length, 6, result.out);
    assert.match(result.out, /demo enforces Gatehouse's certificates/);
  });

  test('fails on a node without the principals line, and says what to add', async () => {
    // An sshd set up the old way: it trusts the user CA but maps no login to LOGIN@NAME.
    const dir = path.join(proxy.dir, 'node-legacy');
    fs.mkdirSync(dir);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
    const port = await freePort();
    proxy.cli('nodes', 'add', 'legacy', '--addr', `127.0.0.1:${port}`, '--labels', 'env=demo', '--host-key', path.join(dir, 'host_key.pub'));
    fs.writeFileSync(path.join(dir, 'user_ca.pub'), proxy.cli('ca', 'user'));
    fs.writeFileSync(path.join(dir, 'sshd_config'), [
      `ListenAddress 127.0.0.1:${port}`, `HostKey ${dir}/host_key`, `HostCertificate ${dir}/host_key-cert.pub`,
      `TrustedUserCAKeys ${dir}/user_ca.pub`, 'AuthorizedKeysFile none', 'PasswordAuthentication no',
      'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', `AllowUsers ${LOGIN}`, `PidFile ${dir}/sshd.pid`, '',
    ].join('\n'));
    const log = fs.openSync(path.join(dir, 'sshd.log'), 'a');
    legacy = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', log, log] });
    for (let i = 0; i < 100 && !/Server listening/.test(fs.readFileSync(path.join(dir, 'sshd.log'), 'utf8')); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const result = proxy.run(['nodes', 'check', 'legacy', '--login', LOGIN]);
    assert.notEqual(result.status, 0);
    assert.match(result.out, /FAIL  a certificate for \S+@legacy from this proxy's address is accepted: .*AuthorizedPrincipalsCommand \/bin\/echo %u@legacy/);
    assert.match(result.err, /legacy does not enforce Gatehouse's certificates/);
  });

  test('nodes add prints the lines that make a plain sshd enforce the binding', () => {
    const text = fs.readFileSync(path.join(node.dir, 'nodes-add.txt'), 'utf8');
    assert.match(text, /TrustedUserCAKeys \/etc\/ssh\/gatehouse_user_ca\.pub/);
    assert.match(text, /AuthorizedPrincipalsCommand \/bin\/echo %u@demo/);
    assert.match(text, /AuthorizedPrincipalsCommandUser nobody/);
    assert.match(text, /gatehouse nodes check demo/);
  });
});
