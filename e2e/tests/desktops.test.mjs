// Desktops, the first part: registering an RDP desktop (its password sealed at rest),
// the proxy's own RDP client (IronRDP) connecting to a real FreeRDP shadow server with
// NLA and receiving its graphics, clear errors for a wrong password and a dead server,
// and the resources page listing desktops by role. Opening one in the browser is not
// built yet.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { freePort, launchBrowser, screenshot, startProxy, startShadowDesktop, contextWithSession } from '../lib/harness.mjs';

const PASSWORD = 'a desktop password 7';
let proxy;
let desktop;

before(async () => {
  proxy = await startProxy(`
[roles.lab]
desktop_labels = { env = "lab" }
desktop_users = ["alice"]

[roles.other]
desktop_labels = { env = "prod" }
desktop_users = ["*"]
`);
  desktop = await startShadowDesktop({ user: 'alice', password: PASSWORD });
});

after(async () => {
  await desktop?.stop();
  await proxy?.stop();
});

/** Runs the CLI with `input` on stdin; returns status and output. */
function cli(args, input = '') {
  const result = spawnSync(process.env.GATEHOUSE_BIN, ['--config', proxy.config, ...args], {
    input, encoding: 'utf8', timeout: 60_000, env: { ...process.env, RUST_BACKTRACE: '0' },
  });
  return { status: result.status, out: result.stdout, err: result.stderr };
}

