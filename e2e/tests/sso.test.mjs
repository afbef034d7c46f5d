// Single sign-on against a real OpenID provider (npm's oidc-provider, run by the test
// with its own login and consent pages, which Chromium fills in): the first sign-in
// makes the account with the roles its groups map to and an SSH tab opens; the roles
// are mapped again at every sign-in, and a role lost at the provider ends the live
// session of it; a passkey of ours follows when a role asks for one (added at the first
// sign-in, asked at the next). Every way it can go wrong is a sentence on the page and a
// record in the audit: the provider down, consent declined, no role mapped, an ID token
// for another audience, expired, or tampered with, a replayed callback, a replayed code,
// a state nobody issued, a callback opened in another browser (login CSRF), and a
// provider's user named like an existing local account (no takeover).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, launchBrowser, newContext, screenshot, startNode, startProxy, until } from '../lib/harness.mjs';
import { signInAtProvider, startIdp } from '../lib/idp.mjs';

const LOGIN = os.userInfo().username;
const SECRET = 'e2e-client-secret-that-is-long-enough';

let proxy;
let idp;
let node;
let browser;

before(async () => {
  const idpPort = await freePort();
  const deadPort = await freePort();
  const issuer = `http://127.0.0.1:${idpPort}`;
  proxy = await startProxy(`
[roles.ops]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]

[roles.dev]
node_labels = { env = "elsewhere" }
logins = ["${LOGIN}"]

[roles.guarded]
node_labels = { env = "elsewhere" }
logins = ["${LOGIN}"]
require_session_mfa = true

# Each single sign-on counts twice (leaving and coming back); this file makes many.
[signin]
attempts_per_ip_per_minute = 200

[[sso]]
name = "corp"
display_name = "Corp ID"
issuer = "${issuer}"
client_id = "gatehouse"
client_secret_file = "sso-secret"
scopes = ["profile", "email", "groups"]

[[sso.roles]]
claim = "groups"
value = "ops"
roles = ["ops"]

[[sso.roles]]
claim = "groups"
value = "dev"
roles = ["dev"]

[[sso.roles]]
claim = "groups"
value = "admins"
roles = ["guarded"]

[[sso]]
name = "old"
display_name = "Old IdP"
issuer = "http://127.0.0.1:${deadPort}"
client_id = "gatehouse"
client_secret_file = "sso-secret"

[[sso.roles]]
claim = "groups"
value = "ops"
roles = ["ops"]
`, { prepare: (dir) => fs.writeFileSync(path.join(dir, 'sso-secret'), `${SECRET}\n`) });
  idp = await startIdp({
    port: idpPort,
    clients: [{ client_id: 'gatehouse', client_secret: SECRET, redirect_uris: [`${proxy.url}/sso/callback/corp`] }],
    accounts: {
      olga: { groups: ['ops'] },
      sam: { groups: ['sales'] },
      ada: { groups: ['admins'] },
      admin: { groups: ['ops'] },
      tim: { groups: ['ops'] },
    },
  });
  node = await startNode(proxy);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await idp?.stop();
  await node?.stop();
  await proxy?.stop();
});

const audit = () => fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');
const users = () => proxy.cli('users', 'list');

