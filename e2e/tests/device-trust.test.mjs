// Trusted devices (issue 14, part 3), with Chromium's virtual authenticators: an admin
// registers a device (`gatehouse devices add`), its owner enrols it from the link, and a
// node whose role says `device_trust = "required"` opens only after a fresh assertion
// from that device. Another authenticator of the same user (a passkey that is not an
// enrolled device) is refused; removing the device ends the session it opened; the
// `[device_trust]` policy refuses a model (AAGUID) it does not list, and synced passkeys.
// Chromium's virtual authenticator attests "packed" with a certificate and the AAGUID
// 01020304-0506-0708-0102-030405060708, and sets the backup-eligible flag when asked to.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  confirmIfAsked, launchBrowser, screenshot, signedInPage, startNode, startProxy, startShadowDesktop, until,
} from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const CHROMIUM_AAGUID = '01020304-0506-0708-0102-030405060708';
let proxy;
let node;
let browser;

before(async () => {
  proxy = await startProxy(`
[roles.trusted]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
device_trust = "required"
desktop_labels = { env = "lab" }
desktop_users = ["*"]

[roles.plain]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]

[roles.checked]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
require_session_mfa = true
device_trust = "optional"
`);
  node = await startNode(proxy);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await node?.stop();
  await proxy?.stop();
});

const audit = (p = proxy) => fs.readFileSync(path.join(p.dir, 'data', 'audit.jsonl'), 'utf8');

/** A virtual authenticator for `page` alone (each tab has its own). */
async function addAuthenticator(context, page, options = {}) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true, ...options,
    },
  });
  return { cdp, authenticatorId };
}

/** Runs `gatehouse devices add` and returns the enrolment link it printed. */
function registerDevice(p, name, owner) {
  const out = p.cli('devices', 'add', name, '--owner', owner);
  const link = out.match(/https:\/\/\S+\/device#token=\S+/);
  assert.ok(link, `no enrolment link in: ${out}`);
  return link[0];
}

/** Opens the SSH socket as a script would; resolves with how it closed. */
function openSocket(p, cookie, url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`wss://localhost:${p.port}${url}`, {
      headers: { cookie, origin: p.url },
      ca: fs.readFileSync(path.join(p.dir, 'data', 'tls', 'cert.pem')),
    });
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }));
    ws.on('error', () => {});
  });
}