describe('desktops', () => {
  test('a desktop is registered, its password sealed, and the proxy connects to it over NLA', async () => {
    const added = cli(['desktops', 'add', 'lab-1', '--addr', `127.0.0.1:${desktop.port}`, '--labels', 'env=lab', '--user', 'alice'], `${PASSWORD}\n`);
    assert.equal(added.status, 0, added.err);
    // The database and its write-ahead log (where a write sits while the server runs).
    for (const file of ['gatehouse.db', 'gatehouse.db-wal']) {
      const where = path.join(proxy.dir, 'data', file);
      if (fs.existsSync(where)) assert.ok(!fs.readFileSync(where).includes(Buffer.from(PASSWORD)), `the password is not in ${file} in the clear`);
    }
    assert.ok(fs.readFileSync(path.join(proxy.dir, 'data', 'gatehouse.db-wal')).length > 0, 'the write is in the log we read');
    const key = path.join(proxy.dir, 'data', 'ca', 'desktop_key');
    assert.equal(fs.statSync(key).mode & 0o777, 0o600);
    const listed = cli(['desktops', 'list']);
    assert.match(listed.out, /lab-1\s+127\.0\.0\.1:\d+\s+alice\s+nla\s+env=lab/);
    assert.ok(!listed.out.includes(PASSWORD));

    // The first check sends nothing until the admin names the certificate they expect.
    const first = cli(['desktops', 'check', 'lab-1']);
    assert.notEqual(first.status, 0);
    const [, seen] = first.err.match(/presented a TLS certificate with the fingerprint (SHA256:[0-9a-f]{64}), and none is pinned for this desktop yet, so the account was not sent/);
    assert.match(first.err, /gatehouse desktops check lab-1 --pin SHA256:/);
    assert.doesNotMatch(fs.readFileSync(path.join(desktop.dir, 'desktop.log'), 'utf8'), /AcceptSecurityContext/, 'no NTLM exchange reached the desktop');
    const wrongPin = cli(['desktops', 'check', 'lab-1', '--pin', `SHA256:${'0'.repeat(64)}`]);
    assert.match(wrongPin.err, /not the one pinned for this desktop.*the account was not sent/);
    assert.match(cli(['desktops', 'list']).out, /lab-1/);
    const check = cli(['desktops', 'check', 'lab-1', '--pin', seen]);
    assert.equal(check.status, 0, check.err);
    const [, width, height, updates, bytes] = check.out.match(/desktop (\d+)x(\d+); (\d+) graphics updates \((\d+) bytes\)/);
    assert.deepEqual([Number(width), Number(height)], [1024, 768], 'the size of the Xvfb screen');
    assert.ok(Number(updates) >= 1 && Number(bytes) > 10_000, `graphics arrived: ${check.out}`);
    assert.match(check.out, /Pinned its TLS certificate: SHA256:[0-9a-f]{64}/);
    assert.match(cli(['desktops', 'check', 'lab-1']).out, /^Connected/, 'the same certificate again: fine');
  });

  test('another certificate at the desktop address is refused before the account is sent', async () => {
    const port = desktop.port;
    await desktop.stop();
    // Another server (another certificate) takes the address, as an interceptor would.
    desktop = await startShadowDesktop({ user: 'alice', password: PASSWORD, port });
    const swapped = cli(['desktops', 'check', 'lab-1']);
    assert.notEqual(swapped.status, 0);
    assert.match(swapped.err, /not the one pinned for this desktop.*the account was not sent/);
    // And indeed the new server saw no sign-in attempt (FreeRDP logs each NTLM step).
    const log = fs.readFileSync(path.join(desktop.dir, 'desktop.log'), 'utf8');
    assert.doesNotMatch(log, /AcceptSecurityContext/, 'the impostor saw no NTLM exchange');
    // The admin re-adds it (the certificate really changed): the next check pins anew.
    assert.equal(cli(['desktops', 'add', 'lab-1', '--addr', `127.0.0.1:${port}`, '--labels', 'env=lab', '--user', 'alice'], `${PASSWORD}\n`).status, 0);
    assert.match(cli(['desktops', 'check', 'lab-1', '--trust-first-use']).out, /Pinned its TLS certificate/);
  });

  test('a wrong password and a dead desktop are clear errors', async () => {
    assert.equal(cli(['desktops', 'add', 'lab-wrong', '--addr', `127.0.0.1:${desktop.port}`, '--labels', 'env=lab', '--user', 'alice'], 'not it\n').status, 0);
    const wrong = cli(['desktops', 'check', 'lab-wrong', '--trust-first-use']);
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.err, /ended the connection while checking the account.*user name or password is probably wrong/);
    const port = await freePort();
    assert.equal(cli(['desktops', 'add', 'gone', '--addr', `127.0.0.1:${port}`, '--user', 'alice'], 'x\n').status, 0);
    const dead = cli(['desktops', 'check', 'gone', '--trust-first-use']);
    assert.match(dead.err, /cannot reach 127\.0\.0\.1:\d+: Connection refused.*may be down/);
    assert.match(cli(['desktops', 'add', 'x', '--addr', 'nowhere', '--user', 'a'], 'p\n').err, /HOST:PORT|port/i);
    assert.match(cli(['desktops', 'add', 'y', '--addr', '127.0.0.1:1', '--user', 'a', '--security', 'rdp'], 'p\n').err, /nla.*tls/);
    assert.match(cli(['desktops', 'add', 'z', '--addr', '127.0.0.1:1', '--user', 'a'], '\n').err, /needs a password/);
  });

  test('the resources page lists the desktops a role allows', async () => {
    const lab = await proxy.enrolAndSignIn('lena', ['lab']);
    const other = await proxy.enrolAndSignIn('otto', ['other']);
    const names = async (who) => (await proxy.request('GET', '/api/v1/resources', { headers: { cookie: who.cookie } })).json.desktops.map((d) => d.name);
    assert.deepEqual(await names(lab), ['lab-1', 'lab-wrong'], 'env=lab desktops whose account is alice');
    assert.deepEqual(await names(other), [], 'no prod desktops');
    const browser = await launchBrowser();
    try {
      const context = await contextWithSession(browser, proxy, lab.cookie);
      const page = await context.newPage();
      await page.goto(`${proxy.url}/`);
      await page.locator('[data-testid="desktop"][data-desktop="lab-1"]').waitFor();
      assert.match(await page.locator('[data-desktop="lab-1"]').textContent(), /env=lab/);
      await screenshot(page, '40-resources-desktops');
    } finally {
      await browser.close();
    }
  });

  test('the desktop WebSocket: activation and graphics for an allowed user, clear refusals for the rest', async () => {
    const lab = await proxy.enrolAndSignIn('lea', ['lab']);
    const other = await proxy.enrolAndSignIn('oli', ['other']);
    /** Opens the socket; collects frames for `ms`, or until it closes. */
    const open = (who, name, ms = 4000, send) => new Promise((resolve) => {
      const frames = [];
      const ws = new WebSocket(`wss://localhost:${proxy.port}/api/v1/desktops/${name}/connect?width=800&height=600`, {
        headers: { cookie: who.cookie, origin: proxy.url },
        ca: fs.readFileSync(path.join(proxy.dir, 'data', 'tls', 'cert.pem')),
      });
      const timer = setTimeout(() => ws.close(1000), ms);
      ws.on('open', () => { if (send) ws.send(send); });
      ws.on('message', (data) => frames.push(Buffer.from(data)));
      ws.on('close', (code, reason) => { clearTimeout(timer); resolve({ code, reason: String(reason), frames }); });
      ws.on('error', () => {});
    });
    /** The varint fields of a small protobuf message, by number. */
    const fields = (bytes) => {
      const out = {};
      let i = 0;
      const varint = () => { let v = 0, shift = 0, b; do { b = bytes[i++]; v += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80); return v; };
      while (i < bytes.length) { const key = varint(); if ((key & 7) === 0) out[key >> 3] = varint(); else { const len = varint(); i += len; } }
      return out;
    };

    const { frames } = await open(lab, 'lab-1');
    assert.ok(frames.length >= 2, `frames arrived: ${frames.length}`);
    assert.equal(frames[0][0], 0x0a, 'the first message is Activated');
    const activated = fields(frames[0].subarray(2));
    assert.deepEqual([activated[4], activated[5]], [1024, 768], 'the desktop size');
    assert.ok(frames.slice(1).some((f) => f[0] === 0x12), 'fast-path graphics follow');
    await new Promise((r) => setTimeout(r, 300));
    const log = fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');
    assert.match(log, /"kind":"desktop.start","user":"lea".*desktop lab-1 as alice/);
    assert.match(log, /"kind":"desktop.end","user":"lea".*PDUs/);

    const denied = await open(other, 'lab-1');
    assert.equal(denied.code, 4403);
    assert.match(denied.reason, /do not give you access to the desktop lab-1/);
    assert.equal((await open(lab, 'nowhere')).code, 4404);
    // lab-wrong was never checked (its check failed), so its certificate is not pinned:
    // the proxy will not send it an account.
    const unverified = await open(lab, 'lab-wrong');
    assert.equal(unverified.code, 4501);
    assert.match(unverified.reason, /not been verified yet/);
    const text = await open(lab, 'lab-1', 8000, 'not binary');
    assert.equal(text.code, 4400);
    assert.equal((await proxy.request('GET', '/api/v1/health')).status, 200, 'still serving');
  });
});