/** A fresh browser (no cookies here or at the provider), on the sign-in page. */
async function freshPage(errors = []) {
  const context = await newContext(browser);
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${proxy.url}/signin`);
  return { context, page };
}

/** Clicks "Sign in with Corp ID" and signs in at the provider as `login`. */
async function viaCorp(page, login, options) {
  await page.getByTestId('sso-corp').click();
  await page.waitForURL((url) => url.origin === idp.issuer, { timeout: 15_000 });
  await signInAtProvider(page, login, options);
  await page.waitForURL((url) => url.origin === proxy.url, { timeout: 15_000 });
}

async function errorSaid(page) {
  const alert = page.getByTestId('error');
  await alert.waitFor({ timeout: 15_000 });
  return alert.textContent();
}

/**
 * The callback URL the provider sends `page` back to, unused: the page's post of it to
 * the proxy is cut off (the provider's redirects cannot be intercepted themselves).
 */
async function heldCallback(page, login) {
  let held;
  let posted = false;
  const seen = (request) => { if (request.url().startsWith(`${proxy.url}/sso/callback/corp?`)) held = request.url(); };
  page.on('request', seen);
  await page.route(`${proxy.url}/api/v1/sso/finish`, (route) => { posted = true; route.abort(); });
  await page.getByTestId('sso-corp').click();
  await page.waitForURL((url) => url.origin === idp.issuer, { timeout: 15_000 });
  await signInAtProvider(page, login);
  await until(() => held && posted, 'the provider to send the browser back');
  page.off('request', seen);
  await page.unroute(`${proxy.url}/api/v1/sso/finish`);
  return held;
}

describe('single sign-on with OpenID Connect', () => {
  test('a first sign-in through the provider makes the account with its mapped roles, and Connect works', async () => {
    const errors = [];
    const { context, page } = await freshPage(errors);
    await page.getByTestId('sso-corp').waitFor();
    await screenshot(page, '60-signin-with-sso-buttons');
    await viaCorp(page, 'olga');
    await page.getByTestId('current-user').waitFor({ timeout: 15_000 });
    assert.match(await page.getByTestId('current-user').textContent(), /olga/);
    await page.locator('[data-testid="node"][data-node="demo"]').waitFor();
    await screenshot(page, '61-sso-signed-in-resources');
    assert.match(audit(), /"kind":"sso.user_created","user":"olga".*single sign-on \(corp, subject olga\), roles ops/);
    assert.match(audit(), /"kind":"signin.ok","user":"olga".*single sign-on/);
    assert.match(users(), /olga\s+sso:corp\s+ops/);

    await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    const panel = page.locator('[data-testid="ssh-panel"][data-active="true"]');
    await panel.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await panel.getByTestId('terminal').click();
    await page.keyboard.type('echo sso-$((6*7))');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /^sso-42$/m.test(document.querySelector('[data-testid="ssh-panel"][data-active="true"] [data-testid="screen-text"]').textContent));
    await screenshot(page, '62-sso-ssh-tab');

    // Taken out of the group at the provider: the next sign-in maps the roles again,
    // and the session this role opened ends, with the sentence on the tab.
    idp.accounts.olga.groups = ['dev'];
    const second = await freshPage();
    await viaCorp(second.page, 'olga');
    await second.page.getByTestId('current-user').waitFor({ timeout: 15_000 });
    assert.match(audit(), /"kind":"sso.roles_changed","user":"olga".*roles ops → dev/);
    await panel.locator('[data-testid="ssh-status"][data-state="closed"], [data-testid="ssh-status"][data-state="ended"]').first().waitFor({ timeout: 5_000 }).catch(() => {});
    await until(async () => /no longer allow this session on demo/.test(await panel.textContent()), 'the tab to say its role went', 5_000);
    await screenshot(page, '63-sso-role-removed-ends-tab');
    await second.page.locator('[data-testid="node"][data-node="demo"]').waitFor({ state: 'detached', timeout: 5_000 }).catch(() => {});
    assert.equal(await second.page.locator('[data-testid="node"][data-node="demo"]').count(), 0, 'dev does not reach demo');
    assert.deepEqual(errors, []);
    await context.close();
    await second.context.close();
  });

  test('a role that wants a passkey per session has one added at the first sign-in and asked at the next', async () => {
    const { context, page } = await freshPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await viaCorp(page, 'ada');
    await page.getByTestId('sso-enrol').waitFor({ timeout: 15_000 });
    await screenshot(page, '64-sso-add-first-passkey');
    await page.getByTestId('sso-passkey-name').fill('ada laptop');
    await page.getByTestId('sso-enrol').click();
    await page.getByTestId('current-user').waitFor({ timeout: 15_000 });
    assert.match(audit(), /"kind":"passkey.added","user":"ada".*after single sign-on \(corp\)/);

    // The passkey alone does not stand in for the provider: someone it removed cannot
    // come back with the passkey it let them add.
    await page.getByTestId('sign-out').click();
    await page.getByTestId('sign-in-passkey').click();
    assert.match(await errorSaid(page), /This account signs in through single sign-on: use the corp button/);
    assert.equal(await page.getByTestId('current-user').count(), 0);

    // In again through the provider: its session is still there, so it sends the
    // browser straight back; then the passkey it added answers.
    await page.getByTestId('sso-corp').waitFor();
    await page.getByTestId('sso-corp').click();
    await page.getByTestId('current-user').waitFor({ timeout: 20_000 });
    assert.match(audit(), /"kind":"signin.ok","user":"ada".*single sign-on and passkey/);
    await context.close();
  });

  test('the provider being down, declined consent and no mapped role are each a sentence, and make no account', async () => {
    let { context, page } = await freshPage();
    await page.getByTestId('sso-old').click();
    assert.match(await errorSaid(page), /Gatehouse cannot reach Old IdP to sign you in \(reading its configuration failed: Connection refused.*\)\. Try again in a minute/);
    await screenshot(page, '65-sso-provider-down');
    await context.close();

    ({ context, page } = await freshPage());
    await viaCorp(page, 'tim', { consent: 'cancel' });
    assert.match(await errorSaid(page), /Corp ID did not sign you in: you \(or the provider\) declined/);
    await screenshot(page, '66-sso-consent-declined');
    await context.close();
    assert.doesNotMatch(users(), /\btim\b/);

    ({ context, page } = await freshPage());
    await viaCorp(page, 'sam');
    assert.match(await errorSaid(page), /Your account at Corp ID is in no group that gives a Gatehouse role/);
    await screenshot(page, '67-sso-no-role');
    await context.close();
    assert.doesNotMatch(users(), /\bsam\b/);
    assert.match(audit(), /"kind":"sso.refused".*Old IdP/);
    assert.match(audit(), /"kind":"sso.refused".*declined/);
    assert.match(audit(), /"kind":"sso.refused".*no group/);
  });

  for (const [mode, said] of [
    ['audience', /Invalid audiences|audience/i],
    ['expired', /expired/i],
    ['tampered', /signature/i],
  ]) {
    test(`an ID token ${mode === 'tampered' ? 'tampered with' : mode === 'audience' ? 'for another audience' : 'already expired'} is refused with the reason`, async () => {
      const { context, page } = await freshPage();
      idp.tamper.mode = mode;
      try {
        await viaCorp(page, 'tim');
        const text = await errorSaid(page);
        assert.match(text, /Corp ID's answer does not prove who you are/);
        assert.match(text, said);
        await screenshot(page, `68-sso-token-${mode}`);
      } finally {
        idp.tamper.mode = null;
      }
      assert.equal(await page.getByTestId('current-user').count(), 0);
      await context.close();
      assert.doesNotMatch(users(), /\btim\b|\badmin\b.*ops/);
    });
  }

  test('a replayed callback, a replayed code, a state nobody issued and another browser are refused', async () => {
    const { context, page } = await freshPage();
    const callback = await heldCallback(page, 'tim');
    await page.goto(callback);
    await page.getByTestId('current-user').waitFor({ timeout: 15_000 });
    const code = new URL(callback).searchParams.get('code');

    // The same callback again: the flow was used.
    const again = await context.newPage();
    await again.goto(callback);
    assert.match(await errorSaid(again), /This sign-in has expired or was already used/);
    await screenshot(again, '69-sso-replayed-callback');

    // The used code with a state of a new flow of this browser: the provider refuses it.
    const start = await again.evaluate(async () => {
      const res = await fetch('/api/v1/sso/corp/start', { method: 'POST', headers: { 'x-csrf-token': 'pre-session', 'content-type': 'application/json' }, body: '{}' });
      return res.json();
    });
    const state = new URL(start.url).searchParams.get('state');
    await again.goto(`${proxy.url}/sso/callback/corp?state=${encodeURIComponent(state)}&code=${encodeURIComponent(code)}`);
    assert.match(await errorSaid(again), /Corp ID refused to finish the sign-in \(invalid_grant/);

    // A state the proxy never issued.
    await again.goto(`${proxy.url}/sso/callback/corp?state=made-up&code=${encodeURIComponent(code)}`);
    assert.match(await errorSaid(again), /This sign-in has expired or was already used/);
    await context.close();

    // Login CSRF: an attacker's own callback, opened in the victim's browser, signs
    // nobody in (the flow is bound to the attacker's browser's cookie).
    const attacker = await freshPage();
    const planted = await heldCallback(attacker.page, 'olga');
    const victim = await freshPage();
    await victim.page.goto(planted);
    assert.match(await errorSaid(victim.page), /started in another browser/);
    assert.equal(await victim.page.getByTestId('current-user').count(), 0);
    await screenshot(victim.page, '70-sso-other-browser');
    await attacker.context.close();
    await victim.context.close();
    assert.match(audit(), /"kind":"sso.refused".*another browser/);
  });

  test('a code from one provider is not taken to another\'s flow (the mix-up attack), nor one naming another issuer', async () => {
    const { context, page } = await freshPage();
    const callback = new URL(await heldCallback(page, 'tim'));
    // The browser's flow went to Corp ID; the answer arrives at Old IdP's callback path.
    await page.goto(`${proxy.url}/sso/callback/old${callback.search}`);
    assert.match(await errorSaid(page), /This sign-in went to Corp ID but came back from somewhere else/);
    await screenshot(page, '71-sso-mix-up');
    await context.close();
    const other = await freshPage();
    const again = new URL(await heldCallback(other.page, 'tim'));
    again.searchParams.set('iss', 'https://evil.example');
    await other.page.goto(again.toString());
    assert.match(await errorSaid(other.page), /came back from somewhere else/);
    assert.equal(await other.page.getByTestId('current-user').count(), 0);
    await other.context.close();
  });

  test('a provider user named like a local account does not take it over', async () => {
    assert.match(users(), /\badmin\b/, 'the first admin exists, made at first start');
    const { context, page } = await freshPage();
    await viaCorp(page, 'admin');
    assert.match(await errorSaid(page), /A Gatehouse account named admin already exists and is not linked to Corp ID/);
    await context.close();
  });
});
