// The certificates Gatehouse issues, proven against a real OpenSSH sshd and the real
// ssh client: a certified key signs in for its logins and no others, and the node's
// host certificate checks out against the host CA (and fails against another CA, the
// same check the browser will make when it pins the host CA).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startNode, startProxy } from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const CONFIG = `
[roles.ops]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]

[roles.other]
node_labels = { env = "demo" }
logins = ["someone-else"]
`;

let proxy;
let node;
let work;

before(async () => {
  proxy = await startProxy(CONFIG);
  node = await startNode(proxy);
  work = fs.mkdtempSync(path.join(proxy.dir, 'client-'));
});

after(async () => {
  await node?.stop();
  await proxy?.stop();
});

/** A fresh key pair with a Gatehouse certificate for a user with `roles`. */
async function certifiedKey(name, roles) {
  return (await proxy.certifiedKey(name, roles, work)).key;
}

/** known_hosts that trusts only host certificates from the CA in `caPub`. */
function knownHosts(caPub) {
  const file = path.join(work, `known_hosts_${path.basename(caPub)}`);
  fs.writeFileSync(file, `@cert-authority * ${fs.readFileSync(caPub, 'utf8').trim()}\n`);
  return file;
}

function ssh(key, login, known, command = 'echo "hello from $(hostname) as $(id -un)"') {
  return spawnSync('ssh', [
    '-F', 'none', '-i', key, '-o', `CertificateFile=${key}-cert.pub`, '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${known}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=10', '-p', String(node.port), `${login}@127.0.0.1`, command,
  ], { encoding: 'utf8', timeout: 20_000 });
}

describe('certificates against real OpenSSH', () => {
  test('a certified key signs in to the node for a login its roles allow', async () => {
    const key = await certifiedKey('kate', ['ops']);
    const result = ssh(key, LOGIN, knownHosts(path.join(proxy.dir, 'data', 'ca', 'host_ca.pub')));
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), `hello from ${os.hostname()} as ${LOGIN}`);
    assert.match(node.logText(), /Accepted publickey for \S+ from 127\.0\.0\.1 .*ED25519-CERT.*ID gatehouse:kate/);
  });

  test('a login the certificate does not name is refused by sshd', async () => {
    const key = await certifiedKey('liam', ['other']);
    const result = ssh(key, LOGIN, knownHosts(path.join(proxy.dir, 'data', 'ca', 'host_ca.pub')));
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /Permission denied/);
  });

  test('a host CA that is not the pinned one fails host verification', async () => {
    const otherCa = path.join(work, 'other_host_ca');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherCa]);
    const key = await certifiedKey('mona', ['ops']);
    const result = ssh(key, LOGIN, knownHosts(`${otherCa}.pub`));
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /Host key verification failed/);
  });

  test('a key certified by another user CA is refused', async () => {
    const otherCa = path.join(work, 'other_user_ca');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherCa]);
    const key = path.join(work, 'forged_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    execFileSync('ssh-keygen', ['-q', '-s', otherCa, '-I', 'forged', '-n', LOGIN, '-V', '+1h', `${key}.pub`]);
    const result = ssh(key, LOGIN, knownHosts(path.join(proxy.dir, 'data', 'ca', 'host_ca.pub')));
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /Permission denied/);
  });
});
