// A person's first day: invite link, password, authenticator, sign-in, reload,
// sign-out; then the ways sign-in goes wrong. Real proxy, real Chromium.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Authenticator, launchBrowser, newContext, screenshot, startProxy, until } from '../lib/harness.mjs';

const PASSWORD = 'correct horse battery staple';
const COOKIE = '__Host-gatehouse_session';

let proxy;
let browser;

before(async () => {
  proxy = await startProxy();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
});

/** Opens an invite link in a new page and completes enrolment; returns the authenticator. */
async function enrol(page, link, name) {
  await page.goto(link);
  await page.getByTestId('invite-user').waitFor();
  assert.equal(await page.getByTestId('invite-user').textContent(), name);
  const secret = await page.getByTestId('totp-secret').getAttribute('data-secret');
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await page.getByTestId('new-password').fill(PASSWORD);
  await page.getByTestId('confirm-password').fill(PASSWORD);
  const authenticator = new Authenticator(secret);
  await page.getByTestId('enrol-code').fill(await authenticator.nextCode());
  return authenticator;
}

/** Enrols through the invite page to the end; returns the authenticator. */
async function enrolFully(page, name) {
  const authenticator = await enrol(page, proxy.addUser(name), name);
  await page.getByTestId('finish-invite').click();
  await page.getByTestId('invite-done').waitFor();
  return authenticator;
}

async function signIn(page, name, password, code) {
  await page.getByTestId('username').fill(name);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('totp').fill(code);
  await page.getByTestId('sign-in').click();
}

