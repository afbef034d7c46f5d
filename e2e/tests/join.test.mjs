// Joined and moderated sessions, with several browsers on one real sshd: the owner
// invites, an observer watches live (its keys do nothing, at the page or at the proxy),
// a peer types, a late joiner sees the current screen, and the owner's output reaches
// the observer within 100 ms (measured). A moderated session waits for its moderator,
// pauses when the moderator leaves, ends when none comes back in time, and a moderator
// can end it. Users without join_sessions, without an invite, or on a node their roles
// do not reach are refused with a sentence.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { launchBrowser, screenshot, signedInPage as openSignedIn, startNode, startProxy } from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const CONFIG = `
[roles.owner]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]

[roles.watcher]
node_labels = { env = "demo" }
join_sessions = ["observer"]

[roles.pair]
node_labels = { env = "demo" }
join_sessions = ["observer", "peer"]

[roles.elsewhere]
node_labels = { env = "prod" }
join_sessions = ["observer", "peer"]

[roles.auditor]
recordings = "all"

[roles.moderated]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
require_moderator = ["auditor"]

[limits]
moderator_grace_secs = 8
`;

let proxy;
let node;
let browser;
let pageErrors = [];
const measured = {};

afterEach(() => {
  const errors = pageErrors.filter((e) => !/WebSocket connection to .* failed/.test(e));
  pageErrors = [];
  assert.deepEqual(errors, [], 'the app logged no errors');
});

before(async () => {
  proxy = await startProxy(CONFIG);
  node = await startNode(proxy);
  browser = await launchBrowser();
});

after(async () => {
  console.log(`observer latency (ms): ${JSON.stringify(measured)}`);
  await browser?.close();
  await node?.stop();
  await proxy?.stop();
});

const signedInPage = (name, roles) => openSignedIn(proxy, browser, name, roles, pageErrors);
const panel = (page) => page.locator('[data-testid="ssh-panel"][data-active="true"]');
const ownerText = (page) => panel(page).getByTestId('screen-text').textContent();
const joinText = (page) => page.getByTestId('screen-text').textContent();

async function waitFor(read, pattern, what, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = await read();
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`${what} never matched ${pattern}:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function openOwnSession(page) {
  await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
  await panel(page).locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
  await waitFor(() => ownerText(page), /[$#] *$/m, 'the owner’s prompt');
  await panel(page).getByTestId('share-bar').waitFor({ timeout: 10_000 });
}

async function typeInto(page, terminal, text) {
  await terminal.click();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

/** The live sessions `who` sees, from the API. */
async function live(who) {
  const res = await proxy.request('GET', '/api/v1/live', { headers: { cookie: who.cookie } });
  assert.equal(res.status, 200, res.text);
  return res.json.sessions;
}

/** A raw join socket with `who`'s cookie: resolves { code, reason } when it closes. */
function rawJoin(who, id, mode, onOpen = () => {}) {
  const ws = new WebSocket(`wss://localhost:${proxy.port}/api/v1/live/${id}/join?mode=${mode}`, {
    headers: { cookie: who.cookie, origin: proxy.url }, rejectUnauthorized: false,
  });
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('open', () => onOpen(ws));
  ws.on('error', () => {});
  return { ws, closed };
}

/** Records, in the page, when each line `LAT-n` first shows on its terminal. */
async function watchMarks(page, selector) {
  await page.evaluate((sel) => {
    const pre = document.querySelector(sel);
    window.__seen = {};
    const scan = () => {
      for (const m of pre.textContent.matchAll(/^LAT-(\d+)$/gm)) {
        if (!(m[1] in window.__seen)) window.__seen[m[1]] = Date.now();
      }
    };
    new MutationObserver(scan).observe(pre, { childList: true, characterData: true, subtree: true });
  }, selector);
}

describe('joined sessions', () => {
  let owner;
  let sessionId;

  test('the owner invites an observer, who joins late, sees the current screen and the live output within 100 ms, and cannot type', async () => {
    owner = await signedInPage('olive', ['owner']);
    await openOwnSession(owner.page);
    const ownerTerminal = panel(owner.page).getByTestId('terminal');
    await typeInto(owner.page, ownerTerminal, 'echo before-join-$((6*7))');
    await waitFor(() => ownerText(owner.page), /^before-join-42$/m, 'the owner’s screen');

    const watcher = await signedInPage('wes', ['watcher']);
    assert.deepEqual(await live(watcher.session), [], 'not invited: nothing listed');
    await panel(owner.page).getByTestId('invite-input').fill('wes');
    await panel(owner.page).getByTestId('invite').click();
    await panel(owner.page).getByTestId('invited').filter({ hasText: 'wes' }).waitFor();

    await watcher.page.goto(`${proxy.url}/live`);
    const item = watcher.page.getByTestId('live-session').filter({ hasText: "olive's session" });
    await item.waitFor();
    sessionId = await item.getAttribute('data-id');
    assert.equal(await item.getByTestId('join-peer').count(), 0, 'an observer role offers no typing');
    await item.getByTestId('join-observer').click();
    await watcher.page.waitForURL(/\/join\//);
    await waitFor(() => joinText(watcher.page), /^before-join-42$/m, 'the late joiner’s screen');
    await panel(owner.page).locator('[data-testid="participant"][data-user="wes"][data-mode="observer"]').waitFor();
    await screenshot(watcher.page, 'join-01-observer');
    await screenshot(owner.page, 'join-02-owner-with-observer');

    // The observer's keys: the page sends nothing, and the proxy drops what a socket sends.
    await typeInto(watcher.page, watcher.page.getByTestId('terminal'), 'echo observer-typed');
    const attack = rawJoin(watcher.session, sessionId, 'observer', (ws) => ws.send(Buffer.from('echo sneaky-observer\r')));
    await new Promise((r) => setTimeout(r, 1500));
    attack.ws.close();
    assert.doesNotMatch(await ownerText(owner.page), /observer-typed|sneaky-observer/, 'nothing an observer typed reached the node');

    // Latency: one line every 200 ms on the owner's shell, timestamped where each page shows it.
    await watchMarks(owner.page, '[data-testid="ssh-panel"][data-active="true"] [data-testid="screen-text"]');
    await watchMarks(watcher.page, '[data-testid="screen-text"]');
    await typeInto(owner.page, ownerTerminal, 'for i in $(seq 1 20); do echo LAT-$i; sleep 0.2; done');
    await waitFor(() => joinText(watcher.page), /^LAT-20$/m, 'the observer’s screen');
    await new Promise((r) => setTimeout(r, 300));
    const [a, b] = await Promise.all([owner.page.evaluate(() => window.__seen), watcher.page.evaluate(() => window.__seen)]);
    const deltas = Object.keys(a).filter((k) => k in b).map((k) => b[k] - a[k]).sort((x, y) => x - y);
    assert.ok(deltas.length >= 15, `enough lines seen by both: ${deltas.length}`);
    measured.median = deltas[Math.floor(deltas.length / 2)];
    measured.worst = Math.max(...deltas.map(Math.abs));
    measured.samples = deltas.length;
    assert.ok(measured.worst <= 100, `the observer saw each line within 100 ms of the owner: ${JSON.stringify(deltas)}`);
    await watcher.context.close();
  });

  test('a peer invited by role types into the session, recorded with their name', async () => {
    const peer = await signedInPage('pia', ['pair']);
    await panel(owner.page).getByTestId('invite-input').fill('role:pair');
    await panel(owner.page).getByTestId('invite').click();
    await panel(owner.page).getByTestId('invited').filter({ hasText: 'role pair' }).waitFor();
    await peer.page.goto(`${proxy.url}/join/${sessionId}?mode=peer`);
    await peer.page.locator('[data-testid="join-status"][data-state="running"]').waitFor();
    await typeInto(peer.page, peer.page.getByTestId('terminal'), 'echo peer-was-$((40+2))');
    await waitFor(() => ownerText(owner.page), /^peer-was-42$/m, 'the owner’s screen');
    await waitFor(() => joinText(peer.page), /^peer-was-42$/m, 'the peer’s screen');
    await panel(owner.page).locator('[data-testid="participant"][data-user="pia"][data-mode="peer"]').waitFor();
    await screenshot(owner.page, 'join-03-owner-with-peer');
    await peer.context.close();
    const auditLog = fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');
    assert.match(auditLog, /session\.joined.*pia|pia.*session\.joined/);
    assert.match(auditLog, /session\.invited/);
  });

  test('joining without join_sessions, without an invite, or outside one’s labels is refused', async () => {
    const plain = await proxy.enrolAndSignIn('nora', ['owner']);
    const outsider = await proxy.enrolAndSignIn('eve', ['elsewhere']);
    const uninvited = await proxy.enrolAndSignIn('ursula', ['watcher']);
    await proxy.request('POST', `/api/v1/live/${sessionId}/invite`, {
      headers: { cookie: owner.session.cookie, 'x-csrf-token': owner.session.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ users: ['nora', 'eve'] }),
    });
    const byPlain = await rawJoin(plain, sessionId, 'observer').closed;
    assert.deepEqual(byPlain, { code: 4403, reason: 'Your roles do not let you join sessions on demo.' });
    const byOutsider = await rawJoin(outsider, sessionId, 'peer').closed;
    assert.equal(byOutsider.code, 4403);
    const byUninvited = await rawJoin(uninvited, sessionId, 'observer').closed;
    assert.equal(byUninvited.code, 4403);
    assert.match(byUninvited.reason, /olive has not invited you/);
    const inviteByOther = await proxy.request('POST', `/api/v1/live/${sessionId}/invite`, {
      headers: { cookie: uninvited.cookie, 'x-csrf-token': uninvited.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ users: ['ursula'] }),
    });
    assert.equal(inviteByOther.status, 403, 'only the owner invites');
    assert.deepEqual(await live(plain), []);
    const gone = await rawJoin(uninvited, 'no-such-session', 'observer').closed;
    assert.equal(gone.code, 4404);
    assert.match(gone.reason, /no live session/);
  });

  test('a participant’s socket ends, with the reason, when they sign out or are locked', async () => {
    const signingOut = await proxy.enrolAndSignIn('sol', ['pair']);
    const locked = await proxy.enrolAndSignIn('lou', ['pair']);
    const first = rawJoin(signingOut, sessionId, 'observer');
    const second = rawJoin(locked, sessionId, 'peer');
    await new Promise((r) => setTimeout(r, 500));
    let at = Date.now();
    await proxy.request('DELETE', '/api/v1/session', { headers: { cookie: signingOut.cookie, 'x-csrf-token': signingOut.csrf } });
    const out = await first.closed;
    assert.equal(out.code, 4410);
    assert.equal(out.reason, 'You signed out, and the session ended with your sign-in.');
    assert.ok(Date.now() - at < 2000, 'within two seconds of the sign-out');
    at = Date.now();
    proxy.cli('lock', 'user', 'lou', '--reason', 'testing', '--for', '1h');
    const lockedOut = await second.closed;
    assert.equal(lockedOut.code, 4410);
    assert.match(lockedOut.reason, /^An admin locked the user lou until .*: testing\.$/);
    assert.ok(Date.now() - at < 2000, 'within two seconds of the lock');
  });

  test('when the owner leaves, a participant’s page says so', async () => {
    const watcher = await signedInPage('wes2', ['watcher']);
    await panel(owner.page).getByTestId('invite-input').fill('wes2');
    await panel(owner.page).getByTestId('invite').click();
    await watcher.page.goto(`${proxy.url}/join/${sessionId}?mode=observer`);
    await waitFor(() => joinText(watcher.page), /peer-was-42/m, 'the screen');
    await typeInto(owner.page, panel(owner.page).getByTestId('terminal'), 'exit');
    await watcher.page.getByTestId('join-ended').waitFor();
    assert.match(await watcher.page.getByTestId('join-ended').textContent(), /olive's session ended/);
    await owner.context.close();
    await watcher.context.close();
  });

  test('the player shows who joined and left on its timeline', async () => {
    const rows = proxy.cli('recordings', 'list', '--limit', '20').trim().split('\n').map((l) => JSON.parse(l));
    const row = rows.find((r) => r.user === 'olive');
    assert.ok(row, 'olive’s recording is listed');
    const auditor = await signedInPage('aud', ['auditor']);
    await auditor.page.goto(`${proxy.url}/recordings/${row.id}`);
    await auditor.page.getByTestId('timeline-mark').first().waitFor();
    const labels = await auditor.page.getByTestId('timeline-mark').evaluateAll((marks) => marks.map((m) => m.title));
    for (const expected of ['wes joined (observer)', 'wes left (observer)', 'pia joined (peer)', 'pia left (peer)', 'wes2 joined (observer)']) {
      assert.ok(labels.includes(expected), `${expected} in ${JSON.stringify(labels)}`);
    }
    await screenshot(auditor.page, 'join-07-player-marks');
    await auditor.context.close();
  });
});

describe('moderated sessions', () => {
  test('a session waits for its moderator, holds input, runs once one joins, pauses when they leave, and a moderator ends it', async () => {
    const owner = await signedInPage('mona', ['moderated']);
    await openOwnSession(owner.page);
    const bar = panel(owner.page).getByTestId('share-bar');
    await panel(owner.page).locator('[data-testid="share-bar"][data-state="waiting"]').waitFor();
    assert.match(await bar.getByTestId('share-notice').textContent(), /Waiting for a moderator \(auditor\)/);
    const terminal = panel(owner.page).getByTestId('terminal');
    await typeInto(owner.page, terminal, 'echo held-$((1+1))');
    await waitFor(() => ownerText(owner.page), /needs a moderator \(auditor\)/, 'the held-input notice');
    await new Promise((r) => setTimeout(r, 800));
    assert.doesNotMatch(await ownerText(owner.page), /^held-2$/m, 'nothing ran before a moderator joined');
    await screenshot(owner.page, 'join-04-waiting-for-moderator');

    const auditor = await signedInPage('ada', ['auditor']);
    await auditor.page.goto(`${proxy.url}/live`);
    const item = auditor.page.getByTestId('live-session').filter({ hasText: "mona's session" });
    await item.waitFor();
    const id = await item.getAttribute('data-id');
    assert.equal(await item.getAttribute('data-state'), 'waiting');
    await item.getByTestId('join-observer').click();
    await auditor.page.locator('[data-testid="join-status"][data-state="running"]').waitFor();
    await panel(owner.page).locator('[data-testid="share-bar"][data-state="running"]').waitFor();
    await typeInto(owner.page, terminal, 'echo now-$((2+2))');
    await waitFor(() => joinText(auditor.page), /^now-4$/m, 'the moderator’s screen');

    // The moderator leaves: paused, input held; back within the grace time: running again.
    await auditor.page.goto(`${proxy.url}/live`);
    await panel(owner.page).locator('[data-testid="share-bar"][data-state="paused"]').waitFor();
    await typeInto(owner.page, terminal, 'echo paused-$((3+3))');
    await waitFor(() => ownerText(owner.page), /session is paused/, 'the paused notice');
    await screenshot(owner.page, 'join-05-paused');
    assert.doesNotMatch(await ownerText(owner.page), /^paused-6$/m);
    await auditor.page.goto(`${proxy.url}/join/${id}?mode=observer`);
    await auditor.page.locator('[data-testid="join-status"][data-state="running"]').waitFor();

    // The moderator ends it: the owner's tab says who did.
    await auditor.page.getByTestId('end-session').click();
    await panel(owner.page).getByTestId('ssh-ended').waitFor();
    assert.match(await panel(owner.page).getByTestId('ssh-ended').textContent(), /ada, a moderator, ended this session\./);
    await auditor.page.getByTestId('join-ended').waitFor();
    await screenshot(owner.page, 'join-06-ended-by-moderator');
    assert.match(fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8'), /session\.moderator_ended/);
    await owner.context.close();
    await auditor.context.close();
  });

  test('with no moderator back within the grace time the session ends; the owner cannot moderate their own', async () => {
    const owner = await signedInPage('max', ['moderated', 'auditor']);
    await openOwnSession(owner.page);
    await panel(owner.page).locator('[data-testid="share-bar"][data-state="waiting"]').waitFor();
    const [mine] = (await live(owner.session)).filter((s) => s.owner === 'max');
    assert.deepEqual(mine.may_join, [], 'no way to join one’s own session');
    const self = await rawJoin(owner.session, mine.id, 'observer').closed;
    assert.equal(self.code, 4403);
    assert.match(self.reason, /your own session/);
    const ended = await proxy.request('POST', `/api/v1/live/${mine.id}/end`, {
      headers: { cookie: owner.session.cookie, 'x-csrf-token': owner.session.csrf, 'content-type': 'application/json' }, body: '{}',
    });
    assert.equal(ended.status, 403, 'the owner is no moderator of their own session');
    assert.equal((await live(owner.session)).find((s) => s.id === mine.id).state, 'waiting', 'still waiting');

    const auditor = await proxy.enrolAndSignIn('abe', ['auditor']);
    const joined = rawJoin(auditor, mine.id, 'observer');
    await panel(owner.page).locator('[data-testid="share-bar"][data-state="running"]').waitFor();
    joined.ws.close();
    await panel(owner.page).locator('[data-testid="share-bar"][data-state="paused"]').waitFor();
    const pausedAt = Date.now();
    await panel(owner.page).getByTestId('ssh-ended').waitFor({ timeout: 10_000 });
    const after = Date.now() - pausedAt;
    assert.match(await panel(owner.page).getByTestId('ssh-ended').textContent(), /No moderator was in this session for 8 s/);
    assert.ok(after >= 6000 && after < 12000, `ended about 8 s after the pause: ${after} ms`);
    await owner.context.close();
  });
});
