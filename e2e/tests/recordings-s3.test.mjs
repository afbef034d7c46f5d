// Recordings in object storage: with `[recordings] store = "s3://…"` against a real
// Garage, a recorded SSH session (real sshd) plays back in Chromium's player from the
// store (seeks both ways; the proxy's spool is empty, the bytes say where they came
// from); a second proxy on the same database reads a running session from what has been
// uploaded; and when the proxy writing a session is killed (SIGKILL), the second
// proxy's upload completer finishes the recording from the database and the store
// alone, and it plays to the kill.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  contextWithSession, launchBrowser, screenshot, signedInPage as openSignedIn, startGarage, startNode, startProxy, until,
} from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const ROLES = `
[roles.recorded]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
recordings = "own"

[roles.auditor]
recordings = "all"
`;

let garage;
let proxy; // writes the sessions
let second; // the same database and data directory, its own spool
let node;
let browser;
let pageErrors = [];

/** The `[recordings]` table for the Garage bucket; keys from `keys` (config) or the environment. */
function storeConfig(spool, keys) {
  return [
    '[recordings]',
    `store = "s3://${garage.bucket}/team-a/recordings"`,
    `endpoint = "${garage.endpoint}"`,
    `region = "${garage.region}"`,
    'allow_http = true',
    `spool = "${spool}"`,
    ...keys,
  ].join('\n');
}

const spooled = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.gh(rec|idx|kf)$/.test(f)) : []);

afterEach(() => {
  const errors = pageErrors;
  pageErrors = [];
  assert.deepEqual(errors, [], 'the app logged no errors');
});

before(async () => {
  garage = await startGarage();
  proxy = await startProxy(`${ROLES}\n${storeConfig('spool', [
    `access_key_id = "${garage.keyId}"`,
    'secret_access_key_file = "s3-secret"',
  ])}`, { prepare: (dir) => fs.writeFileSync(path.join(dir, 's3-secret'), `${garage.secret}\n`, { mode: 0o600 }) });
  // The second proxy takes its keys from the usual AWS variables.
  second = await startProxy(`${ROLES}\n${storeConfig('spool', [])}`, {
    dataDir: proxy.dataDir,
    env: { AWS_ACCESS_KEY_ID: garage.keyId, AWS_SECRET_ACCESS_KEY: garage.secret },
  });
  node = await startNode(proxy);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await node?.stop();
  await second?.stop();
  await proxy?.stop();
  await garage?.stop();
});

const panel = (page) => page.locator('[data-testid="ssh-panel"][data-active="true"]');
const liveText = (page) => panel(page).getByTestId('screen-text').textContent();
const playerText = (page) => page.locator('[data-testid="player"] [data-testid="screen-text"]').textContent();
const api = (on, session, pathname, headers = {}) => on.request('GET', pathname, { headers: { cookie: session.cookie, ...headers } });

/** Waits until the live screen matches and has stopped changing, then notes the time. */
async function capture(page, pattern) {
  await until(async () => pattern.test(await liveText(page)), `the live screen to show ${pattern}`);
  let text = await liveText(page);
  for (;;) {
    await page.waitForTimeout(400);
    const again = await liveText(page);
    if (again === text) break;
    text = again;
  }
  return { at: Date.now() - 200, text };
}

async function typeLine(page, line) {
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

async function openSsh(name) {
  const opened = await openSignedIn(proxy, browser, name, ['recorded'], pageErrors);
  await opened.page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
  await panel(opened.page).locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
  await panel(opened.page).getByTestId('terminal').click();
  return opened;
}

/** The player on `on` for recording `id`, as `session` (an auditor's). */
async function openPlayer(on, session, id) {
  const context = await contextWithSession(browser, on, session.cookie);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(msg.text().slice(0, 600)); });
  await page.goto(`${on.url}/recordings/${id}`);
  await page.locator('[data-testid="player"][data-state="paused"]').waitFor({ timeout: 20_000 });
  return { context, page };
}

