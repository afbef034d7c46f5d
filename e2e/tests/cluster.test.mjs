// Several proxies, one cluster: two `gatehouse` processes on one PostgreSQL database
// with one set of keys, behind Debian's HAProxy, as README's "Running several proxies"
// sets them up (the harness's startCluster writes exactly that). A person in Chromium
// uses the load balancer's address only; which proxy answers is HAProxy's choice,
// read back from its request log.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  confirmIfAsked, contextWithSession, freePort, launchBrowser, root, screenshot, startCluster, startNode, until,
} from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const APP_PORT = await freePort();
const CONFIG = `
[[apps]]
name = "whoami"
uri = "http://127.0.0.1:${APP_PORT}"
labels = { env = "demo" }

[roles.apps]
app_labels = { env = "demo" }

[roles.recorded]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
recordings = "own"

[roles.auditor]
recordings = "all"
`;

let cluster;
let node;
let app;
let browser;
let pageErrors = [];
const measured = {};

before(async () => {
  cluster = await startCluster(CONFIG);
  node = await startNode(cluster.proxies[0]);
  browser = await launchBrowser();
  app = spawn(process.execPath, [
    path.join(root, 'e2e', 'apps', 'whoami.mjs'), '--port', String(APP_PORT), '--gatehouse', cluster.url,
    '--audience', `http://127.0.0.1:${APP_PORT}`, '--ca', path.join(cluster.dir, 'tls.pem'),
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => app.stdout.once('data', resolve));
});

afterEach(() => {
  const errors = pageErrors.filter((e) => !/WebSocket|ERR_CONNECTION|Failed to load resource/.test(e));
  pageErrors = [];
  assert.deepEqual(errors, [], 'the app logged no errors');
});

after(async () => {
  console.log(`cluster figures: ${JSON.stringify(measured)}`);
  await browser?.close();
  app?.kill();
  await node?.stop();
  await cluster?.stop();
});

/** The proxies (HAProxy's server names, `a` and `b`) that served requests matching `pattern`, in order. */
function servedBy(pattern) {
  return cluster.lbLog().split('\n').filter((line) => pattern.test(line)).map((line) => line.match(/ proxies\/([a-z])\b/)?.[1]);
}

async function pageIn(context) {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(msg.text().slice(0, 600)); });
  return page;
}

const panel = (page) => page.locator('[data-testid="ssh-panel"][data-active="true"]');
const screenText = (page) => panel(page).getByTestId('screen-text').textContent();
async function waitForScreen(page, pattern, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = await screenText(page);
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`screen never matched ${pattern}:\n${text}`);
    await page.waitForTimeout(100);
  }
}

/** How many SSH sessions of `user` each proxy started, from each proxy's own audit file. */
function sessionsOn(user) {
  return cluster.proxies.map((p) => {
    const file = path.join(p.dir, 'data', 'audit.jsonl');
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    return text.split('\n').filter((l) => l.includes('"kind":"ssh.start"') && l.includes(`"user":"${user}"`)).length;
  });
}

