// Nothing outlives the identity behind it: sign-out, the web session's expiry,
// `gatehouse users reset`, a role taken away and a lock each end every live SSH (and
// desktop) session they concern within two seconds, with the reason on the socket, in
// the recording and in the audit trail. Each trigger is tried on a real session that
// is producing output, and the time from the trigger to the socket's close is measured
// at the client.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  launchBrowser, screenshot, signedInPage, startNode, startProxy, startShadowDesktop, until,
} from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const BRIDGE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'ws-stdio.mjs');
const roles = `
[roles.recorded]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
desktop_labels = { env = "lab" }
desktop_users = ["*"]

[roles.direct]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
ssh_mode = "direct"

[roles.bystander]
node_labels = { env = "nowhere" }
logins = ["nobody"]

[limits]
ssh_sessions_per_user = 3
`;

let proxy;
let node;
let work;
/** The measured times from trigger to close, for the report. */
const measured = {};

before(async () => {
  proxy = await startProxy(roles);
  node = await startNode(proxy);
  work = fs.mkdtempSync(path.join(proxy.dir, 'end-'));
});

after(async () => {
  console.log(`trigger → socket closed (ms): ${JSON.stringify(measured)}`);
  await node?.stop();
  await proxy?.stop();
});

const audit = (p) => fs.readFileSync(path.join(p.dir, 'data', 'audit.jsonl'), 'utf8');

/**
 * A real session through the proxy's socket, printing a line every 100 ms. Resolves
 * once output flows; `closed()` resolves with { code, reason, at } when the socket
 * closes.
 */
