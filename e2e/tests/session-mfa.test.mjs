// Per-session MFA (`require_session_mfa` on a role): opening an SSH tab asks for a
// fresh passkey assertion (Chromium's virtual authenticator), which the proxy checks
// before it connects; the socket refuses a missing, forged or reused ticket.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { confirmIfAsked, launchBrowser, signedInPage, screenshot, startNode, startProxy } from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
let proxy;
let node;
let browser;

before(async () => {
  proxy = await startProxy(`
[roles.guarded]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
require_session_mfa = true
`);
  node = await startNode(proxy);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await node?.stop();
  await proxy?.stop();
});

/** Opens the SSH socket as a script would; resolves with how it closed. */
function openSocket(cookie, query) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`wss://localhost:${proxy.port}/api/v1/nodes/demo/ssh?login=${LOGIN}${query}`, {
      headers: { cookie, origin: proxy.url },
      ca: fs.readFileSync(path.join(proxy.dir, 'data', 'tls', 'cert.pem')),
    });
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }));
    ws.on('error', () => {});
  });
}

const audit = () => fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');

describe('per-session MFA', () => {
  test('an SSH tab asks for the passkey, then connects; tickets are one-time', async () => {
    const errors = [];
    const { context, page, session } = await signedInPage(proxy, browser, 'gil', ['guarded'], errors);
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await page.goto(`${proxy.url}/account`);
    await page.getByTestId('passkey-name').fill('laptop');
    await page.getByTestId('add-passkey').click();
    await confirmIfAsked(page, session, page.getByTestId('passkey'));

    // Without a check, the socket refuses.
    const bare = await openSocket(session.cookie, '');
    assert.equal(bare.code, 4428);
    assert.match(bare.reason, /asks for your passkey before each session/);
    assert.equal((await openSocket(session.cookie, '&mfa=forged')).code, 4428);
    assert.match(audit(), /"kind":"ssh.denied","user":"gil".*invalid or used passkey ticket/);

    let ticket;
    page.on('response', async (response) => {
      if (response.url().endsWith('/api/v1/ssh/mfa/finish') && response.ok()) ticket = (await response.json()).ticket;
    });
    await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    const panel = page.locator('[data-testid="ssh-panel"][data-active="true"]');
    try {
      await panel.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    } catch (err) {
      await screenshot(page, '33-ssh-after-passkey-failed');
      throw new Error(`${err.message}\nstatus: ${await panel.getByTestId('ssh-status').textContent()}\n${await panel.textContent()}`);
    }
    await panel.getByTestId('terminal').click();
    await page.keyboard.type('echo checked-$((5*5))');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /^checked-25$/m.test(document.querySelector('[data-testid="ssh-panel"][data-active="true"] [data-testid="screen-text"]').textContent));
    await screenshot(page, '33-ssh-after-passkey');
    assert.match(audit(), /"kind":"ssh.mfa_ok","user":"gil"/);

    // The ticket was used: it opens nothing again.
    assert.ok(ticket, 'the browser got a ticket');
    const reused = await openSocket(session.cookie, `&mfa=${encodeURIComponent(ticket)}`);
    assert.equal(reused.code, 4428);
    // A finish without a real challenge.
    const me = await proxy.request('GET', '/api/v1/session', { headers: { cookie: session.cookie } });
    const bogus = await proxy.request('POST', '/api/v1/ssh/mfa/finish', {
      headers: { cookie: session.cookie, 'x-csrf-token': me.json.csrf_token, 'content-type': 'application/json' },
      body: JSON.stringify({
        challenge_id: 'nope', node: 'demo', login: LOGIN, public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
        credential: { id: 'AA', rawId: 'AA', type: 'public-key', extensions: {}, response: { authenticatorData: 'AA', clientDataJSON: 'AA', signature: 'AA', userHandle: null } },
      }),
    });
    assert.equal(bogus.status, 410, bogus.text);
    // The certificate the check gives is the connection's own: Ed25519 only, checked before
    // the passkey, for this node and login (a certificate request says a passkey comes first).
    const rsaDir = fs.mkdtempSync(path.join(proxy.dir, 'rsa-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', path.join(rsaDir, 'id_rsa')]);
    const rsa = await proxy.request('POST', '/api/v1/ssh/mfa/finish', {
      headers: { cookie: session.cookie, 'x-csrf-token': me.json.csrf_token, 'content-type': 'application/json' },
      body: JSON.stringify({
        challenge_id: 'nope', node: 'demo', login: LOGIN,
        public_key: fs.readFileSync(path.join(rsaDir, 'id_rsa.pub'), 'utf8'),
        credential: { id: 'AA', rawId: 'AA', type: 'public-key', extensions: {}, response: { authenticatorData: 'AA', clientDataJSON: 'AA', signature: 'AA', userHandle: null } },
      }),
    });
    assert.equal(rsa.status, 400, rsa.text);
    assert.equal(rsa.json.code, 'bad_key');
    assert.match(rsa.json.message, /Only Ed25519/);
    const first = await proxy.request('POST', '/api/v1/ssh/certificate', {
      headers: { cookie: session.cookie, 'x-csrf-token': me.json.csrf_token, 'content-type': 'application/json' },
      body: JSON.stringify({ public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl', node: 'demo', login: LOGIN }),
    });
    assert.equal(first.status, 428);
    assert.equal(first.json.code, 'mfa_required');
    // The browser logs two expected answers: the account page's 403 "confirm a factor
    // first" (which it then asks for) and the certificate request's 428 "passkey first".
    assert.deepEqual(errors.filter((e) => !/status of (403|428)/.test(e)), []);
    await context.close();
  });
});
