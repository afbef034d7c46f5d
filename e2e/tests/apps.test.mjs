// Web apps behind Gatehouse: a person launches an app from the resources page; the app
// (e2e/apps/whoami.mjs, a real HTTP server that verifies every request's
// Gatehouse-Jwt-Assertion with npm's `jose` against the proxy's published keys) shows
// who they are and their roles, and a WebSocket inside it works through the proxy. A
// role without the app is refused; signing out ends the app session and its WebSocket;
// an assertion the browser forges or replays never reaches the app; a launch link used
// twice or in another browser is refused; a rotated key still verifies the tokens it
// signed until they expire; an app that is down, or too slow, or locked is a sentence.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { freePort, launchBrowser, root, screenshot, signedInPage, startProxy, until } from '../lib/harness.mjs';

let proxy;
let app;
let browser;
let appPort;
let appOrigin;
const errors = [];

const audit = () => fs.readFileSync(path.join(proxy.dataDir, 'audit.jsonl'), 'utf8');

async function startApp() {
  const child = spawn(process.execPath, [
    path.join(root, 'e2e', 'apps', 'whoami.mjs'), '--port', String(appPort), '--gatehouse', proxy.url,
    '--audience', `http://127.0.0.1:${appPort}`, '--ca', path.join(proxy.dataDir, 'tls', 'cert.pem'),
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { if (String(d).includes('listening')) resolve(); });
    child.on('exit', (code) => reject(new Error(`whoami exited ${code}`)));
  });
  return child;
}

/** The JSON `/whoami.json` answers in `page` (on the app's origin), with extra headers. */
function whoami(page, headers = {}) {
  return page.evaluate(async (h) => (await fetch('/whoami.json', { headers: h })).json(), headers);
}

/** Opens the app from the resources page of `page`'s Gatehouse tab; returns the app's tab. */
async function launch(context, page, name = 'whoami') {
  await page.goto(proxy.url);
  const button = page.locator(`[data-testid=app][data-app=${name}] [data-testid=launch-app]`);
  await button.waitFor();
  const [tab] = await Promise.all([context.waitForEvent('page'), button.click()]);
  tab.on('pageerror', (err) => errors.push(err.message));
  await tab.locator('[data-testid=who]').waitFor({ timeout: 15_000 });
  return tab;
}

before(async () => {
  appPort = await freePort();
  const downPort = await freePort();
  proxy = await startProxy(`
[[apps]]
name = "whoami"
uri = "http://127.0.0.1:${appPort}"
labels = { env = "demo" }

# The same server under a second name: another app, on another origin.
[[apps]]
name = "mirror"
uri = "http://127.0.0.1:${appPort}"
labels = { env = "demo" }

[[apps]]
name = "down"
uri = "http://127.0.0.1:${downPort}"
labels = { env = "demo" }

[roles.dev]
node_labels = { env = "nowhere" }
logins = ["nobody"]
app_labels = { env = "demo" }

[roles.outsider]
node_labels = { env = "nowhere" }
logins = ["nobody"]

[app_access]
token_ttl = "5s"
audit_requests = true
response_timeout = "2s"
key_publish_ahead = "12s"
`);
  appOrigin = `https://whoami.localhost:${proxy.port}`;
  app = await startApp();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  app?.kill();
  await proxy?.stop();
  // Refusals are answers with an error status, which Chromium logs; anything else fails.
  assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), [], 'no script errors in the page');
});

