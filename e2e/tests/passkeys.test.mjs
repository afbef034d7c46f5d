// Passkeys with Chromium's virtual authenticator (DevTools protocol WebAuthn domain:
// ctap2, internal transport, resident keys, user verification): add one in the
// account page, sign in with it alone, sign in with password + passkey, add a second,
// remove one; and the attacks: a replayed assertion, a challenge used twice, an
// assertion for another challenge, a tampered one, malformed bodies, a counter that
// went backwards. Each refusal is clear and audited, and the proxy keeps serving.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { confirmIfAsked, launchBrowser, newContext, screenshot, startProxy, contextWithSession } from '../lib/harness.mjs';

let proxy;
let browser;
let pageErrors = [];

afterEach(() => {
  const errors = pageErrors.filter((e) => !/status of (401|403|409|410|422)/.test(e));
  pageErrors = [];
  assert.deepEqual(errors, [], 'the app logged no errors');
});

before(async () => {
  // Every sign-in here comes from 127.0.0.1: room for them all under the per-address limit.
  proxy = await startProxy('[roles.dev]\nrecordings = "own"\n[signin]\nattempts_per_ip_per_minute = 120\n');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
});

/** A page with a virtual authenticator attached; returns both. */
async function withAuthenticator(context) {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(msg.text().slice(0, 600)); });
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  return { page, cdp, authenticatorId };
}

async function signedIn(name) {
  const session = await proxy.enrolAndSignIn(name, ['dev']);
  const context = await contextWithSession(browser, proxy, session.cookie);
  return { context, session, ...(await withAuthenticator(context)) };
}

/** Adds a passkey in the account page; the page first asks to confirm a factor, which
 * `session`'s authenticator app answers. Returns whether it asked. */
async function addPasskey(page, name, session, shot) {
  await page.goto(`${proxy.url}/account`);
  await page.getByTestId('passkey-name').fill(name);
  await page.getByTestId('add-passkey').click();
  return confirmIfAsked(page, session, page.locator('[data-testid="passkey"]', { hasText: name }), { shot });
}

async function signOut(page) {
  await page.getByTestId('sign-out').click();
  await page.waitForURL(/\/signin$/);
}

const post = (pathname, body, extra = {}) => proxy.request('POST', pathname, {
  headers: { 'content-type': 'application/json', 'x-csrf-token': 'pre-session', ...extra },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});
const audit = () => fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');