const post = (p, session, url, body) => p.request('POST', url, {
  headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('trusted devices', () => {
  test('an enrolled device opens a node that requires one; another authenticator of the same user is refused; removing the device ends its session', async () => {
    const errors = [];
    const { context, page, session } = await signedInPage(proxy, browser, 'dana', ['trusted'], errors);

    // The resources page says the node needs a trusted device, and what to do.
    await page.goto(`${proxy.url}/`);
    await page.locator('[data-node="demo"] [data-testid="needs-device"]').waitFor();
    assert.match(await page.getByTestId('device-hint').textContent(), /gatehouse devices add NAME --owner YOU/);
    await screenshot(page, '60-resources-needs-a-trusted-device');

    // With no device: the socket refuses, and the check says how to get one.
    const bare = await openSocket(proxy, session.cookie, `/api/v1/nodes/demo/ssh?login=${LOGIN}`);
    assert.equal(bare.code, 4428);
    assert.match(bare.reason, /^demo needs a trusted device/);
    const none = await post(proxy, session, '/api/v1/ssh/mfa/start', { node: 'demo', login: LOGIN });
    assert.equal(none.status, 409, none.text);
    assert.equal(none.json.code, 'no_devices');
    assert.match(none.json.message, /gatehouse devices add NAME --owner YOU/);

    // The admin registers the laptop; Dana enrols it on the laptop (this tab's authenticator).
    await addAuthenticator(context, page);
    const link = registerDevice(proxy, 'work laptop', 'dana');
    await page.goto(link);
    assert.equal(await page.getByTestId('device-name').textContent(), 'work laptop');
    await screenshot(page, '61-device-enrolment');
    await page.getByTestId('enrol-device').click();
    await page.getByTestId('device-enrolled').waitFor();
    assert.equal(await page.getByTestId('device-attestation').textContent(),
      `Attestation packed (certificate-signed) · AAGUID ${CHROMIUM_AAGUID} · hardware-bound`);
    await screenshot(page, '62-device-enrolled');
    assert.match(audit(), new RegExp(`"kind":"device.enrolled","user":"dana".*work laptop.*attestation packed, AAGUID ${CHROMIUM_AAGUID}, hardware-bound`));
    const listed = proxy.cli('devices', 'list');
    const [, id] = listed.match(new RegExp(`^(\\d+)\\s+dana\\s+work laptop\\s+enrolled\\s+packed\\s+${CHROMIUM_AAGUID}\\s+hardware-bound$`, 'm')) ?? [];
    assert.ok(id, listed);

    // The link is spent.
    await page.goto(`${proxy.url}/account`);
    await page.goto(link);
    assert.match(await page.getByTestId('error').textContent(), /not valid: it expired, was already used/);

    // The account page lists the device with what its attestation said.
    await page.goto(`${proxy.url}/account`);
    const shown = page.locator('[data-testid="device"]');
    await shown.waitFor();
    assert.match(await shown.textContent(), /work laptop.*enrolled.*Attestation packed \(certificate-signed\) · AAGUID 01020304/);
    assert.equal(await shown.getAttribute('data-hardware-bound'), 'true');
    await screenshot(page, '63-account-trusted-devices');

    // From the laptop, the SSH tab asks the device and connects.
    await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    const panel = page.locator('[data-testid="ssh-panel"][data-active="true"]');
    try {
      await panel.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    } catch (err) {
      await screenshot(page, '64-ssh-from-device-failed');
      throw new Error(`${err.message}\n${await panel.textContent()}`);
    }
    await panel.getByTestId('terminal').click();
    await page.keyboard.type('echo device-$((6*7))');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /^device-42$/m.test(document.querySelector('[data-testid="ssh-panel"][data-active="true"] [data-testid="screen-text"]').textContent));
    await screenshot(page, '64-ssh-from-trusted-device');
    assert.match(audit(), /"kind":"ssh.mfa_ok","user":"dana".*node demo as [^"]*, trusted device \\"work laptop\\"/);
    assert.match(audit(), /"kind":"ssh.start","user":"dana".*node demo as [^"]*, recorded, trusted device \\"work laptop\\" \(\d+\)/);

    // Another tab, another authenticator: Dana's phone, with a passkey on her account
    // (a second factor, not an enrolled device).
    const phone = await context.newPage();
    phone.on('pageerror', (err) => errors.push(err.message));
    await addAuthenticator(context, phone);
    await phone.goto(`${proxy.url}/account`);
    await phone.getByTestId('passkey-name').fill('phone');
    await phone.getByTestId('add-passkey').click();
    await confirmIfAsked(phone, session, phone.getByTestId('passkey'));
    // The check offers only the laptop's credential, which the phone does not hold; the
    // phone's own passkey, answering the same challenge, is refused by the proxy.
    const answered = await phone.evaluate(async ({ login }) => {
      const me = await (await fetch('/api/v1/session')).json();
      const send = (url, body) => fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf_token }, body: JSON.stringify(body),
      });
      const started = await (await send('/api/v1/ssh/mfa/start', { node: 'demo', login })).json();
      const b64 = (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
      const text = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      const offered = started.options.publicKey.allowCredentials.length;
      const got = await navigator.credentials.get({
        publicKey: { challenge: b64(started.options.publicKey.challenge), rpId: started.options.publicKey.rpId, allowCredentials: [], userVerification: 'required' },
      });
      const credential = {
        id: got.id, rawId: text(got.rawId), type: 'public-key', extensions: {},
        response: {
          authenticatorData: text(got.response.authenticatorData), clientDataJSON: text(got.response.clientDataJSON),
          signature: text(got.response.signature), userHandle: got.response.userHandle ? text(got.response.userHandle) : null,
        },
      };
      // Any Ed25519 key: the proxy refuses before it certifies anything.
      const finished = await send('/api/v1/ssh/mfa/finish', {
        challenge_id: started.challenge_id, credential, node: 'demo', login,
        public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      });
      return { offered, status: finished.status, body: await finished.json() };
    }, { login: LOGIN });
    assert.equal(answered.offered, 1, 'the check names the device credential only');
    assert.equal(answered.status, 401, JSON.stringify(answered.body));
    assert.equal(answered.body.code, 'not_a_device');
    assert.match(answered.body.message, /not one of your trusted devices/);
    assert.match(audit(), /"kind":"ssh.mfa_denied","user":"dana".*not one of your trusted devices/);
    // In the phone's own SSH tab, the same: no session opens.
    await phone.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    const phonePanel = phone.locator('[data-testid="ssh-panel"][data-active="true"]');
    await phonePanel.locator('[data-testid="ssh-status"][data-state="ended"]').waitFor({ timeout: 30_000 });
    await screenshot(phone, '65-ssh-from-another-authenticator-refused');
    assert.match(await phonePanel.getByTestId('ssh-ended').textContent(),
      /demo opens only from a trusted device enrolled for you, and this browser's authenticator did not answer as one/);
    await phone.close();

    // The admin removes the laptop: its session ends within two seconds, with the reason.
    assert.equal(await panel.getByTestId('ssh-status').getAttribute('data-state'), 'connected');
    const removedAt = Date.now();
    assert.match(proxy.cli('devices', 'remove', id), /Removed device \d+, "work laptop" of dana; the sessions it opened end within 2 seconds/);
    await panel.locator('[data-testid="ssh-status"][data-state="ended"]').waitFor({ timeout: 5_000 });
    const took = Date.now() - removedAt;
    assert.ok(took < 2500, `ended ${took} ms after the removal`);
    assert.match(await panel.getByTestId('ssh-ended').textContent(),
      /The trusted device work laptop was removed from Gatehouse, so the session it opened was ended\./);
    await screenshot(page, '66-device-removed-session-ended');
    await until(() => /"kind":"ssh.terminated","user":"dana".*work laptop was removed/.test(audit()), 'the termination audited');
    assert.match(audit(), /"kind":"device.removed","user":"dana".*work laptop/);
    assert.doesNotMatch(proxy.cli('devices', 'list'), /work laptop/);

    // The browser logs the expected refusals: the certificate's 428 "check first", the
    // account page's 403 "confirm a factor first", the phone's 401, and the spent link's 410.
    assert.deepEqual(errors.filter((e) => !/status of (401|403|410|428)/.test(e)), []);
    await context.close();
  });

  test('a desktop whose role requires a device opens only after the device\'s check, and ends when the device is removed', async () => {
    const desktop = await startShadowDesktop({ user: 'alice', password: 'desktop password', text: 'device desktop' });
    try {
      const added = proxy.run(['desktops', 'add', 'lab-1', '--addr', `127.0.0.1:${desktop.port}`, '--labels', 'env=lab', '--user', 'alice'], 'desktop password\n');
      assert.equal(added.status, 0, added.err);
      const pinned = proxy.run(['desktops', 'check', 'lab-1', '--trust-first-use']);
      assert.equal(pinned.status, 0, pinned.err);
      const errors = [];
      const { context, page, session } = await signedInPage(proxy, browser, 'dora', ['trusted'], errors);
      await page.goto(`${proxy.url}/`);
      await page.locator('[data-desktop="lab-1"] [data-testid="needs-device"]').waitFor();
      // Without a device: the socket refuses, and the page says what to do.
      const closed = await openSocket(proxy, session.cookie, '/api/v1/desktops/lab-1/connect?width=800&height=600');
      assert.equal(closed.code, 4428);
      assert.match(closed.reason, /^lab-1 needs a trusted device/);
      assert.match(audit(), /"kind":"desktop.denied","user":"dora".*desktop lab-1: no trusted device check/);
      await page.goto(`${proxy.url}/desktops/lab-1`);
      await page.locator('[data-testid="desktop-status"][data-state="closed"]').waitFor({ timeout: 20_000 });
      assert.match(await page.getByTestId('desktop-error').textContent(), /You have no trusted device enrolled/);
      await screenshot(page, '69-desktop-without-a-device');

      await addAuthenticator(context, page);
      await page.goto(registerDevice(proxy, 'desk pc', 'dora'));
      await page.getByTestId('enrol-device').click();
      await page.getByTestId('device-enrolled').waitFor();
      await page.goto(`${proxy.url}/desktops/lab-1`);
      await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 30_000 });
      await screenshot(page, '70-desktop-from-trusted-device');
      assert.match(audit(), /"kind":"desktop.check_ok","user":"dora".*desktop lab-1, trusted device \\"desk pc\\"/);
      await until(() => /"kind":"desktop.start","user":"dora".*desktop lab-1 as alice; recording [^"]*, trusted device \\"desk pc\\"/.test(audit()), 'the start audited with the device');

      const [, id] = proxy.cli('devices', 'list').match(/^(\d+)\s+dora\s+desk pc\s+enrolled/m) ?? [];
      assert.ok(id);
      const removedAt = Date.now();
      proxy.cli('devices', 'remove', id);
      await page.locator('[data-testid="desktop-status"][data-state="closed"]').waitFor({ timeout: 5_000 });
      assert.ok(Date.now() - removedAt < 2500, 'ended within two seconds or so');
      assert.match(await page.getByTestId('desktop-error').textContent(), /The trusted device desk pc was removed from Gatehouse/);
      await screenshot(page, '71-desktop-ended-with-its-device');
      // The page logs the expected refusals: the check's 409 (no device yet).
      assert.deepEqual(errors.filter((e) => !/status of 409/.test(e)), []);
      await context.close();
    } finally {
      await desktop.stop();
    }
    // A role without device trust still opens SSH without a check.
    const plain = await proxy.enrolAndSignIn('pia', ['plain']);
    const cert = await post(proxy, plain, '/api/v1/ssh/certificate', {
      public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl', node: 'demo', login: LOGIN,
    });
    assert.equal(cert.status, 200, cert.text);
  });
});

describe('device_trust = "optional"', () => {
  test('the session check records the device that answered it, and removing the device ends that session', async () => {
    const errors = [];
    const { context, page } = await signedInPage(proxy, browser, 'olga', ['checked'], errors);
    await page.goto(`${proxy.url}/`);
    await page.locator('[data-node="demo"]').waitFor();
    assert.equal(await page.locator('[data-node="demo"] [data-testid="needs-device"]').count(), 0, 'optional is not marked as needed');
    await addAuthenticator(context, page);
    await page.goto(registerDevice(proxy, 'desk', 'olga'));
    await page.getByTestId('enrol-device').click();
    await page.getByTestId('device-enrolled').waitFor();
    // Olga has no passkey: her session check is answered by the desk's credential.
    await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    const panel = page.locator('[data-testid="ssh-panel"][data-active="true"]');
    await panel.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    assert.match(audit(), /"kind":"ssh.mfa_ok","user":"olga".*trusted device \\"desk\\"/);
    const [, id] = proxy.cli('devices', 'list').match(/^(\d+)\s+olga\s+desk\s+enrolled/m) ?? [];
    assert.ok(id);
    proxy.cli('devices', 'remove', id);
    await panel.locator('[data-testid="ssh-status"][data-state="ended"]').waitFor({ timeout: 5_000 });
    assert.match(await panel.getByTestId('ssh-ended').textContent(), /The trusted device desk was removed from Gatehouse/);
    assert.deepEqual(errors.filter((e) => !/status of 428/.test(e)), []);
    await context.close();
  });
});

describe('the [device_trust] policy', () => {
  test('a model the policy does not list is refused at enrolment, with its AAGUID', async () => {
    const strict = await startProxy(`
[device_trust]
allowed_aaguids = ["cb69481e-8ff7-4039-93ec-0a2729a154a8"]
`);
    try {
      const errors = [];
      const { context, page } = await signedInPage(strict, browser, 'eli', ['admin'], errors);
      await addAuthenticator(context, page);
      await page.goto(registerDevice(strict, 'desk', 'eli'));
      await page.getByTestId('enrol-device').click();
      const refusal = page.locator('[data-testid="device-enrolment"] [role="alert"]');
      await refusal.waitFor();
      assert.match(await refusal.textContent(),
        new RegExp(`model \\(AAGUID ${CHROMIUM_AAGUID}\\) is not one the policy allows for trusted devices.*allowed_aaguids`));
      await screenshot(page, '67-device-refused-unlisted-model');
      assert.match(audit(strict), new RegExp(`"kind":"device.enrol_refused","user":"eli".*desk.*AAGUID ${CHROMIUM_AAGUID}\\) is not one`));
      assert.match(strict.cli('devices', 'list'), /eli\s+desk\s+waiting/, 'not enrolled');
      assert.deepEqual(errors.filter((e) => !/status of 403/.test(e)), []);
      await context.close();
    } finally {
      await strict.stop();
    }
  });

  test('a synced passkey is refused when the policy says so, and a device-bound credential of a listed model is enrolled', async () => {
    const strict = await startProxy(`
[device_trust]
allowed_aaguids = ["${CHROMIUM_AAGUID}"]
refuse_synced = true
`);
    try {
      const errors = [];
      const { context, page } = await signedInPage(strict, browser, 'fay', ['admin'], errors);
      const synced = await addAuthenticator(context, page, { defaultBackupEligibility: true });
      const link = registerDevice(strict, 'tablet', 'fay');
      await page.goto(link);
      await page.getByTestId('enrol-device').click();
      const refusal = page.locator('[data-testid="device-enrolment"] [role="alert"]');
      await refusal.waitFor();
      assert.match(await refusal.textContent(), /can be synced to other devices \(a synced passkey\)/);
      await screenshot(page, '68-device-refused-synced-passkey');
      assert.match(audit(strict), /"kind":"device.enrol_refused","user":"fay".*tablet.*synced passkey/);
      // The same link, from an authenticator whose credentials stay on it.
      await synced.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: synced.authenticatorId });
      await addAuthenticator(context, page, { defaultBackupEligibility: false });
      await page.goto(link);
      await page.getByTestId('enrol-device').click();
      await page.getByTestId('device-enrolled').waitFor();
      assert.match(await page.getByTestId('device-attestation').textContent(), new RegExp(`AAGUID ${CHROMIUM_AAGUID} · hardware-bound`));
      assert.deepEqual(errors.filter((e) => !/status of 403/.test(e)), []);
      await context.close();
    } finally {
      await strict.stop();
    }
  });
});