describe('web apps', () => {
  test('launched from the resources page, the app verifies who is calling and its WebSocket works', async () => {
    const { context, page } = await signedInPage(proxy, browser, 'ada', ['dev'], errors);
    const tab = await launch(context, page);
    assert.equal(new URL(tab.url()).origin, appOrigin, 'the app is on its own origin');
    assert.equal(await tab.locator('[data-testid=who]').textContent(), 'Hello, ada');
    assert.equal(await tab.locator('[data-testid=roles]').textContent(), 'dev');
    await until(async () => /hello ada · echo: ping/.test(await tab.locator('[data-testid=ws]').textContent()), 'the WebSocket greets and echoes');
    assert.doesNotMatch(await tab.locator('[data-testid=cookies]').textContent(), /__Host-gatehouse/, 'no Gatehouse cookie reaches the app');
    await screenshot(tab, '80-app-whoami');
    await screenshot(page, '81-resources-with-app');

    const seen = await whoami(tab);
    assert.equal(seen.verified, true, seen.error);
    assert.equal(seen.claims.iss, proxy.url);
    assert.equal(seen.claims.aud, `http://127.0.0.1:${appPort}`);
    assert.equal(seen.claims.app, 'whoami');
    assert.ok(seen.claims.exp - seen.claims.iat <= 5, 'a short life');
    assert.ok(seen.claims.jti);
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-host'], `whoami.localhost:${proxy.port}`);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers.host, `127.0.0.1:${appPort}`);
    assert.ok(!('x-csrf-token' in seen.headers), 'no CSRF token reaches the app');
    assert.doesNotMatch(seen.headers.cookie ?? '', /__Host-gatehouse/);
    assert.match(seen.headers.cookie ?? '', /whoami_theme=light/, "the app's own cookie comes back");
    await until(() => /"kind":"app.session_started","user":"ada"/.test(audit()), 'the app session audited');
    assert.match(audit(), /"kind":"app.request","user":"ada".*whoami: GET \/whoami.json 200/);

    // Gatehouse's own routes are not on the app's origin: this goes to the app.
    const health = await tab.evaluate(async () => (await fetch('/api/v1/health')).status);
    assert.equal(health, 200, 'answered by the app (its page), not by Gatehouse');
    const notOurs = await tab.evaluate(async () => (await fetch('/api/v1/health')).headers.get('content-type'));
    assert.match(notOurs, /text\/html/);

    // Bodies stream both ways.
    const upload = await tab.evaluate(async () => {
      const body = new Uint8Array(24 << 20);
      for (let i = 0; i < body.length; i += 4096) body[i] = i & 0xff;
      const digest = await crypto.subtle.digest('SHA-256', body);
      const sent = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
      const answer = await (await fetch('/echo', { method: 'POST', body })).json();
      const big = await (await fetch('/bytes?mb=48')).arrayBuffer();
      return { sent, answer, big: big.byteLength };
    });
    assert.equal(upload.answer.sha256, upload.sent);
    assert.equal(upload.answer.length, 24 << 20);
    assert.equal(upload.answer.user, 'ada');
    assert.equal(upload.big, 48 << 20);

    // A redirect to the app's internal address comes back as its public one.
    await tab.goto(`${appOrigin}/redirect`);
    assert.equal(tab.url(), `${appOrigin}/whoami.json?from=redirect`);
    await context.close();
  });

  test('an assertion the browser forges or replays never reaches the app', async () => {
    const { context, page } = await signedInPage(proxy, browser, 'fred', ['dev'], errors);
    const tab = await launch(context, page);
    const first = await whoami(tab);
    const forged = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ username: 'admin', roles: ['admin'] })).toString('base64url')}.`;
    const withForged = await whoami(tab, { 'Gatehouse-Jwt-Assertion': forged });
    assert.equal(withForged.verified, true);
    assert.equal(withForged.claims.username, 'fred');
    assert.notEqual(withForged.token, forged, 'the forged header was replaced');
    const replayed = await whoami(tab, { 'gatehouse-jwt-assertion': first.token });
    assert.notEqual(replayed.token, first.token, 'the replayed header was replaced by a fresh token');
    assert.notEqual(replayed.claims.jti, first.claims.jti);
    await context.close();
  });

  test("another app's pages cannot act as the user on this app: no state-changing request, no WebSocket", async () => {
    const { context, page } = await signedInPage(proxy, browser, 'eve', ['dev'], errors);
    const whoamiTab = await launch(context, page);
    const mirror = await launch(context, page, 'mirror');
    assert.equal(new URL(mirror.url()).origin, `https://mirror.localhost:${proxy.port}`);
    assert.equal((await whoami(mirror)).claims.app, 'mirror', 'the same server, told apart by the claim');
    // From mirror's page (same site, another origin) at whoami: the browser sends
    // whoami's cookie (SameSite=Lax is per site), so only the proxy can say no.
    const attempt = await mirror.evaluate(async (target) => {
      await fetch(`${target}/echo`, { method: 'POST', body: 'from mirror', mode: 'no-cors', credentials: 'include' });
      const ws = await new Promise((resolve) => {
        const socket = new WebSocket(`${target.replace('https', 'wss')}/ws`);
        socket.onmessage = (e) => resolve(`message: ${e.data}`);
        socket.onerror = () => resolve('refused');
      });
      return ws;
    }, appOrigin);
    assert.equal(attempt, 'refused');
    await until(() => /"kind":"app.refused".*whoami: POST \/echo from another site \(https:\/\/mirror\.localhost/.test(audit()), 'the POST refused');
    assert.match(audit(), /"kind":"app.refused".*whoami: GET \/ws from another site \(https:\/\/mirror\.localhost/);
    // On its own origin the same requests go through.
    const own = await whoamiTab.evaluate(async () => (await (await fetch('/echo', { method: 'POST', body: 'x' })).json()).length);
    assert.equal(own, 1);
    await context.close();
  });

  test('a role without the app is refused, on the resources page and at the app', async () => {
    const { context, page } = await signedInPage(proxy, browser, 'olga', ['outsider'], errors);
    await page.goto(proxy.url);
    await page.locator('[data-testid=resources-empty]').waitFor();
    await page.goto(`${appOrigin}/`);
    const alert = page.locator('[data-testid=error]');
    await alert.waitFor();
    assert.match(await alert.textContent(), /Your roles do not give you access to the app whoami\./);
    assert.equal(new URL(page.url()).origin, proxy.url, 'the refusal is on Gatehouse, before any app session');
    await screenshot(page, '82-app-refused-role');
    await until(() => /"kind":"app.refused","user":"olga".*Your roles do not give you access to the app whoami/.test(audit()), 'refusal audited');
    await context.close();
  });

  test('a launch link is good once, and only in the browser that asked for it', async () => {
    const mallory = await signedInPage(proxy, browser, 'mallory', ['dev'], errors);
    // Mallory starts a launch in her browser and keeps the link instead of following it.
    let link;
    await mallory.context.route('**/.gatehouse/launch*', (route) => { link = route.request().url(); return route.abort(); });
    await mallory.page.goto(`${appOrigin}/`).catch(() => {});
    await until(() => link, 'the launch link');
    await mallory.context.unroute('**/.gatehouse/launch*');
    // Another person's browser, lured to it, does not get Mallory's app session.
    const victim = await signedInPage(proxy, browser, 'vera', ['dev'], errors);
    await victim.page.goto(link);
    assert.match(await victim.page.locator('p.sentence').textContent(), /opened in another browser than the one that asked for it/);
    await screenshot(victim.page, '83-app-launch-link-refused');
    // The token is spent now, even for Mallory.
    await mallory.page.goto(link);
    assert.match(await mallory.page.locator('p.sentence').textContent(), /used already, has expired, or was opened in another browser/);
    await mallory.context.close();
    await victim.context.close();
  });

  test('signing out of Gatehouse ends the app session and its WebSocket within 2 seconds', async () => {
    const { context, page, session } = await signedInPage(proxy, browser, 'sam', ['dev'], errors);
    const tab = await launch(context, page);
    await until(async () => /echo: ping/.test(await tab.locator('[data-testid=ws]').textContent()), 'the WebSocket is up');
    const started = Date.now();
    const out = await proxy.request('DELETE', '/api/v1/session', { headers: { cookie: session.cookie, 'x-csrf-token': session.csrf } });
    assert.equal(out.status, 204);
    await tab.waitForFunction(() => document.body.dataset.wsClosed === '1', null, { timeout: 5_000 });
    const ms = Date.now() - started;
    console.log(`the app's WebSocket closed ${ms} ms after sign-out`);
    assert.ok(ms < 2000, `the app's WebSocket closed ${ms} ms after sign-out`);
    // The next request has no app session: the browser is sent to sign in again.
    const stale = await tab.evaluate(async () => (await fetch('/whoami.json')).status);
    assert.equal(stale, 401);
    await tab.goto(`${appOrigin}/`);
    await tab.waitForURL(`${proxy.url}/signin`);
    await until(() => /"kind":"app.session_ended","user":"sam".*whoami: signed out/.test(audit()), 'the end audited');
    await context.close();
  });

  test('a rotated key verifies the tokens it signed until they expire; new tokens use the new key', async () => {
    const { context, page } = await signedInPage(proxy, browser, 'kim', ['dev'], errors);
    const tab = await launch(context, page);
    const before = await whoami(tab);
    proxy.cli('apps', 'rotate-key');
    // The new key is published at once, and signs only later (key_publish_ahead).
    const published = (await proxy.request('GET', '/.well-known/jwks.json')).json.keys.map((k) => k.kid);
    assert.equal(published.length, 2, `the new key is published before it signs: ${published}`);
    assert.equal((await whoami(tab)).kid, before.kid, 'the old key still signs');
    assert.match(proxy.cli('apps', 'keys'), /published, signs from/);
    // The last token the old key signs is kept, to verify once the new key signs.
    let after;
    let lastOld = before;
    await until(async () => {
      after = await whoami(tab);
      if (after.kid === before.kid) lastOld = after;
      return after.kid !== before.kid;
    }, 'tokens signed with the new key', 20_000);
    // The app (jose, caching the key set) verified it: it knew the key already.
    assert.equal(after.verified, true, after.error);
    const jwks = (await proxy.request('GET', '/.well-known/jwks.json')).json;
    const kids = jwks.keys.map((k) => k.kid);
    assert.ok(kids.includes(before.kid) && kids.includes(after.kid), `both keys published: ${kids}`);
    for (const k of jwks.keys) assert.equal(k.kty, 'OKP');
    const keys = createLocalJWKSet(jwks);
    const options = { issuer: proxy.url, audience: `http://127.0.0.1:${appPort}`, algorithms: ['EdDSA'] };
    const old = await jwtVerify(lastOld.token, keys, options);
    assert.equal(old.payload.username, 'kim', 'the old key still verifies the token it signed last');
    await new Promise((r) => setTimeout(r, (lastOld.claims.exp - Date.now() / 1000 + 1.5) * 1000));
    await assert.rejects(jwtVerify(lastOld.token, keys, options), /exp/, 'and not once it expired');
    assert.match(proxy.cli('apps', 'keys'), /retired at/);
    assert.match(audit(), /"kind":"app.key_rotated"/);
    await context.close();
  });

  test('an app that is down, too slow, or locked is a sentence on its origin', async () => {
    const { context, page } = await signedInPage(proxy, browser, 'dana', ['dev'], errors);
    await page.goto(`https://down.localhost:${proxy.port}/`);
    const sentence = page.locator('p.sentence');
    await sentence.waitFor();
    assert.match(await sentence.textContent(), /The app down is not answering at its address/);
    await screenshot(page, '84-app-down');
    const tab = await launch(context, page);
    await tab.goto(`${appOrigin}/slow?ms=5000`);
    assert.match(await tab.locator('p.sentence').textContent(), /The app whoami did not answer within 2 s/);
    await tab.goto(`${appOrigin}/`);
    await until(async () => /echo: ping/.test(await tab.locator('[data-testid=ws]').textContent()), 'the WebSocket is up');
    proxy.cli('lock', 'app', 'whoami', '--reason', 'upgrade in progress');
    await tab.waitForFunction(() => document.body.dataset.wsClosed === '1', null, { timeout: 5_000 });
    await tab.reload();
    assert.match(await tab.locator('p.sentence').textContent(), /upgrade in progress/);
    await screenshot(tab, '85-app-locked');
    proxy.cli('lock', 'remove', proxy.cli('lock', 'list').match(/^\s*(\d+)/m)[1]);
    await context.close();
  });
});
