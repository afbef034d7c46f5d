// Recordings: a session recorded through the proxy against a real sshd plays back in
// the browser's player as it looked live (screens captured during the live session,
// compared at the same moments), seeks both ways, changes speed, finds typed text,
// exports asciicast v2 that re-imports to the same screens, survives a SIGKILL of the
// proxy, and is shown only to those whose roles allow it.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { launchBrowser, signedInPage as openSignedIn, screenshot, startNode, startProxy } from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const CONFIG = `
[roles.recorded]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
recordings = "own"

[roles.auditor]
recordings = "all"

[roles.plain]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
`;

let proxy;
let node;
let browser;
let pageErrors = [];

afterEach(() => {
  const errors = pageErrors;
  pageErrors = [];
  assert.deepEqual(errors, [], 'the app logged no errors');
});

before(async () => {
  proxy = await startProxy(CONFIG);
  node = await startNode(proxy);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await node?.stop();
  await proxy?.stop();
});

const signedInPage = (name, roles) => openSignedIn(proxy, browser, name, roles, pageErrors, { acceptDownloads: true });

const panel = (page) => page.locator('[data-testid="ssh-panel"][data-active="true"]');
const liveText = (page) => panel(page).getByTestId('screen-text').textContent();
const playerText = (page) => page.locator('[data-testid="player"] [data-testid="screen-text"]').textContent();

async function waitFor(check, what, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the live screen matches and has stopped changing, then notes the time. */
async function capture(page, pattern) {
  await waitFor(async () => pattern.test(await liveText(page)), `the live screen to show ${pattern}`);
  let text = await liveText(page);
  for (;;) {
    await page.waitForTimeout(400);
    const again = await liveText(page);
    if (again === text) break;
    text = again;
  }
  // A moment inside the quiet stretch: after the last output, before the next keystroke.
  return { at: Date.now() - 200, text };
}

async function typeLine(page, line) {
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

/** Seeks the player to `ms` through its timeline, as a drag would, and waits until the
 * screen shows it. A moment after the last event is the last event's screen. */
async function seekTo(page, ms) {
  const player = page.getByTestId('player');
  const target = Math.min(ms, Number(await player.getAttribute('data-duration')));
  await page.getByTestId('timeline').evaluate((input, value) => {
    input.value = String(value);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, target);
  await settled(page, target);
}

async function settled(page, ms) {
  const player = page.getByTestId('player');
  await waitFor(async () => Number(await player.getAttribute('data-position')) === ms
    && (await player.getAttribute('data-seeking')) === 'false', `position ${ms}`);
}

async function openPlayer(page, id) {
  await page.goto(`${proxy.url}/recordings/${id}`);
  await page.locator('[data-testid="player"][data-state="paused"]').waitFor({ timeout: 20_000 });
}

const api = (session, pathname, headers = {}) => proxy.request('GET', pathname, { headers: { cookie: session.cookie, ...headers } });

let recorded; // { id, startedAtMs, captures, finalText }

describe('recordings', () => {
  test('a recorded session plays back in the player as it looked live', async () => {
    const { context, page, session } = await signedInPage('rita', ['recorded']);
    await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    await panel(page).locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await panel(page).getByTestId('terminal').click();
    const captures = [];
    await typeLine(page, 'clear; echo first-$((40+2))');
    captures.push(await capture(page, /^first-42$/m));
    await page.waitForTimeout(1500);
    // A smaller window: the terminal, and then the recording, resize.
    await page.setViewportSize({ width: 900, height: 600 });
    await page.waitForTimeout(500);
    await typeLine(page, 'echo cols=$(tput cols)');
    captures.push(await capture(page, /^cols=\d+$/m));
    // Full screen: vi on a file with known lines, for a few seconds.
    await typeLine(page, 'seq -f "vi-line-%g" 1 5 > /tmp/gatehouse-rec-$$.txt; vi /tmp/gatehouse-rec-$$.txt');
    captures.push(await capture(page, /vi-line-5/));
    await page.waitForTimeout(2500);
    await page.keyboard.type(':q');
    await page.keyboard.press('Enter');
    await typeLine(page, 'echo needle-$((6*7))-word');
    captures.push(await capture(page, /^needle-42-word$/m));
    await page.waitForTimeout(6000); // an idle gap, and a keyframe's worth of time
    await typeLine(page, 'echo last-line');
    const final = await capture(page, /^last-line$/m);
    captures.push(final);
    await typeLine(page, 'exit');
    await panel(page).getByTestId('ssh-ended').waitFor();

    const list = await api(session, '/api/v1/recordings');
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.total, 1);
    const id = list.json.items[0].id;
    const meta = await api(session, `/api/v1/recordings/${id}`);
    const startedAtMs = meta.json.started_at_ms;
    assert.ok(meta.json.duration_ms > 10_000, `duration ${meta.json.duration_ms}`);
    recorded = { id, startedAtMs, captures, finalText: final.text, duration: meta.json.duration_ms };

    // The list page shows it, and Play opens it.
    await page.goto(`${proxy.url}/recordings`);
    const row = page.getByTestId('recording-row');
    await row.waitFor();
    assert.match(await row.textContent(), new RegExp(`rita.*${LOGIN}@demo`));
    await screenshot(page, '20-recordings-list');
    await row.getByTestId('play').click();
    await page.locator('[data-testid="player"][data-state="paused"]').waitFor({ timeout: 20_000 });

    // Every live capture, at its moment (out of order, so seeks go both ways).
    for (const index of [2, 0, 4, 1, 3]) {
      const { at, text } = captures[index];
      await seekTo(page, at - startedAtMs);
      assert.equal(await playerText(page), text, `the screen at capture ${index}`);
      if (index === 2) await screenshot(page, '21-player-vi');
    }
    await context.close();
  });

  test('play, pause, speed, keyboard and the idle skip', async () => {
    assert.ok(recorded, 'the first test recorded a session');
    const { context, page } = await signedInPage('rita-2', ['auditor']);
    await openPlayer(page, recorded.id);
    const player = page.getByTestId('player');
    const position = async () => Number(await player.getAttribute('data-position'));
    await page.getByTestId('speed').selectOption('16');
    await player.focus();
    await page.keyboard.press('Space');
    await page.locator('[data-testid="player"][data-state="playing"]').waitFor();
    await page.keyboard.press('Space');
    await page.locator('[data-testid="player"][data-state="paused"]').waitFor();
    const paused = await position();
    await page.waitForTimeout(300);
    assert.equal(await position(), paused, 'paused means paused');
    await page.keyboard.press('Space');
    await page.locator('[data-testid="player"][data-state="ended"]').waitFor({ timeout: 20_000 });
    const end = await playerText(page);
    assert.ok(end.startsWith(recorded.finalText.trimEnd()), `played to the end, the last screen:\n${end}`);
    assert.match(end, /exit\s*$|logout\s*$/);
    assert.match(await page.getByTestId('player-notice').textContent(), /The session ended: exit \(exit status 0\)\./);
    // 5 = half way; arrows move 5 s.
    await page.keyboard.press('5');
    await waitFor(async () => Math.abs((await position()) - recorded.duration / 2) <= 1
      && (await player.getAttribute('data-seeking')) === 'false', 'half way');
    const half = await position();
    await page.keyboard.press('ArrowLeft');
    await waitFor(async () => (await position()) === half - 5000, '5 s back');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await waitFor(async () => (await position()) === half + 5000, '5 s on');
    // Hovering the timeline shows the time under the pointer.
    const timeline = page.getByTestId('timeline');
    const box = await timeline.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.getByTestId('hover-time').waitFor();
    assert.match(await page.getByTestId('hover-time').textContent(), /^\d+:\d\d$/);

    // Replay from the end starts again at the beginning.
    await page.keyboard.press('9');
    await page.getByTestId('speed').selectOption('16');
    await player.focus();
    await page.keyboard.press('Space');
    await page.locator('[data-testid="player"][data-state="ended"]').waitFor({ timeout: 20_000 });
    await screenshot(page, '22-player-ended');
    await page.getByTestId('play-pause').click();
    await waitFor(async () => (await player.getAttribute('data-state')) === 'playing' && (await position()) < recorded.duration / 2, 'a replay from the start');

    // Idle skip: the session sat idle for 6 s after needle-42-word. At 1x with the limit at
    // 1 s, 3 s of playing from just before that gap reaches past it; without, it could not.
    await page.keyboard.press('Space');
    const needleAt = recorded.captures[3].at - recorded.startedAtMs;
    await page.getByTestId('speed').selectOption('1');
    await page.getByTestId('idle-limit').selectOption('1000');
    await seekTo(page, needleAt);
    await player.focus();
    await page.keyboard.press('Space');
    await page.waitForTimeout(3000);
    // (Not Space again to read it: at the end, Space replays from the start.)
    assert.ok((await position()) > needleAt + 6000, `skipped the idle gap: ${(await position()) - needleAt} ms in 3 s`);
    await context.close();
  });

  test('search lists the moments a text appeared and jumps there', async () => {
    const { context, page } = await signedInPage('rita-3', ['auditor']);
    await openPlayer(page, recorded.id);
    // Typed key by key: Space, digits and arrows in the field are the field's, not the player's.
    await page.getByTestId('player-search-input').click();
    await page.keyboard.type('NEEDLE-42');
    assert.equal(await page.getByTestId('player-search-input').inputValue(), 'NEEDLE-42');
    assert.equal(await page.getByTestId('player').getAttribute('data-state'), 'paused', 'typing did not play');
    await page.getByTestId('player-search').click();
    const hit = page.getByTestId('player-hit');
    await hit.first().waitFor();
    assert.equal(await hit.count(), 1, 'typed once, echoed once: one moment');
    assert.match(await hit.textContent(), /needle-42-word/);
    await hit.click();
    await settled(page, Number(await hit.getAttribute('data-offset')));
    assert.match(await playerText(page), /needle-42-word/);
    await screenshot(page, '23-player-search');
    await page.getByTestId('player-search-input').fill('never typed');
    await page.getByTestId('player-search').click();
    await page.getByTestId('player-no-hits').waitFor();
    // The list page's text filter finds the recording too.
    await page.goto(`${proxy.url}/recordings`);
    await page.getByTestId('filter-text').fill('needle-42');
    await page.getByTestId('filter-apply').click();
    await waitFor(async () => /1 recording\b/.test(await page.getByTestId('recordings-count').textContent().catch(() => '')), 'one match');
    await page.getByTestId('filter-text').fill('never typed');
    await page.getByTestId('filter-apply').click();
    await page.getByTestId('no-recordings').waitFor();
    // On a phone: the list and the player fit the width.
    await page.setViewportSize({ width: 390, height: 760 });
    await page.getByTestId('filter-text').fill('');
    await page.getByTestId('filter-apply').click();
    await page.getByTestId('recording-row').first().waitFor();
    const sideways = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok((await sideways()) <= 0, `the list fits a phone (${await sideways()}px)`);
    await screenshot(page, '26-recordings-phone');
    await openPlayer(page, recorded.id);
    assert.ok((await sideways()) <= 0, `the player fits a phone (${await sideways()}px)`);
    await screenshot(page, '27-player-phone');
    await context.close();
  });

  test('a recording without a search file is searched all the same, and gets one: on the first search or by reindex', async () => {
    const file = path.join(proxy.dataDir, 'recordings', `${recorded.id}.ghsrch`);
    assert.ok(fs.existsSync(file), 'the recorder wrote the search file beside the recording');
    const { context, page, session } = await signedInPage('rita-search', ['auditor']);
    const search = (q) => api(session, `/api/v1/recordings/${recorded.id}/search?q=${encodeURIComponent(q)}`);
    const fromFile = await search('NEEDLE-42');
    assert.equal(fromFile.status, 200, fromFile.text);
    assert.equal(fromFile.headers['x-gatehouse-search'], 'file', 'answered from the search file');
    assert.equal(fromFile.json.hits.length, 1);

    // As a recording made before search files: none beside it. The player's search
    // replays the recording, finds the same moment, and writes the file.
    fs.rmSync(file);
    await openPlayer(page, recorded.id);
    await page.getByTestId('player-search-input').fill('NEEDLE-42');
    await page.getByTestId('player-search').click();
    const hit = page.getByTestId('player-hit');
    await hit.first().waitFor();
    assert.equal(await hit.count(), 1);
    assert.match(await hit.textContent(), /needle-42-word/);
    assert.equal(Number(await hit.getAttribute('data-offset')), fromFile.json.hits[0].offset_ms);
    await hit.click();
    await settled(page, fromFile.json.hits[0].offset_ms);
    assert.match(await playerText(page), /needle-42-word/);
    assert.ok(fs.existsSync(file), 'the first search wrote the search file');
    const again = await search('NEEDLE-42');
    assert.equal(again.headers['x-gatehouse-search'], 'file');
    assert.deepEqual(again.json, fromFile.json);

    // Cut short (a disk filled up, a copy stopped): not used; the same answer by a
    // replay, and the file written whole again.
    fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
    const damaged = await search('NEEDLE-42');
    assert.equal(damaged.headers['x-gatehouse-search'], 'written');
    assert.deepEqual(damaged.json, fromFile.json);
    assert.equal((await search('NEEDLE-42')).headers['x-gatehouse-search'], 'file');

    // `gatehouse recordings reindex` writes it ahead of the first search.
    fs.rmSync(file);
    assert.match(proxy.cli('recordings', 'reindex', recorded.id), new RegExp(`^${recorded.id}: search file written \\(\\d+ bytes\\)$`, 'm'));
    assert.ok(fs.existsSync(file));
    const reindexed = await search('NEEDLE-42');
    assert.equal(reindexed.headers['x-gatehouse-search'], 'file');
    assert.deepEqual(reindexed.json, fromFile.json);
    assert.match(proxy.cli('recordings', 'reindex', '--all'), new RegExp(`^${recorded.id}: search file written`, 'm'));
    await context.close();
  });

  test('asciicast export is valid v2 and re-imports to the same screens', async () => {
    const { context, page, session } = await signedInPage('rita-4', ['auditor']);
    await openPlayer(page, recorded.id);
    const download = page.waitForEvent('download');
    await page.getByTestId('export-cast').click();
    const file = path.join(proxy.dir, 'export.cast');
    await (await download).saveAs(file);
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    const header = JSON.parse(lines[0]);
    assert.equal(header.version, 2);
    assert.ok(header.width > 10 && header.height > 5);
    let last = 0;
    for (const line of lines.slice(1)) {
      const [time, code, data] = JSON.parse(line);
      assert.ok(time >= last, 'times never go back');
      last = time;
      assert.ok(['o', 'r'].includes(code));
      assert.equal(typeof data, 'string');
    }
    assert.ok(lines.some((l) => /"r","\d+x\d+"/.test(l)), 'the resize is in it');
    // The CLI exports the same file.
    assert.equal(proxy.cli('recordings', 'export', recorded.id), fs.readFileSync(file, 'utf8'));

    const imported = proxy.cli('recordings', 'import', file, '--user', 'rita', '--target', 'imported-demo').trim();
    assert.match(imported, /^[0-9a-f]{32}$/);
    await openPlayer(page, imported);
    for (const index of [0, 2, 4]) {
      const { at, text } = recorded.captures[index];
      // asciicast times are in seconds with millisecond precision: the same offsets.
      await seekTo(page, at - recorded.startedAtMs);
      assert.equal(await playerText(page), text, `imported screen at capture ${index}`);
    }
    const audit = fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');
    assert.match(audit, new RegExp(`"kind":"recording.export","user":"rita-4".*${recorded.id}`));
    assert.match(audit, new RegExp(`"kind":"recording.view","user":"rita-4".*${recorded.id}`));
    assert.equal((await api(session, `/api/v1/recordings/${imported}`)).status, 200);
    await context.close();
  });

  test('a real asciinema recording imports and plays', async () => {
    const file = path.join(proxy.dir, 'real.cast');
    execFileSync('asciinema', ['rec', '-q', '--overwrite', '-c',
      'printf "real \\033[1;32masciinema\\033[0m cast\\n"; sleep 0.3; printf "second line \\303\\251 \\342\\234\\223\\n"', file],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
    assert.match(fs.readFileSync(file, 'utf8').split('\n')[0], /"version": 2/, 'asciinema wrote a v2 file');
    const id = proxy.cli('recordings', 'import', file, '--user', 'rita', '--target', 'asciinema').trim();
    const { context, page } = await signedInPage('rita-6', ['auditor']);
    await openPlayer(page, id);
    await page.getByTestId('player').focus();
    await page.keyboard.press('Space');
    await page.locator('[data-testid="player"][data-state="ended"]').waitFor({ timeout: 15_000 });
    const text = await playerText(page);
    assert.match(text, /^real asciinema cast$/m);
    assert.match(text, /^second line é ✓$/m);
    await context.close();
  });

  test('Range requests, and who may see what', async () => {
    const owner = await proxy.enrolAndSignIn('rita-5', ['recorded']);
    const auditor = await proxy.enrolAndSignIn('audrey', ['auditor']);
    const plain = await proxy.enrolAndSignIn('pablo', ['plain']);
    const file = `/api/v1/recordings/${recorded.id}/data/recording`;
    const whole = await api(auditor, file);
    assert.equal(whole.status, 200);
    const part = await api(auditor, file, { range: 'bytes=0-7' });
    assert.equal(part.status, 206);
    assert.equal(part.text, 'GHREC01\n');
    assert.match(part.headers['content-range'], /^bytes 0-7\/\d+$/);
    assert.equal((await api(auditor, file, { range: 'bytes=999999999-' })).status, 416);
    // Another user's recording with `own`: as if it did not exist.
    assert.equal((await api(owner, `/api/v1/recordings/${recorded.id}`)).status, 404);
    assert.equal((await api(owner, file)).status, 404);
    assert.equal((await api(owner, '/api/v1/recordings')).json.total, 0);
    // No recordings role: refused with the reason.
    const refused = await api(plain, '/api/v1/recordings');
    assert.equal(refused.status, 403);
    assert.match(refused.json.message, /roles do not let you view recordings/);
    assert.equal((await api(plain, `/api/v1/recordings/${recorded.id}`)).status, 403);
    assert.equal((await api(auditor, '/api/v1/recordings/0123/data/../../gatehouse.db')).status, 404);
    const audit = fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');
    assert.match(audit, /"kind":"recording.denied","user":"pablo"/);
  });

  test('an auditor watches a running session live, read-only', async () => {
    const live = await signedInPage('lou', ['recorded']);
    await live.page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    await panel(live.page).locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await panel(live.page).getByTestId('terminal').click();
    await typeLine(live.page, 'clear; echo started-$((2+2))');
    await capture(live.page, /^started-4$/m);

    const watcher = await signedInPage('wanda', ['auditor']);
    await watcher.page.goto(`${proxy.url}/recordings`);
    const row = watcher.page.locator('[data-testid="recording-row"]', { hasText: 'lou' });
    assert.equal(await row.getByTestId('play').textContent(), 'Watch');
    await row.getByTestId('play').click();
    await watcher.page.locator('[data-testid="player"][data-state="paused"]').waitFor({ timeout: 20_000 });
    await watcher.page.getByTestId('play-pause').click();
    await watcher.page.locator('[data-testid="player"][data-state="live"]').waitFor({ timeout: 20_000 });
    await watcher.page.getByTestId('live-badge').waitFor();
    assert.match(await playerText(watcher.page), /^started-4$/m);

    // What is typed now reaches the watcher within a few seconds.
    await typeLine(live.page, 'echo while-watched-$((3+4))');
    await waitFor(async () => /^while-watched-7$/m.test(await playerText(watcher.page)), 'the live output in the player', 10_000);
    await screenshot(watcher.page, '25-player-live');
    await typeLine(live.page, 'exit');
    await watcher.page.locator('[data-testid="player"][data-state="ended"]').waitFor({ timeout: 15_000 });
    assert.match(await watcher.page.getByTestId('player-notice').textContent(), /The session ended/);
    await live.context.close();
    await watcher.context.close();
  });

  test('a SIGKILL of the proxy mid-session leaves a recording that plays up to the kill', async () => {
    const { context, page, session } = await signedInPage('kim', ['recorded']);
    await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    await panel(page).locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await panel(page).getByTestId('terminal').click();
    await typeLine(page, 'clear; echo before-the-kill');
    const before = await capture(page, /^before-the-kill$/m);
    await page.waitForTimeout(1500); // the writer flushes every second
    await proxy.stop('SIGKILL');
    await panel(page).getByTestId('ssh-ended').waitFor({ timeout: 20_000 });
    await context.close();
    await proxy.restart();

    const list = await api(session, '/api/v1/recordings');
    assert.equal(list.status, 200, list.text);
    const [row] = list.json.items;
    assert.match(row.end_reason, /cut short/);
    assert.equal(row.live, false);
    const meta = await api(session, `/api/v1/recordings/${row.id}`);
    const again = await signedInPage('kim-2', ['auditor']);
    await openPlayer(again.page, row.id);
    assert.match(await again.page.getByTestId('player-notice').textContent(), /cut short/);
    await seekTo(again.page, before.at - meta.json.started_at_ms);
    assert.equal(await playerText(again.page), before.text);
    await screenshot(again.page, '24-player-cut-short');
    await again.context.close();
    // The CLI says so too.
    const cat = execFileSync(process.env.GATEHOUSE_BIN, ['--config', proxy.config, 'recordings', 'cat', row.id], { stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(cat.toString(), /before-the-kill/);
  });
});