describe('sign-in journey', () => {
  test('a new user enrols from the invite link, signs in, reloads and signs out', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    const cspViolations = [];
    page.on('console', (msg) => { if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text()); });

    const link = proxy.addUser('alice', ['dev']);
    const authenticator = await enrol(page, link, 'alice');
    await page.getByTestId('totp-qr').locator('svg').waitFor();
    await screenshot(page, '01-invite');
    await page.getByTestId('finish-invite').click();
    await page.getByTestId('invite-done').waitFor();
    await screenshot(page, '02-invite-done');

    await page.getByTestId('go-sign-in').click();
    await page.waitForURL(/\/signin\?user=alice$/);
    assert.equal(await page.getByTestId('username').inputValue(), 'alice', 'the name is filled in');
    await screenshot(page, '03-signin');
    await signIn(page, 'alice', PASSWORD, await authenticator.nextCode());

    await page.getByTestId('resources-empty').waitFor();
    assert.equal(new URL(page.url()).pathname, '/');
    assert.match(await page.getByTestId('current-user').textContent(), /alice/);
    await screenshot(page, '04-resources-light');

    const cookie = (await context.cookies()).find((c) => c.name === COOKIE);
    assert.ok(cookie, 'the session cookie is set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true);
    assert.equal(cookie.sameSite, 'Strict');
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
    assert.doesNotMatch(stored, /csrf|token|session/i, 'nothing secret in localStorage');

    const hostCa = execFileSync('ssh-keygen', ['-l', '-f', `${proxy.dir}/data/ca/host_ca.pub`], { encoding: 'utf8' }).split(' ')[1];
    assert.match(link, /&pin=SHA256:/, 'the invite link carries the host CA pin');
    assert.equal(await page.evaluate(() => localStorage.getItem('gatehouse.host_ca_pin')), hostCa, 'pinned from the link');
    assert.equal(await page.getByTestId('pinned-fingerprint').textContent(), hostCa);

    await page.reload();
    await page.getByTestId('resources-empty').waitFor();
    assert.match(await page.getByTestId('current-user').textContent(), /alice/, 'still signed in after reload');

    await page.getByTestId('theme-toggle').click();
    const theme = await page.evaluate(() => document.documentElement.dataset.theme);
    assert.equal(theme, 'dark');
    await screenshot(page, '05-resources-dark');
    await page.getByTestId('theme-toggle').click();

    await page.getByTestId('reset-pin').click();
    await page.getByTestId('pin-unset').waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('gatehouse.host_ca_pin')), null, 'reset forgets the pin');

    await page.getByTestId('sign-out').click();
    await page.waitForURL(/\/signin$/);
    assert.equal((await context.cookies()).find((c) => c.name === COOKIE), undefined, 'cookie gone');
    const old = await proxy.request('GET', '/api/v1/resources', { headers: { cookie: `${COOKIE}=${cookie.value}` } });
    assert.equal(old.status, 401, 'the server ended the session too');

    await page.goto(`${proxy.url}/`);
    await page.waitForURL(/\/signin$/);
    assert.deepEqual(cspViolations, [], 'the app runs under the strict CSP');
    await context.close();
  });

  test('a wrong password gets one clear error and the form stays usable', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    const authenticator = await enrolFully(page, 'bob');

    await page.goto(`${proxy.url}/signin`);
    await signIn(page, 'bob', 'not my password', await authenticator.nextCode());
    const error = page.getByTestId('error');
    await error.waitFor();
    assert.equal(await error.textContent(), '!The user name, password or code is wrong.');
    await screenshot(page, '06-signin-wrong-password');

    await signIn(page, 'nobody', PASSWORD, '123456');
    await page.waitForFunction(() => document.querySelector('[data-testid="sign-in"]:not([disabled])'));
    assert.equal(await error.textContent(), '!The user name, password or code is wrong.', 'unknown users get the same answer');

    await signIn(page, 'bob', PASSWORD, await authenticator.nextCode());
    await page.getByTestId('resources-empty').waitFor();
    await context.close();
  });

  test('repeated failures lock the account, even against the right password', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    const authenticator = await enrolFully(page, 'carol');

    await page.goto(`${proxy.url}/signin`);
    const error = page.getByTestId('error');
    for (let i = 1; i <= 5; i++) {
      await signIn(page, 'carol', `wrong password ${i}`, '000000');
      await page.waitForFunction(() => document.querySelector('[data-testid="sign-in"]:not([disabled])'));
    }
    assert.match(await error.textContent(), /Too many failed sign-ins\. Try again in 15 minutes/);

    await signIn(page, 'carol', PASSWORD, await authenticator.nextCode());
    await page.waitForFunction(() => document.querySelector('[data-testid="sign-in"]:not([disabled])'));
    assert.match(await error.textContent(), /Too many failed sign-ins/, 'locked even with the right password');
    assert.equal(new URL(page.url()).pathname, '/signin');
    await screenshot(page, '07-signin-locked');

    const audit = await import('node:fs').then((fs) =>
      fs.readFileSync(`${proxy.dir}/data/audit.jsonl`, 'utf8').trim().split('\n').map(JSON.parse));
    assert.ok(audit.some((r) => r.kind === 'signin.locked' && r.user === 'carol'), 'the lockout is audited');
    assert.ok(audit.some((r) => r.kind === 'signin.failed' && r.user === 'carol'), 'failures are audited');
    assert.ok(audit.some((r) => r.kind === 'signin.ok' && r.user === 'alice'), 'sign-ins are audited');
    await context.close();
  });

  test('/signin loads first as the sign-in app alone; signing in, or any link from it, loads the whole app', async () => {
    const whole = (await proxy.request('GET', '/index.html')).text.match(/gatehouse-web-[0-9a-f]+_bg\.wasm/)?.[0];
    assert.ok(whole, "the whole app's wasm is named in index.html");
    const enrolling = await newContext(browser);
    const authenticator = await enrolFully(await enrolling.newPage(), 'sid');
    await enrolling.close();

    // A browser that has never been here: what the first page costs, counted by Chromium.
    // It trusts the proxy's certificate, as a person who accepted it does: Chromium
    // caches nothing over a certificate error, and the cache is part of what is tested.
    const trusting = await launchBrowser({ trustProxy: proxy });
    const context = await newContext(trusting, { ignoreHTTPSErrors: false });
    const page = await context.newPage();
    const problems = [];
    page.on('console', (msg) => { if (msg.type() === 'error' && !/status of 401/.test(msg.text())) problems.push(msg.text()); });
    page.on('pageerror', (err) => problems.push(err.message));
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const fetched = new Map();
    cdp.on('Network.responseReceived', (e) => fetched.set(e.requestId, new URL(e.response.url).pathname));
    let wire = 0;
    cdp.on('Network.loadingFinished', (e) => { wire += e.encodedDataLength; });
    await page.goto(`${proxy.url}/signin`);
    await page.getByTestId('sign-in').waitFor();
    await page.waitForLoadState('networkidle');
    const wasm = () => [...fetched.values()].filter((p) => p.endsWith('.wasm'));
    assert.deepEqual(wasm().map((p) => p.replace(/-[0-9a-f]+_bg/, '')), ['/gatehouse-signin.wasm'], 'only the sign-in app');
    assert.ok(wire < 250 * 1024, `the first load is ${(wire / 1024).toFixed(1)} KiB on the wire`);
    console.log(`/signin's first load: ${(wire / 1024).toFixed(1)} KiB on the wire`);
    await screenshot(page, '03b-signin-app');

    // Its links are page loads of the whole app (which, signed out, shows its own form).
    await page.locator('a.brand').click();
    await until(() => wasm().includes(`/${whole}`), "the brand's link loads the whole app");
    await page.getByTestId('sign-in').waitFor();
    assert.equal(new URL(page.url()).pathname, '/signin');

    // The sign-in app's own file is not a second address for it.
    await page.goto(`${proxy.url}/signin.html`);
    await page.waitForURL(`${proxy.url}/signin`);
    // Back to a first load of /signin on an empty cache. The whole app is fetched once
    // the person starts to type, and the page load after signing in takes it from there.
    await cdp.send('Network.clearBrowserCache');
    const requests = new Map();
    cdp.on('Network.requestWillBeSent', (e) => requests.set(e.requestId, { path: new URL(e.request.url).pathname, cached: false, done: false }));
    cdp.on('Network.requestServedFromCache', (e) => { if (requests.has(e.requestId)) requests.get(e.requestId).cached = true; });
    cdp.on('Network.responseReceived', (e) => { if (requests.has(e.requestId) && e.response.fromDiskCache) requests.get(e.requestId).cached = true; });
    cdp.on('Network.loadingFinished', (e) => { if (requests.has(e.requestId)) requests.get(e.requestId).done = true; });
    const wholeWasm = () => [...requests.values()].filter((r) => r.path === `/${whole}`);
    await page.goto(`${proxy.url}/signin`);
    await page.getByTestId('sign-in').waitFor();
    await page.waitForLoadState('networkidle');
    assert.deepEqual(wholeWasm(), [], 'nothing of the whole app before the person starts');
    await page.getByTestId('username').focus();
    await until(() => wholeWasm().some((r) => r.done && !r.cached), 'the whole app fetched while signing in');
    // One page load after signing in: a second one started on top would abort the first
    // (what a person sees as a flicker, and what a test waiting for the address sees fail).
    const aborted = [];
    page.on('requestfailed', (r) => { if (r.resourceType() === 'document') aborted.push(`${r.url()} ${r.failure()?.errorText}`); });
    await signIn(page, 'sid', PASSWORD, await authenticator.nextCode());
    await page.getByTestId('resources-empty').waitFor();
    assert.deepEqual(aborted, [], 'no page load after signing in was cut short by another');
    assert.deepEqual(wholeWasm().map((r) => r.cached), [false, true], 'fetched once, then loaded from the cache');
    assert.equal(new URL(page.url()).pathname, '/');
    assert.match(await page.getByTestId('current-user').textContent(), /sid/);
    // Signed in already, /signin sends the person on, a host CA pin in the link kept.
    await page.evaluate(() => localStorage.removeItem('gatehouse.host_ca_pin'));
    const hostCa = execFileSync('ssh-keygen', ['-l', '-f', `${proxy.dir}/data/ca/host_ca.pub`], { encoding: 'utf8' }).split(' ')[1];
    await page.goto(`${proxy.url}/signin#pin=${hostCa}`);
    await page.waitForURL(`${proxy.url}/`);
    await page.getByTestId('current-user').waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('gatehouse.host_ca_pin')), hostCa, 'the pin came through');
    assert.deepEqual(problems, []);
    await context.close();
    await trusting.close();
  });

  test('a used or made-up invite link says what to do', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(`${proxy.url}/invite#token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`);
    await page.getByTestId('error').waitFor();
    assert.match(await page.getByTestId('error').textContent(), /expired or was already used\. Ask an admin for a new one\./);
    await screenshot(page, '08-invite-invalid');
    await context.close();
  });
});