async function seekTo(page, ms) {
  const player = page.getByTestId('player');
  const target = Math.min(ms, Number(await player.getAttribute('data-duration')));
  await page.getByTestId('timeline').evaluate((input, value) => {
    input.value = String(value);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, target);
  await until(async () => Number(await player.getAttribute('data-position')) === target
    && (await player.getAttribute('data-seeking')) === 'false', `position ${target}`);
}

describe('recordings in object storage', () => {
  test('a recorded session plays back from the object store, not the spool', async () => {
    const { context, page, session } = await openSsh('sam');
    const captures = [];
    await typeLine(page, 'clear; echo first-$((40+2))');
    captures.push(await capture(page, /^first-42$/m));
    await typeLine(page, 'seq -f "s3-line-%g" 1 5');
    captures.push(await capture(page, /^s3-line-5$/m));
    await page.waitForTimeout(6000); // a keyframe's worth of time
    await typeLine(page, 'echo last-$((6*7))-line');
    captures.push(await capture(page, /^last-42-line$/m));
    await typeLine(page, 'exit');
    await panel(page).getByTestId('ssh-ended').waitFor();
    await context.close();

    const list = await api(proxy, session, '/api/v1/recordings');
    assert.equal(list.json.total, 1, list.text);
    const { id } = list.json.items[0];
    // Uploaded, finished, and gone from the spool (and never in data_dir/recordings).
    const row = await until(async () => {
      const meta = await api(proxy, session, `/api/v1/recordings/${id}`);
      return meta.json.ended_at ? meta.json : null;
    }, 'the recording to be finished');
    assert.equal(row.end_reason, 'exit (exit status 0)');
    assert.deepEqual(spooled(path.join(proxy.dir, 'spool')), [], 'the spool copy is removed once uploaded');
    assert.deepEqual(spooled(path.join(proxy.dataDir, 'recordings')), [], 'nothing in the local recordings folder');
    // Every part is read from the store, Range reads included.
    for (const part of ['recording', 'index', 'keyframes']) {
      const whole = await api(proxy, session, `/api/v1/recordings/${id}/data/${part}`);
      assert.equal(whole.status, 200, whole.text);
      assert.equal(whole.headers['x-gatehouse-source'], 'object-store', part);
    }
    const head = await api(proxy, session, `/api/v1/recordings/${id}/data/recording`, { range: 'bytes=0-7' });
    assert.equal(head.status, 206);
    assert.equal(head.text, 'GHREC01\n');
    assert.match(head.headers['content-range'], new RegExp(`^bytes 0-7/${row.bytes}$`));
    assert.equal((await api(proxy, session, `/api/v1/recordings/${id}/data/recording`, { range: `bytes=${row.bytes}-` })).status, 416);
    // Garage holds it: four objects (the whole files, the search file among them; the
    // chunks uploaded during the session are deleted), as its own command line counts them.
    await until(() => /^Objects:\s+4$/m.test(garage.garage('bucket', 'info', garage.bucket)),
      `four objects in the bucket:\n${garage.garage('bucket', 'info', garage.bucket)}`);
    // A search reads the search file from the store.
    const found = await api(proxy, session, `/api/v1/recordings/${id}/search?q=last-42-line`);
    assert.equal(found.status, 200, found.text);
    assert.equal(found.headers['x-gatehouse-search'], 'file');
    assert.equal(found.json.hits.length, 1, found.text);
    // The player seeks both ways through it, the screens as they were live.
    const auditor = await proxy.enrolAndSignIn('audra', ['auditor']);
    const player = await openPlayer(proxy, auditor, id);
    for (const index of [2, 0, 1]) {
      await seekTo(player.page, captures[index].at - row.started_at_ms);
      assert.equal(await playerText(player.page), captures[index].text, `the screen at capture ${index}`);
    }
    await screenshot(player.page, '40-player-from-object-store');
    await player.context.close();
  });

  test('a proxy killed mid-session: another proxy completes the recording from the store, and it plays to the kill', async () => {
    const { context, page, session } = await openSsh('kai');
    await typeLine(page, 'clear; echo before-the-kill-$((6*7))');
    const before = await capture(page, /^before-the-kill-42$/m);
    const list = await api(proxy, session, '/api/v1/recordings?user=kai');
    const { id } = list.json.items[0];
    assert.equal(list.json.items[0].live, true);

    // The second proxy reads the running recording from what has been uploaded: the
    // text typed reaches it within a few seconds (the upload lag).
    const auditor = await second.enrolAndSignIn('otto', ['auditor']);
    const seenAt = await until(async () => {
      const res = await api(second, auditor, `/api/v1/recordings/${id}/data/recording`);
      return res.status === 200 && res.text.includes('before-the-kill-42') ? Date.now() : null;
    }, 'the running recording on the other proxy', 15_000);
    const lag = seenAt - (before.at + 200);
    console.log(`upload lag, typed text to readable on another proxy: at most ${lag} ms`);
    assert.ok(lag < 5000, `the store is at most a few seconds behind (${lag} ms)`);
    const live = await api(second, auditor, `/api/v1/recordings/${id}/data/recording`);
    assert.equal(live.headers['x-gatehouse-source'], 'object-store');

    await proxy.stop('SIGKILL');
    await panel(page).getByTestId('ssh-ended').waitFor({ timeout: 20_000 });
    await context.close();
    // The dead proxy's spool still has its copy; the completer does not read it.
    assert.ok(spooled(path.join(proxy.dir, 'spool')).length > 0, 'the killed proxy left its spool');
    const spoolBefore = fs.readFileSync(path.join(proxy.dir, 'spool', `${id}.ghrec`));

    const done = await until(async () => {
      const meta = await api(second, auditor, `/api/v1/recordings/${id}`);
      return meta.json.ended_at ? meta.json : null;
    }, 'the other proxy to complete the recording', 30_000);
    assert.equal(done.cut_short, true);
    assert.match(done.end_reason, /^cut short: the proxy recording it stopped during the session/);
    assert.equal(done.live, false);
    assert.ok(done.bytes > 0 && done.bytes <= spoolBefore.length, `${done.bytes} bytes of ${spoolBefore.length} uploaded`);
    assert.deepEqual(fs.readFileSync(path.join(proxy.dir, 'spool', `${id}.ghrec`)), spoolBefore, 'the spool was not touched');

    const player = await openPlayer(second, auditor, id);
    assert.match(await player.page.getByTestId('player-notice').textContent(), /cut short/);
    await seekTo(player.page, before.at - done.started_at_ms);
    assert.equal(await playerText(player.page), before.text);
    // Played to its end: the last text typed before the kill is on the screen.
    await player.page.getByTestId('speed').selectOption('16');
    await player.page.getByTestId('player').focus();
    await player.page.keyboard.press('Space');
    await player.page.locator('[data-testid="player"][data-state="ended"]').waitFor({ timeout: 20_000 });
    assert.match(await playerText(player.page), /^before-the-kill-42$/m);
    await screenshot(player.page, '41-player-completed-by-another-proxy');
    await player.context.close();
    // Its search file never got its end (search files go up whole, at a session's
    // end): the first search replays the recording from the store and puts one there.
    const search = () => api(second, auditor, `/api/v1/recordings/${id}/search?q=before-the-kill`);
    const first = await search();
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['x-gatehouse-search'], 'written');
    assert.ok(first.json.hits.length >= 1, first.text);
    const next = await search();
    assert.equal(next.headers['x-gatehouse-search'], 'file', 'read from the store the second time');
    assert.deepEqual(next.json, first.json);
    // The command line reads it from the store too.
    assert.match(proxy.cli('recordings', 'cat', id), /before-the-kill-42/);
  });
});