async function liveSession(p, who, { nodeName = 'demo', tty = false } = {}) {
  const res = await p.certify(who, nodeName, LOGIN);
  assert.equal(res.status, 200, res.text);
  const closeLog = path.join(work, `close-${who.name}-${Date.now()}.jsonl`);
  const url = `wss://localhost:${p.port}/api/v1/nodes/${nodeName}/ssh?login=${LOGIN}`;
  const known = path.join(work, 'known_hosts');
  fs.writeFileSync(known, `@cert-authority * ${fs.readFileSync(path.join(p.dir, 'data', 'ca', 'host_ca.pub'), 'utf8').trim()}\n`);
  const proxyCommand = [process.execPath, BRIDGE, url, `'${who.cookie}'`, path.join(p.dir, 'data', 'tls', 'cert.pem'), p.url].join(' ');
  const child = spawn('ssh', [
    '-F', 'none', '-i', who.key, '-o', `CertificateFile=${who.key}-cert.pub`, '-o', 'IdentitiesOnly=yes',
    '-o', `ProxyCommand=${proxyCommand}`, '-o', `UserKnownHostsFile=${known}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', ...(tty ? ['-tt'] : []), `${LOGIN}@${nodeName}`, 'while :; do echo "tick $(date +%s%N)"; sleep 0.1; done',
  ], { env: { ...process.env, WS_CLOSE_LOG: closeLog }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  await until(() => (out.match(/tick/g) ?? []).length >= 3, `output from ${who.name}'s session: ${err}`, 20_000);
  return {
    child,
    output: () => out,
    async closed(ms = 10_000) {
      await until(() => fs.existsSync(closeLog) && fs.readFileSync(closeLog, 'utf8').trim(), `${who.name}'s socket to close`, ms);
      return JSON.parse(fs.readFileSync(closeLog, 'utf8').trim().split('\n')[0]);
    },
    stop() { child.kill('SIGTERM'); },
  };
}

/** Runs `trigger`, then waits for `session`'s socket: its close, and how long it took. */
async function timeClose(what, session, trigger) {
  const start = Date.now();
  await trigger();
  const close = await session.closed();
  const ms = close.at - start;
  measured[what] = ms;
  session.stop();
  return { ...close, ms };
}

const recordingsOf = (p, user) => p.cli('recordings', 'list').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.user === user);

async function endReason(p, user) {
  return until(() => recordingsOf(p, user).find((r) => r.end_reason)?.end_reason, `${user}'s recording to end`);
}

const certified = (name, roleList) => proxy.certifiedKey(name, roleList, work);

describe('a live session ends with the identity behind it, within two seconds', () => {
  test('sign-out ends the recorded session: the reason on the socket, in the recording and in the audit', async () => {
    const amy = await certified('amy', ['recorded']);
    const session = await liveSession(proxy, amy);
    const close = await timeClose('sign-out (recorded)', session, () =>
      proxy.request('DELETE', '/api/v1/session', { headers: { cookie: amy.cookie, 'x-csrf-token': amy.csrf } }));
    assert.equal(close.code, 4410);
    assert.equal(close.reason, 'You signed out, and the session ended with your sign-in.');
    assert.ok(close.ms < 2000, `closed ${close.ms} ms after sign-out`);
    assert.equal(await endReason(proxy, 'amy'), 'You signed out, and the session ended with your sign-in.');
    const [row] = recordingsOf(proxy, 'amy');
    const cat = spawnSync(process.env.GATEHOUSE_BIN, ['--config', proxy.config, 'recordings', 'cat', row.id]);
    assert.match(cat.stdout.toString(), /tick \d+/, 'the output before the end is in the recording');
    assert.match(cat.stderr.toString(), /ended: You signed out/);
    await until(() => /"kind":"ssh.terminated","user":"amy".*You signed out/.test(audit(proxy)), 'the audit record');
  });

  test('sign-out ends a direct-mode session too', async () => {
    const ann = await certified('ann', ['direct']);
    const session = await liveSession(proxy, ann);
    const close = await timeClose('sign-out (direct)', session, () =>
      proxy.request('DELETE', '/api/v1/session', { headers: { cookie: ann.cookie, 'x-csrf-token': ann.csrf } }));
    assert.equal(close.code, 4410);
    assert.ok(close.ms < 2000, `closed ${close.ms} ms after sign-out`);
  });

  test('gatehouse users reset ends it (another process, through the database)', async () => {
    const ben = await certified('ben', ['recorded']);
    const session = await liveSession(proxy, ben);
    const close = await timeClose('users reset', session, async () => proxy.cli('users', 'reset', 'ben'));
    assert.equal(close.code, 4410);
    assert.match(close.reason, /Your sign-in ended \(you signed out, or an admin reset your account\)/);
    assert.ok(close.ms < 2000, `closed ${close.ms} ms after the reset`);
    assert.match(await endReason(proxy, 'ben'), /admin reset your account/);
  });

  test('a role taken away ends the sessions it allowed, and only those', async () => {
    const cal = await certified('cal', ['recorded']);
    const other = await certified('dee', ['recorded']);
    const session = await liveSession(proxy, cal);
    const bystander = await liveSession(proxy, other);
    const close = await timeClose('role removed', session, async () => proxy.cli('users', 'set-roles', 'cal', '--roles', 'bystander'));
    assert.equal(close.code, 4410);
    assert.equal(close.reason, 'Your roles no longer allow this session on demo, so it was ended.');
    assert.ok(close.ms < 2000, `closed ${close.ms} ms after the role went`);
    const before = (bystander.output().match(/tick/g) ?? []).length;
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok((bystander.output().match(/tick/g) ?? []).length > before, "another user's session goes on");
    bystander.stop();
  });

  test('a lock on the user ends their sessions, and they cannot sign in again until it is removed', async () => {
    const eve = await certified('eve', ['recorded']);
    const session = await liveSession(proxy, eve);
    const close = await timeClose('lock user', session, async () =>
      proxy.cli('lock', 'user', 'eve', '--reason', 'laptop reported stolen', '--for', '1h'));
    assert.equal(close.code, 4410);
    assert.match(close.reason, /^An admin locked the user eve until .* UTC: laptop reported stolen\.$/);
    assert.ok(close.ms < 2000, `closed ${close.ms} ms after the lock`);
    // The right password and code, refused with the reason; the lock is listed.
    const signIn = await proxy.request('POST', '/api/v1/session', {
      headers: { 'content-type': 'application/json', 'x-csrf-token': 'x' },
      body: JSON.stringify({ username: 'eve', password: eve.password, totp_code: await eve.authenticator.nextCode() }),
    });
    assert.equal(signIn.status, 423);
    assert.equal(signIn.json.code, 'account_locked');
    assert.match(signIn.json.message, /laptop reported stolen/);
    const list = proxy.cli('lock', 'list');
    const id = list.match(/^(\d+)\s+user\s+eve\s/m)[1];
    proxy.cli('lock', 'remove', id);
    const again = await proxy.request('POST', '/api/v1/session', {
      headers: { 'content-type': 'application/json', 'x-csrf-token': 'x' },
      body: JSON.stringify({ username: 'eve', password: eve.password, totp_code: await eve.authenticator.nextCode() }),
    });
    assert.equal(again.status, 200, again.text);
  });

  test('a lock on the node ends every session there and lets nobody reach it', async () => {
    const fay = await certified('fay', ['recorded']);
    const gus = await certified('gus', ['direct']);
    const one = await liveSession(proxy, fay);
    const two = await liveSession(proxy, gus);
    const close = await timeClose('lock node', one, async () => proxy.cli('lock', 'node', 'demo', '--reason', 'kernel patching'));
    const second = await two.closed();
    two.stop();
    assert.equal(close.reason, 'An admin locked the node demo: kernel patching.');
    assert.equal(second.reason, 'An admin locked the node demo: kernel patching.');
    assert.ok(close.ms < 2000 && second.at - (close.at - close.ms) < 2000, `closed ${close.ms} ms after the lock`);
    const cert = await proxy.certify(fay, 'demo', LOGIN);
    assert.equal(cert.status, 423);
    assert.equal(cert.json.message, 'An admin locked the node demo: kernel patching.');
    const listed = await proxy.request('GET', '/api/v1/resources', { headers: { cookie: fay.cookie } });
    assert.equal(listed.json.nodes.find((n) => n.name === 'demo').locked, 'An admin locked the node demo: kernel patching');
    const id = proxy.cli('lock', 'list').match(/^(\d+)\s+node\s+demo\s/m)[1];
    proxy.cli('lock', 'remove', id);
    assert.equal((await proxy.certify(fay, 'demo', LOGIN)).status, 200);
  });

  test('a user has at most the configured number of sessions open at once', async () => {
    const hal = await certified('hal', ['recorded']);
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await liveSession(proxy, hal));
    const res = await proxy.certify(hal, 'demo', LOGIN);
    assert.equal(res.status, 200);
    const fourth = spawnSync(process.execPath, [BRIDGE, `wss://localhost:${proxy.port}/api/v1/nodes/demo/ssh?login=${LOGIN}`,
      hal.cookie, path.join(proxy.dir, 'data', 'tls', 'cert.pem'), proxy.url], { input: '', encoding: 'utf8', timeout: 20_000 });
    assert.match(fourth.stderr, /closed 4429: You already have 3 SSH sessions open, the most allowed\. Close one and try again\./);
    for (const s of open) s.stop();
  });
});