describe('passkeys', () => {
  let pia;
  let captured;

  test('add a passkey, then sign in with it alone and as the second factor', async () => {
    pia = await signedIn('pia');
    const { page } = pia;
    assert.equal(await addPasskey(page, 'work laptop', pia.session, '29-confirm-factor'), true, 'a fresh factor was asked for first');
    await screenshot(page, '30-account-passkeys');
    assert.match(audit(), /"kind":"account.confirmed","user":"pia".*authenticator code/);
    assert.match(await page.getByTestId('passkey').textContent(), /work laptop.*never used/);
    assert.match(audit(), /"kind":"passkey.added","user":"pia"/);

    await signOut(page);
    // Keep a copy of the browser's answer, for the replay test below.
    await page.route('**/api/v1/session/discoverable/finish', async (route) => {
      captured = route.request().postData();
      await route.continue();
    });
    await page.getByTestId('sign-in-passkey').click();
    await page.waitForURL(`${proxy.url}/`);
    assert.equal((await page.getByTestId('current-user').textContent()).trim().slice(-3), 'pia');
    assert.match(audit(), /"kind":"signin.ok","user":"pia".*passkey alone/);
    await page.unroute('**/api/v1/session/discoverable/finish');

    await signOut(page);
    await page.getByTestId('username').fill('pia');
    await page.getByTestId('password').fill('a long enough password');
    await page.getByTestId('sign-in-passkey-second').click();
    await page.waitForURL(`${proxy.url}/`);
    assert.match(audit(), /"kind":"signin.ok","user":"pia".*password and passkey/);
    await page.goto(`${proxy.url}/account`);
    assert.match(await page.getByTestId('passkey').textContent(), /last used/);

    // The right passkey after a wrong password: refused, with the one answer for both.
    await signOut(page);
    await page.getByTestId('username').fill('pia');
    await page.getByTestId('password').fill('not the password at all');
    await page.getByTestId('sign-in-passkey-second').click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').textContent(), /The user name, password or passkey is wrong\./);
    await page.getByTestId('password').fill('a long enough password');
    await page.getByTestId('sign-in-passkey-second').click();
    await page.waitForURL(`${proxy.url}/`);
  });

  test('replays, reused and foreign challenges, tampering and bad bodies are refused', async () => {
    assert.ok(captured, 'an assertion was captured');
    // The same answer again: its challenge was used.
    const replay = await post('/api/v1/session/discoverable/finish', captured);
    assert.equal(replay.status, 410);
    assert.match(replay.json.message, /expired or was already used/);
    // That answer under a fresh challenge: the signature is over the old challenge.
    const fresh = await post('/api/v1/session/discoverable/start', {});
    assert.equal(fresh.status, 200);
    const foreign = await post('/api/v1/session/discoverable/finish', { ...JSON.parse(captured), challenge_id: fresh.json.challenge_id });
    assert.equal(foreign.status, 401);
    assert.match(foreign.json.message, /did not prove itself/);
    // The challenge was spent by that failed try, too.
    assert.equal((await post('/api/v1/session/discoverable/finish', { ...JSON.parse(captured), challenge_id: fresh.json.challenge_id })).status, 410);
    // A second-factor challenge made for another user's password.
    const bob = await proxy.enrolAndSignIn('bob', ['dev']);
    assert.ok(bob.cookie);
    // One answer for a right password, a wrong one, and a name with no passkey: no oracle.
    const bobStart = await post('/api/v1/session/passkey/start', { username: 'bob', password: 'a long enough password' });
    const piaStart = await post('/api/v1/session/passkey/start', { username: 'pia', password: 'a long enough password' });
    const wrongStart = await post('/api/v1/session/passkey/start', { username: 'pia', password: 'not the password' });
    const shape = (res) => ({ status: res.status, keys: Object.keys(res.json).sort(), options: Object.keys(res.json.options.publicKey).sort(), allow: res.json.options.publicKey.allowCredentials ?? [] });
    assert.equal(piaStart.status, 200);
    assert.deepEqual(shape(bobStart), shape(piaStart));
    assert.deepEqual(shape(wrongStart), shape(piaStart));
    assert.deepEqual(piaStart.json.options.publicKey.allowCredentials ?? [], [], 'no credentials listed, so none to compare');
    assert.match(audit(), /"kind":"signin.failed","user":"pia".*wrong password before a passkey/);
    // Tampered client data (its origin changed), under another challenge: refused. (This
    // cannot isolate the origin check: the signature and challenge fail first.)
    const tampered = JSON.parse(captured);
    const clientData = JSON.parse(Buffer.from(tampered.credential.response.clientDataJSON, 'base64url').toString());
    clientData.origin = 'https://evil.example';
    tampered.credential.response.clientDataJSON = Buffer.from(JSON.stringify(clientData)).toString('base64url');
    const evil = await post('/api/v1/session/passkey/finish', { ...tampered, challenge_id: piaStart.json.challenge_id });
    assert.equal(evil.status, 401);
    // Malformed: not JSON, and base64 that is not.
    assert.equal((await post('/api/v1/session/discoverable/finish', '{"challenge_id": ')).status, 400);
    const garbled = JSON.parse(captured);
    garbled.credential.rawId = '!!not base64!!';
    assert.ok([400, 422].includes((await post('/api/v1/session/discoverable/finish', garbled)).status));
    // Unknown challenge ids.
    assert.equal((await post('/api/v1/session/passkey/finish', { ...JSON.parse(captured), challenge_id: 'nope' })).status, 410);
    assert.match(audit(), /"kind":"signin.failed".*did not prove itself/);
    assert.equal((await proxy.request('GET', '/api/v1/health')).status, 200, 'still serving');
  });

  test('a second passkey on another authenticator; removing one', async () => {
    const { page, cdp, authenticatorId } = pia;
    // The first authenticator stops answering; a second one (a USB security key) takes over.
    await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: false });
    const { authenticatorId: phone } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await page.goto(`${proxy.url}/account`);
    await page.getByTestId('passkey-name').fill('security key');
    await page.getByTestId('add-passkey').click();
    // Signed in again since the last confirmation: the page asks again; the code answers.
    await page.getByTestId('confirm-factor').waitFor();
    await page.getByTestId('confirm-code').fill(await pia.session.authenticator.nextCode());
    await page.getByTestId('confirm-code-submit').click();
    await page.locator('[data-testid="passkey"]', { hasText: 'security key' }).waitFor({ timeout: 15_000 });
    assert.equal(await page.getByTestId('passkey').count(), 2);
    await page.locator('[data-testid="passkey"]', { hasText: 'work laptop' }).getByTestId('remove-passkey').click();
    await page.locator('[data-testid="passkey"]', { hasText: 'work laptop' }).waitFor({ state: 'detached' });
    assert.equal(await page.getByTestId('passkey').count(), 1);
    assert.match(audit(), /"kind":"passkey.removed","user":"pia"/);
    // The removed passkey no longer signs in; the remaining one does.
    await signOut(page);
    await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: phone, enabled: false });
    await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: true });
    await page.getByTestId('sign-in-passkey').click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').textContent(), /not registered with Gatehouse/);
    await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: false });
    await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: phone, enabled: true });
    await page.getByTestId('sign-in-passkey').click();
    await page.waitForURL(`${proxy.url}/`);
    pia.phone = phone;
  });

  test('a signature counter that went backwards is refused', async () => {
    const { page, cdp, phone } = pia;
    assert.ok(phone, 'the previous test added the security key');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId: phone });
    assert.equal(credentials.length, 1);
    const [credential] = credentials;
    assert.ok(credential.signCount >= 1, `the counter has moved (${credential.signCount})`);
    // A cloned authenticator: the same key, an older counter.
    await cdp.send('WebAuthn.removeCredential', { authenticatorId: phone, credentialId: credential.credentialId });
    await cdp.send('WebAuthn.addCredential', { authenticatorId: phone, credential: { ...credential, signCount: 0 } });
    await signOut(page);
    await page.getByTestId('sign-in-passkey').click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').textContent(), /did not prove itself/);
    await screenshot(page, '31-passkey-refused');
    assert.match(audit(), /"kind":"signin.failed".*passkey alone/);
    await pia.context.close();
  });

  test('enrol with a passkey from the invite; an admin reset clears it and sends a new invite', async () => {
    const context = await newContext(browser);
    const { page, cdp, authenticatorId } = await withAuthenticator(context);
    await page.goto(proxy.addUser('quin', ['dev']));
    await page.getByTestId('invite-user').waitFor();
    await page.getByTestId('new-password').fill('a long enough password');
    await page.getByTestId('confirm-password').fill('a long enough password');
    await page.getByTestId('choose-passkey').click();
    await page.getByTestId('invite-passkey-name').fill('desk');
    await screenshot(page, '32-invite-passkey');
    await page.getByTestId('finish-invite-passkey').click();
    await page.getByTestId('invite-done').waitFor({ timeout: 15_000 });
    assert.match(audit(), /"kind":"invite.accepted","user":"quin".*password and passkey/);
    assert.match(proxy.cli('users', 'list'), /quin\s+enrolled/);
    // No authenticator app: the code sign-in is refused; the passkey works, with and without the password.
    const byCode = await post('/api/v1/session', { username: 'quin', password: 'a long enough password', totp_code: '000000' });
    assert.equal(byCode.status, 401);
    await page.goto(`${proxy.url}/signin`);
    await page.getByTestId('sign-in-passkey').click();
    await page.waitForURL(`${proxy.url}/`);
    // The only second factor cannot be removed.
    await page.goto(`${proxy.url}/account`);
    assert.equal(await page.getByTestId('remove-passkey').isDisabled(), true);
    const id = await page.getByTestId('passkey').getAttribute('data-id');
    const cookie = (await context.cookies()).find((c) => c.name.startsWith('__Host-')); // HttpOnly, read by the test only
    const me = await proxy.request('GET', '/api/v1/session', { headers: { cookie: `${cookie.name}=${cookie.value}` } });
    const lastFactor = await proxy.request('DELETE', `/api/v1/account/passkeys/${id}`, {
      headers: { cookie: `${cookie.name}=${cookie.value}`, 'x-csrf-token': me.json.csrf_token },
    });
    assert.equal(lastFactor.status, 409);
    assert.match(lastFactor.json.message, /only second factor/);
    // And with a stolen cookie, no passkey can be added without a factor proven again.
    const thief = await proxy.request('POST', '/api/v1/account/passkeys/start', {
      headers: { cookie: `${cookie.name}=${cookie.value}`, 'x-csrf-token': me.json.csrf_token, 'content-type': 'application/json' }, body: '{}',
    });
    assert.equal(thief.status, 403);
    assert.equal(thief.json.code, 'confirm_required');

    // The admin resets quin: sessions end, the passkey stops working, a new invite is printed.
    const out = proxy.cli('users', 'reset', 'quin');
    assert.match(out, /https:\/\/\S+\/invite#token=/);
    assert.equal((await proxy.request('GET', '/api/v1/session', { headers: { cookie: `${cookie.name}=${cookie.value}` } })).status, 401);
    assert.match(proxy.cli('users', 'list'), /quin\s+invited/);
    await page.goto(`${proxy.url}/signin`);
    await page.getByTestId('sign-in-passkey').click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').textContent(), /not registered with Gatehouse/);
    assert.ok(authenticatorId && cdp);
    await context.close();
  });
});