/** Opens an SSH tab to the demo node in a new page; returns the page and the proxy its socket landed on. */
async function openTab(context, user) {
  const page = await pageIn(context);
  const before = sessionsOn(user);
  const socket = page.waitForEvent('websocket', (ws) => ws.url().includes('/api/v1/nodes/demo/ssh'));
  await page.goto(`${cluster.url}/ssh/demo?login=${LOGIN}`);
  await panel(page).locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
  await waitForScreen(page, /[$#] *$/m);
  const now = sessionsOn(user);
  const on = now.findIndex((n, i) => n > before[i]);
  assert.ok(on >= 0, `one proxy audited the session's start (${before} → ${now})`);
  return { page, proxy: cluster.proxies[on], name: 'ab'[on], socket: await socket };
}

/**
 * Opens tabs until two of them run on different proxies (HAProxy's leastconn usually
 * needs two; a socket still closing on one proxy can make it three). Returns those two.
 */
async function tabsOnBothProxies(context, user) {
  const tabs = [];
  while (tabs.length < 4) {
    const tab = await openTab(context, user);
    const other = tabs.find((t) => t.name !== tab.name);
    if (other) return [other, tab];
    tabs.push(tab);
  }
  throw new Error(`four tabs all landed on proxy ${tabs[0].name}`);
}

async function type(page, text) {
  await panel(page).getByTestId('terminal').click();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}


describe('several proxies behind one address', () => {
  test('sign in with a password and TOTP, then with a passkey whose ceremony starts on one proxy and ends on the other', async () => {
    const session = await cluster.enrolAndSignIn('ana', ['recorded']);
    const context = await contextWithSession(browser, cluster, session.cookie);
    const page = await pageIn(context);
    // The web session made on proxy a is good on both.
    for (const p of cluster.proxies) {
      const res = await p.request('GET', '/api/v1/session', { headers: { cookie: session.cookie } });
      assert.equal(res.status, 200, `the session is known on ${p.port}`);
    }
    await page.goto(`${cluster.url}/account`);
    await page.getByTestId('passkey-name').fill('cluster laptop');
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
        isUserVerified: true, automaticPresenceSimulation: true,
      },
    });
    await page.getByTestId('add-passkey').click();
    await confirmIfAsked(page, session, page.locator('[data-testid="passkey"]', { hasText: 'cluster laptop' }));
    await page.getByTestId('sign-out').click();
    await page.waitForURL(/\/signin$/);

    // The ceremony's start goes to proxy a and its answer to proxy b, whatever HAProxy would choose.
    const [a, b] = cluster.proxies;
    const via = (p) => async (route) => {
      const url = route.request().url().replace(cluster.url, `https://localhost:${p.port}`);
      await route.fulfill({ response: await route.fetch({ url }) });
    };
    await page.route('**/api/v1/session/discoverable/start', via(a));
    await page.route('**/api/v1/session/discoverable/finish', via(b));
    await page.getByTestId('sign-in-passkey').click();
    await page.waitForURL(`${cluster.url}/`);
    assert.equal((await page.getByTestId('current-user').textContent()).trim().slice(-3), 'ana');
    await screenshot(page, '80-cluster-passkey-signin');
    assert.match(a.logText() + b.logText(), /passkey/i);
    await page.unrouteAll();

    // Password and TOTP typed into the page, through the load balancer.
    await page.getByTestId('sign-out').click();
    await page.waitForURL(/\/signin$/);
    await page.getByTestId('username').fill('ana');
    await page.getByTestId('password').fill(session.password);
    await page.getByTestId('totp').fill(await session.authenticator.nextCode());
    await page.getByTestId('sign-in').click();
    await page.waitForURL(`${cluster.url}/`);
    const served = new Set(servedBy(/\/api\/v1\//));
    assert.deepEqual([...served].sort(), ['a', 'b'], 'both proxies answered the API');
    await context.close();
  });

  test('SSH tabs land on both proxies, and signing out on one ends the sessions on both', async () => {
    const session = await cluster.enrolAndSignIn('bo', ['recorded']);
    const context = await contextWithSession(browser, cluster, session.cookie);
    const [first, second] = await tabsOnBothProxies(context, 'bo');
    measured.tabProxies = [first.name, second.name];
    await type(first.page, 'echo first-$((1+1))');
    await waitForScreen(first.page, /^first-2$/m);
    await type(second.page, 'echo second-$((2+2))');
    await waitForScreen(second.page, /^second-4$/m);
    await screenshot(second.page, '81-cluster-two-tabs');

    // Sign out in the first tab (its page goes to the sign-in page): the request reaches
    // one proxy, and the second tab's session, on the other proxy, ends too. Timed from
    // the sign-out's answer to the second tab's socket closing.
    const closed = new Promise((resolve) => second.socket.on('close', () => resolve(Date.now())));
    const [signOut] = await Promise.all([
      first.page.waitForResponse((r) => r.url().endsWith('/api/v1/session') && r.request().method() === 'DELETE'),
      first.page.getByTestId('sign-out').click(),
    ]);
    const answered = Date.now();
    assert.equal(signOut.status(), 204);
    await first.page.waitForURL(/\/signin$/);
    const ms = (await closed) - answered;
    measured.signOutEndsOtherProxyMs = ms;
    await panel(second.page).getByTestId('ssh-ended').waitFor();
    const text = await panel(second.page).getByTestId('ssh-ended').textContent();
    assert.match(text, /sign/i, text);
    await screenshot(second.page, '82-cluster-signed-out-elsewhere');
    assert.ok(ms < 2_000, `the session on the other proxy ended within 2 s of signing out (${ms} ms)`);
    await context.close();
  });

  test('an auditor on one proxy watches live a session running on the other', async () => {
    // The auditor is ready first, so the player opens the moment the session starts:
    // before the other proxy has uploaded anything of it (the player waits for it).
    const auditor = await cluster.enrolAndSignIn('ida', ['auditor']);
    const session = await cluster.enrolAndSignIn('ed', ['recorded']);
    const context = await contextWithSession(browser, cluster, session.cookie);
    const tab = await openTab(context, 'ed');
    await type(tab.page, 'clear; echo started-$((2+2))');
    await waitForScreen(tab.page, /^started-4$/m);
    // The auditor's page is served by the proxy the session is not on, and so is every
    // request of its player.
    const other = cluster.proxies.find((p) => p !== tab.proxy);
    const watching = await contextWithSession(browser, cluster, auditor.cookie);
    const watcher = await pageIn(watching);
    await watcher.goto(`https://localhost:${other.port}/recordings`);
    const row = watcher.locator('[data-testid="recording-row"]', { hasText: 'ed' });
    assert.equal(await row.getByTestId('play').textContent(), 'Watch', 'listed as live on the other proxy');
    await row.getByTestId('play').click();
    await watcher.locator('[data-testid="player"][data-state="paused"]').waitFor({ timeout: 20_000 });
    await watcher.getByTestId('play-pause').click();
    await watcher.locator('[data-testid="player"][data-state="live"]').waitFor({ timeout: 20_000 });
    const playerText = () => watcher.locator('[data-testid="player"] [data-testid="screen-text"]').textContent();
    await until(async () => /^started-4$/m.test(await playerText()), 'the session so far in the player', 15_000);
    const typed = Date.now();
    await type(tab.page, 'echo while-watched-$((3+4))');
    await until(async () => /^while-watched-7$/m.test(await playerText()), 'the live output on the other proxy', 15_000);
    measured.liveAcrossProxiesMs = Date.now() - typed;
    await screenshot(watcher, '86-cluster-live-view-across-proxies');
    await type(tab.page, 'exit');
    await watcher.locator('[data-testid="player"][data-state="ended"]').waitFor({ timeout: 30_000 });
    await context.close();
    await watching.close();
  });

  test('a web app through the load balancer: launched on one proxy, answered by both, with one set of keys', async () => {
    const session = await cluster.enrolAndSignIn('wes', ['apps']);
    const context = await contextWithSession(browser, cluster, session.cookie);
    const page = await pageIn(context);
    await page.goto(`https://whoami.localhost:${cluster.port}/`);
    assert.equal(await page.locator('[data-testid=who]').textContent({ timeout: 20_000 }), 'Hello, wes');
    // The app session is in the database: each proxy, asked directly (not through
    // HAProxy's choice), answers the app's requests with it.
    const [appCookie] = (await context.cookies(`https://whoami.localhost:${cluster.port}`)).filter((c) => c.name === '__Host-gatehouse_app');
    assert.ok(appCookie, 'the app session cookie, on the app origin');
    const direct = (port) => new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port, path: '/whoami.json', servername: 'localhost', ca: fs.readFileSync(path.join(cluster.dir, 'tls.pem')),
        headers: { host: `whoami.localhost:${cluster.port}`, cookie: `${appCookie.name}=${appCookie.value}` },
      }, (r) => {
        let text = '';
        r.on('data', (d) => { text += d; });
        r.on('end', () => {
          let json = null;
          try { json = JSON.parse(text); } catch { /* not JSON */ }
          resolve({ status: r.statusCode, text, json });
        });
      });
      req.on('error', reject);
      req.end();
    });
    for (const p of cluster.proxies) {
      const res = await direct(p.port);
      assert.equal(res.status, 200, `proxy ${p.port}: ${res.text.slice(0, 200)}`);
      assert.equal(res.json.verified, true, res.json.error);
      assert.equal(res.json.claims.username, 'wes');
    }
    const [a, b] = await Promise.all(cluster.proxies.map((p) => p.request('GET', '/.well-known/jwks.json')));
    assert.deepEqual(a.json, b.json, 'both proxies publish the same keys');
    assert.equal(a.json.keys.length, 1, 'the second proxy to start made no key of its own');
    await context.close();
  });

  test('each proxy reports its sessions, sign-ins, refusals and request latency at /metrics', async () => {
    const session = await cluster.enrolAndSignIn('di', ['recorded']);
    const context = await contextWithSession(browser, cluster, session.cookie);
    const tab = await openTab(context, 'di');
    // A refusal: a node that does not exist.
    const missing = await cluster.request('POST', '/api/v1/ssh/certificate', {
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOw2wZhbBMmRB9k9DkWp4Cg0RCWx6bfvu8bMibbQJYfM x', node: 'nowhere', login: LOGIN }),
    });
    assert.equal(missing.status, 404, missing.text);
    const texts = await Promise.all(cluster.proxies.map((p) => p.metrics()));
    const sum = (pattern) => texts.reduce((total, text) => total + Number(text.match(pattern)?.[1] ?? 0), 0);
    assert.equal(sum(/^gatehouse_active_sessions\{kind="ssh"\} (\d+)$/m), 1, 'one SSH session runs in the cluster');
    assert.equal(Number(texts[cluster.proxies.indexOf(tab.proxy)].match(/^gatehouse_active_sessions\{kind="ssh"\} (\d+)$/m)?.[1]), 1);
    assert.ok(sum(/^gatehouse_audit_events_total\{kind="signin.ok"\} (\d+)$/m) >= 1, 'sign-ins are counted');
    assert.ok(sum(/^gatehouse_refusals_total\{reason="missing"\} (\d+)$/m) >= 1, 'the refusal is counted by its reason');
    assert.ok(sum(/^gatehouse_relayed_bytes_total\{kind="ssh",direction="to_browser"\} (\d+)$/m) > 0, 'relayed bytes are counted');
    assert.match(texts.join(''), /gatehouse_http_request_duration_seconds_count\{route="\/api\/v1\/session",method="POST",status="200"\} \d+/);
    await context.close();
  });

  test('the proxies take the client address from HAProxy only, so a browser cannot choose its own', async () => {
    const wrong = (port) => cluster.request('POST', '/api/v1/session', {
      port,
      localAddress: '127.0.0.3',
      headers: { 'content-type': 'application/json', 'x-csrf-token': 'pre-session', 'x-forwarded-for': '203.0.113.9' },
      body: JSON.stringify({ username: 'nobody-here', password: 'not the password', totp_code: '000000' }),
    });
    assert.equal((await wrong(cluster.port)).status, 401, 'through HAProxy');
    for (const p of cluster.proxies) assert.equal((await wrong(p.port)).status, 401, 'straight to a proxy');
    const failures = cluster.proxies.flatMap((p) => fs.readFileSync(path.join(p.dir, 'data', 'audit.jsonl'), 'utf8')
      .split('\n').filter((l) => l.includes('"kind":"signin.failed"') && l.includes('nobody-here')));
    assert.equal(failures.length, 3, failures.join('\n'));
    for (const line of failures) {
      assert.match(line, /"ip":"127\.0\.0\.3"/, 'the client, as HAProxy saw it, or as the proxy saw it straight');
      assert.doesNotMatch(line, /203\.0\.113\.9/, 'never the address the client claimed');
    }
  });

  test('a proxy without the cluster\'s keys does not serve: none made silently, and other keys refused', async () => {
    // A third proxy's config, the same as proxy a's but for its keys folder and port.
    const [a] = cluster.proxies;
    const third = path.join(cluster.dir, 'proxy-x');
    fs.mkdirSync(third, { recursive: true });
    const config = path.join(third, 'gatehouse.toml');
    const text = fs.readFileSync(a.config, 'utf8')
      .replace(/^keys_dir = .*$/m, `keys_dir = "${path.join(third, 'keys')}"`)
      .replace(/^listen = .*$/m, 'listen = "127.0.0.1:0"')
      .replace(/^metrics_listen = .*$/m, '')
      .replace(/^data_dir = .*$/m, `data_dir = "${path.join(third, 'data')}"`)
      .replace(/^spool = .*$/m, `spool = "${path.join(third, 'spool')}"`);
    fs.writeFileSync(config, text);
    const start = () => spawnSync(process.env.GATEHOUSE_BIN, ['--config', config, 'start'], {
      encoding: 'utf8', timeout: 30_000, env: { ...process.env, RUST_BACKTRACE: '0' },
    });
    // No keys: it does not make its own.
    const bare = start();
    assert.notEqual(bare.status, 0, 'it did not start');
    assert.match(bare.stderr, /lacks user_ca.*gatehouse keys init/s, bare.stderr);
    assert.ok(!fs.existsSync(path.join(third, 'keys', 'user_ca')), 'no key was made');
    // Keys of its own (an attacker's, or a mistake): refused against the cluster's record.
    const init = spawnSync(process.env.GATEHOUSE_BIN, ['--config', config, 'keys', 'init'], { encoding: 'utf8' });
    assert.equal(init.status, 0, init.stderr);
    const other = start();
    assert.notEqual(other.status, 0, 'it did not start');
    assert.match(other.stderr, /user_ca \(SHA256:.*\) is not the cluster's/, other.stderr);
    // The cluster goes on serving.
    assert.equal((await cluster.request('GET', '/readyz')).status, 200);
  });

  test('kill -9 one proxy mid-session: the session on the other goes on, and the dead one\'s tab reconnects to the survivor', async () => {
    const session = await cluster.enrolAndSignIn('cy', ['recorded']);
    const context = await contextWithSession(browser, cluster, session.cookie);
    const [first, second] = await tabsOnBothProxies(context, 'cy');
    await type(first.page, 'echo before-kill-1');
    await waitForScreen(first.page, /^before-kill-1$/m);
    // What a proxy flushed reaches the object store within about 3.5 s (a flush a
    // second, then an upload within 2 s or 1 MiB): a kill loses at most that much.
    await first.page.waitForTimeout(4_000);
    const { proxy: victim } = first;
    const survivor = second.proxy;
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));
    const killedAt = Date.now();

    // The first tab lost its proxy and says so; the second still answers.
    const dead = first;
    const alive = second;
    await panel(dead.page).getByTestId('ssh-ended').waitFor({ timeout: 10_000 });
    measured.killNoticedMs = Date.now() - killedAt;
    const aliveState = await panel(alive.page).locator('[data-testid="ssh-status"]').getAttribute('data-state');
    assert.equal(aliveState, 'connected', 'the other tab stays connected');
    await type(alive.page, 'echo still-here-$((3*3))');
    await waitForScreen(alive.page, /^still-here-9$/m);
    const reason = await panel(dead.page).getByTestId('ssh-ended').textContent();
    assert.match(reason, /The connection to Gatehouse was lost/, reason);
    await screenshot(dead.page, '83-cluster-proxy-killed');

    // HAProxy takes the dead proxy out; Reconnect lands on the survivor.
    await until(async () => (await cluster.request('GET', '/readyz')).status === 200, 'the survivor to serve alone');
    await panel(dead.page).getByTestId('reconnect').click();
    await panel(dead.page).locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await waitForScreen(dead.page, /[$#] *$/m);
    await type(dead.page, 'echo back-$((4+4))');
    await waitForScreen(dead.page, /^back-8$/m);
    assert.ok(!survivor.exited, 'the survivor is still running');

    // The killed session's recording: the survivor's completer finishes it from the
    // database and the object store, and it plays to the kill.
    const cut = await until(() => {
      const rows = JSON.parse(`[${survivor.cli('recordings', 'list', '--limit', '20').trim().split('\n').join(',')}]`);
      // Other tabs of cy's on the killed proxy are cut short too: the first tab's is the one typed in.
      return rows.find((r) => r.user === 'cy' && r.ended_at && /cut short/.test(r.end_reason ?? '')
        && survivor.cli('recordings', 'cat', r.id).includes('before-kill-1'));
    }, 'the survivor to finish the killed session\'s recording, with what was typed before the kill', 30_000);
    measured.completedAfterKillMs = Date.now() - killedAt;
    await alive.page.goto(`${cluster.url}/recordings/${cut.id}`);
    await alive.page.locator('[data-testid="player"][data-state="paused"]').waitFor({ timeout: 20_000 });
    await alive.page.getByTestId('speed').selectOption('16');
    await alive.page.getByTestId('player').focus();
    await alive.page.keyboard.press('Space');
    await alive.page.locator('[data-testid="player"][data-state="ended"]').waitFor({ timeout: 30_000 });
    const played = await alive.page.locator('[data-testid="player"] [data-testid="screen-text"]').textContent();
    assert.match(played, /before-kill-1/, played);
    await screenshot(alive.page, '84-cluster-killed-session-completed');
    await context.close();
    // Bring the killed proxy back for whatever runs next.
    await victim.restart();
  });
});