describe('expiry', () => {
  test('the web session expiring ends its SSH session within two seconds of the moment', async () => {
    const short = await startProxy(`session_ttl = "6s"\n${roles}`);
    const shortNode = await startNode(short);
    try {
      const ida = await short.certifiedKey('ida', ['recorded'], work);
      const session = await liveSession(short, ida);
      const close = await session.closed(20_000);
      session.stop();
      const late = close.at - ida.expiresAt * 1000;
      measured['web session expiry (after its second)'] = late;
      assert.equal(close.code, 4410);
      assert.equal(close.reason, 'Your sign-in expired, and the session with it. Sign in again to reconnect.');
      assert.ok(late >= 0 && late < 2000, `closed ${late} ms after the session's expiry`);
      assert.match(await endReason(short, 'ida'), /expired/);
    } finally {
      await shortNode.stop();
      await short.stop();
    }
  });
});

describe('in the browser', () => {
  let browser;
  before(async () => { browser = await launchBrowser(); });
  after(async () => { await browser?.close(); });

  test('the tab shows why its session ended when the person signs out elsewhere', async () => {
    const errors = [];
    const { context, page, session } = await signedInPage(proxy, browser, 'joy', ['recorded'], errors);
    await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    const active = page.locator('[data-testid="ssh-panel"][data-active="true"]');
    await active.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    assert.equal(await active.getByTestId('ssh-status').getAttribute('data-key-kind'), 'webcrypto', 'a non-extractable key');
    await active.getByTestId('terminal').click();
    await page.keyboard.type('while :; do date; sleep 0.2; done');
    await page.keyboard.press('Enter');
    await page.waitForTimeout(800);
    const start = Date.now();
    await proxy.request('DELETE', '/api/v1/session', { headers: { cookie: session.cookie, 'x-csrf-token': session.csrf } });
    await active.getByTestId('ssh-ended').waitFor({ timeout: 5000 });
    measured['sign-out, seen in the tab'] = Date.now() - start;
    assert.match(await active.getByTestId('ssh-ended').textContent(), /You signed out, and the session ended with your sign-in\./);
    await screenshot(page, '60-session-ended-by-sign-out');
    await context.close();
    assert.deepEqual(errors, []);
  });

  test('a lock on a desktop closes its window with the reason', async () => {
    const desktop = await startShadowDesktop({ user: 'rdpuser', password: 'rdp-pass-1' });
    try {
      const add = proxy.run(['desktops', 'add', 'lab', '--addr', `127.0.0.1:${desktop.port}`, '--labels', 'env=lab', '--user', 'rdpuser'], 'rdp-pass-1\n');
      assert.equal(add.status, 0, add.err);
      const check = proxy.run(['desktops', 'check', 'lab', '--trust-first-use']);
      assert.equal(check.status, 0, check.err);
      const errors = [];
      const { context, page } = await signedInPage(proxy, browser, 'kit', ['recorded'], errors);
      await page.goto(`${proxy.url}/desktops/lab`);
      await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 30_000 });
      const start = Date.now();
      proxy.cli('lock', 'desktop', 'lab', '--reason', 'reimaging tonight');
      await page.locator('[data-testid="desktop-status"][data-state="closed"]').waitFor({ timeout: 5000 });
      const ms = Date.now() - start;
      measured['lock desktop, seen in the page'] = ms;
      assert.ok(ms < 2500, `closed ${ms} ms after the lock (including the page's own drawing)`);
      assert.match(await page.locator('body').textContent(), /An admin locked the desktop lab: reimaging tonight\./);
      await screenshot(page, '61-desktop-ended-by-lock');
      // The resources page says so, in place of Open.
      await page.goto(`${proxy.url}/`);
      const locked = page.locator('[data-desktop="lab"] [data-testid="locked"]');
      await locked.waitFor();
      assert.equal(await locked.getAttribute('title'), 'An admin locked the desktop lab: reimaging tonight');
      assert.equal(await page.locator('[data-desktop="lab"] [data-testid="open-desktop"]').count(), 0);
      await screenshot(page, '63-resources-locked-desktop');
      await until(() => /"kind":"desktop.terminated","user":"kit".*reimaging tonight/.test(audit(proxy)), 'the desktop audit record');
      await context.close();
    } finally {
      await desktop.stop();
    }
  });
});
