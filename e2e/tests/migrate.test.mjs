// `gatehouse migrate`: a single proxy's deployment (SQLite, its keys, its recordings)
// moved into a cluster of two proxies on PostgreSQL behind HAProxy. The same person
// signs in afterwards with the same password, TOTP and passkey, and the old recording
// is still there.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  confirmIfAsked, contextWithSession, launchBrowser, screenshot, startCluster, startNode, startProxy,
} from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const CONFIG = `
[roles.recorded]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
recordings = "own"
`;

let old;
let cluster;
let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await cluster?.stop();
  await old?.stop();
});

const panel = (page) => page.locator('[data-testid="ssh-panel"][data-active="true"]');
async function waitForScreen(page, pattern, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = await panel(page).getByTestId('screen-text').textContent();
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`screen never matched ${pattern}:\n${text}`);
    await page.waitForTimeout(100);
  }
}

describe('migrating a single proxy into a cluster', () => {
  test('the same password, TOTP and passkey sign in afterwards, and the old recording is kept', async () => {
    // The old deployment: one proxy on SQLite, a person with a passkey, one recorded session.
    old = await startProxy(CONFIG);
    const node = await startNode(old);
    const session = await old.enrolAndSignIn('eve', ['recorded']);
    const context = await contextWithSession(browser, old, session.cookie);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
        isUserVerified: true, automaticPresenceSimulation: true,
      },
    });
    await page.goto(`${old.url}/account`);
    await page.getByTestId('passkey-name').fill('old laptop');
    await page.getByTestId('add-passkey').click();
    await confirmIfAsked(page, session, page.locator('[data-testid="passkey"]', { hasText: 'old laptop' }));
    await page.goto(`${old.url}/ssh/demo?login=${LOGIN}`);
    await waitForScreen(page, /[$#] *$/m);
    await panel(page).getByTestId('terminal').click();
    await page.keyboard.type('echo from-the-old-proxy-$((6*7))');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^from-the-old-proxy-42$/m);
    await page.keyboard.type('exit');
    await page.keyboard.press('Enter');
    await panel(page).getByTestId('ssh-ended').waitFor();
    const [recording] = JSON.parse(`[${old.cli('recordings', 'list', '--limit', '1').trim()}]`);
    await old.stop();
    await node.stop();

    // Migrate (twice: the second run adds nothing), then start the cluster on it.
    cluster = await startCluster(CONFIG, { migrateFrom: path.join(old.dir, 'data') });
    console.log(cluster.migrated.trim());
    const runs = cluster.migrated.split('Done.');
    assert.match(runs[0], /users\s+2 rows,\s+2 added/, "eve and the first admin");
    assert.match(runs[0], /passkeys\s+1 rows,\s+1 added/);
    assert.match(runs[0], /recordings\s+1 rows,\s+1 added/);
    assert.match(runs[1], /users\s+2 rows,\s+0 added/, 'the second run copies nothing again');
    assert.match(runs[1], /audit\s+\d+ rows,\s+0 added/);

    // Password and TOTP, through the load balancer, against PostgreSQL.
    const signIn = await cluster.request('POST', '/api/v1/session', {
      headers: { 'content-type': 'application/json', 'x-csrf-token': 'pre-session' },
      body: JSON.stringify({ username: 'eve', password: session.password, totp_code: await session.authenticator.nextCode() }),
    });
    assert.equal(signIn.status, 200, signIn.text);
    // The passkey, in the same browser (its authenticator keeps the credential; the
    // relying party is still localhost).
    await page.goto(`${cluster.url}/signin`);
    await page.getByTestId('sign-in-passkey').click();
    await page.waitForURL(`${cluster.url}/`);
    assert.equal((await page.getByTestId('current-user').textContent()).trim().slice(-3), 'eve');
    // The old recording is listed by the cluster, and plays from the object store the
    // migration uploaded it to, through whichever proxy answers.
    assert.match(runs[0], /recordings\s+4 files,\s+4 added/, 'its four files (recording, index, keyframes, search file) were uploaded');
    assert.match(runs[1], /recordings\s+4 files,\s+0 added/);
    await page.goto(`${cluster.url}/recordings`);
    await page.locator(`[data-testid="recording-row"][data-id="${recording.id}"]`).waitFor();
    await screenshot(page, '84-migrated-recordings');
    const sourced = await cluster.request('GET', `/api/v1/recordings/${recording.id}/data/recording`, { headers: { cookie: signIn.headers['set-cookie'][0].split(';')[0] } });
    assert.equal(sourced.status, 200, sourced.text);
    assert.equal(sourced.headers['x-gatehouse-source'], 'object-store');
    await page.goto(`${cluster.url}/recordings/${recording.id}`);
    await page.locator('[data-testid="player"][data-state="paused"]').waitFor({ timeout: 20_000 });
    await page.getByTestId('speed').selectOption('16');
    await page.getByTestId('player').focus();
    await page.keyboard.press('Space');
    await page.locator('[data-testid="player"][data-state="ended"]').waitFor({ timeout: 30_000 });
    const played = await page.locator('[data-testid="player"] [data-testid="screen-text"]').textContent();
    assert.match(played, /from-the-old-proxy-42/, played);
    await screenshot(page, '85-migrated-recording-plays');
    const replay = execFileSync(process.env.GATEHOUSE_BIN, ['--config', cluster.proxies[0].config, 'recordings', 'cat', recording.id], { encoding: 'utf8' });
    assert.match(replay, /from-the-old-proxy-42/);
    await context.close();
  });
});
