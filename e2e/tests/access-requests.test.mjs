// Just-in-time access: a person asks for a role with a reason and a duration; a
// reviewer, in another browser, sees the badge, approves; the requester's page shows
// the new node by itself and Connect opens a real SSH session on OpenSSH, which ends
// with a sentence when the request expires or a reviewer revokes it. Denial with a
// comment, a role needing two approvals, self-review and a reviewer of another role
// refused, the command line, the audit trail, and the webhook (a real HTTP receiver)
// are each tried against the real proxy.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  contextWithSession, freePort, gatehouseBin, launchBrowser, screenshot, startNode, startProxy, until,
} from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;

/** What the webhook receiver was sent, in order. */
const hooks = [];
let receiver;
let proxy;
let node;
let browser;
let work;

before(async () => {
  const hookPort = await freePort();
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      hooks.push({ method: req.method, url: req.url, type: req.headers['content-type'], body: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => receiver.listen(hookPort, '127.0.0.1', r));
  proxy = await startProxy(`
[roles.dev]
node_labels = { env = "nowhere" }
logins = ["nobody"]

[roles.lead]
node_labels = { env = "nowhere" }
logins = ["nobody"]

[roles.ops]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
requestable_by = ["dev", "lead"]
max_duration = "1h"
reviewers = ["lead"]

[roles.prod]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
requestable_by = ["dev"]
max_duration = "1h"
approvals = 2
reviewers = ["lead"]

[access_requests]
webhook_url = "http://127.0.0.1:${hookPort}/hook"
`);
  node = await startNode(proxy);
  browser = await launchBrowser();
  work = fs.mkdtempSync(path.join(proxy.dir, 'requests-'));
});

after(async () => {
  await browser?.close();
  await node?.stop();
  await proxy?.stop();
  receiver?.close();
});

/**
 * The command line, run without blocking this process: the webhook receiver lives here
 * and must answer the command's own delivery.
 */
async function cli(...args) {
  try {
    const { stdout, stderr } = await promisify(execFile)(gatehouseBin(), ['--config', proxy.config, ...args]);
    return { status: 0, out: stdout, err: stderr };
  } catch (err) {
    return { status: err.code, out: err.stdout, err: err.stderr };
  }
}

const audit = () => fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');

/** A call to the API as `who` (with their cookie and CSRF token). */
function call(who, method, pathname, body) {
  return proxy.request(method, pathname, {
    headers: { cookie: who.cookie, 'x-csrf-token': who.csrf, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function ask(who, role, duration_secs = 3600, reason = 'incident 42') {
  const res = await call(who, 'POST', '/api/v1/requests', { role, reason, duration_secs });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

const review = (who, id, approve, comment = '') => call(who, 'POST', `/api/v1/requests/${id}/review`, { approve, comment });
const nodesOf = async (who) => (await call(who, 'GET', '/api/v1/resources')).json.nodes.map((n) => n.name);

/** A browser context and page signed in as `who`, failing the test on any page error. */
async function pageFor(who, errors) {
  const context = await contextWithSession(browser, proxy, who.cookie);
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text().slice(0, 600)); });
  return { context, page };
}

/** Opens an SSH tab on demo from the resources page, typing a loop that prints. */
async function connectFromResources(page) {
  const connect = page.locator('[data-node="demo"] [data-testid="connect"]');
  await connect.waitFor({ timeout: 10_000 });
  await connect.click();
  const active = page.locator('[data-testid="ssh-panel"][data-active="true"]');
  await active.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
  await active.getByTestId('terminal').click();
  await page.keyboard.type('while :; do date; sleep 0.3; done');
  await page.keyboard.press('Enter');
  return active;
}

describe('access requests, requester and reviewer in two browsers', () => {
  test('request → approve → the node appears → Connect → expiry ends the session with the sentence', async () => {
    const errors = [];
    const rita = await proxy.certifiedKey('rita', ['dev'], work);
    const leo = await proxy.enrolAndSignIn('leo', ['lead']);
    const requester = await pageFor(rita, errors);
    const reviewer = await pageFor(leo, errors);
    const { page } = requester;

    // Rita asks on the Request access page.
    await page.goto(`${proxy.url}/requests`);
    await page.getByTestId('request-role').selectOption('ops');
    assert.equal(await page.getByTestId('request-hint').textContent(), 'At most 1h; needs 1 approval.');
    await page.getByTestId('request-duration').fill('12');
    await page.getByTestId('request-unit').selectOption('1');
    await page.getByTestId('request-reason').fill('INC-42: disk full on demo');
    await page.getByTestId('request-submit').click();
    const mine = page.locator('[data-testid="my-requests"] [data-testid="request"][data-role="ops"]');
    await mine.waitFor();
    assert.equal(await mine.getAttribute('data-status'), 'pending');
    await screenshot(page, '70-request-access-pending');

    // Her resources: nothing yet.
    await page.goto(`${proxy.url}/`);
    await page.getByTestId('resources-empty').waitFor();

    // Leo sees the badge, opens the page, approves with a comment.
    await reviewer.page.goto(`${proxy.url}/`);
    const badge = reviewer.page.getByTestId('pending-badge');
    await badge.waitFor({ timeout: 10_000 });
    assert.equal(await badge.textContent(), '1');
    await screenshot(reviewer.page, '71-reviewer-badge');
    await reviewer.page.getByTestId('nav-requests').click();
    const pending = reviewer.page.locator('[data-testid="review-requests"] [data-testid="request"][data-status="pending"]');
    await pending.waitFor();
    assert.match(await pending.textContent(), /rita asks for ops.*INC-42: disk full on demo/s);
    await screenshot(reviewer.page, '72-reviewer-pending');
    await pending.getByTestId('review-comment').fill('go ahead');
    await pending.getByTestId('approve').click();
    await reviewer.page.locator('[data-testid="review-requests"] [data-testid="request"][data-status="active"]').waitFor();
    await until(async () => (await badge.count()) === 0, 'the badge to go once nothing waits');

    // Rita's resources page shows demo by itself, and Connect works.
    const shown = Date.now();
    await page.locator('[data-node="demo"]').waitFor({ timeout: 5000 });
    assert.ok(Date.now() - shown < 4000, 'the page refreshed itself within a couple of seconds');
    await screenshot(page, '73-requester-node-appeared');
    const active = await connectFromResources(page);
    await page.waitForTimeout(800);

    // The request's end ends the session, with the sentence, within two seconds.
    const listed = (await call(rita, 'GET', '/api/v1/requests')).json;
    const request = listed.mine.find((r) => r.role === 'ops');
    assert.equal(request.status, 'active');
    await active.getByTestId('ssh-ended').waitFor({ timeout: 20_000 });
    const late = Date.now() - request.expires_at * 1000;
    assert.match(await active.getByTestId('ssh-ended').textContent(),
      /Your access request for role ops expired, and the sessions it allowed with it\./);
    assert.ok(late >= 0 && late < 2500, `ended ${late} ms after the request expired`);
    await screenshot(page, '74-session-ended-by-expiry');

    // New connections are refused, and the node is gone from the list.
    const cert = await proxy.certify(rita, 'demo', LOGIN);
    assert.equal(cert.status, 403, cert.text);
    assert.deepEqual(await nodesOf(rita), []);

    // Each step is in the audit trail, and the webhook heard of it.
    await until(() => /"kind":"access.requested","user":"rita"/.test(audit()), 'the request audited');
    assert.match(audit(), /"kind":"access.reviewed","user":"leo".*approved \(1\/1\): go ahead/);
    assert.match(audit(), /"kind":"access.approved","user":"rita"/);
    assert.match(audit(), /"kind":"ssh.terminated","user":"rita".*expired/);
    await until(() => hooks.some((h) => h.body.event === 'request.approved' && h.body.request.id === request.id), 'the approval webhook');
    await until(() => hooks.some((h) => h.body.event === 'request.expired' && h.body.request.id === request.id
      && h.body.request.status === 'expired'), 'the expiry webhook');
    assert.equal(hooks.filter((h) => h.body.event === 'request.expired' && h.body.request.id === request.id).length, 1, 'once');
    assert.match(audit(), new RegExp(`"kind":"access.expired","user":"rita".*request ${request.id}: role ops`));
    const created = hooks.find((h) => h.body.event === 'request.created' && h.body.request.id === request.id);
    assert.equal(created.method, 'POST');
    assert.equal(created.url, '/hook');
    assert.equal(created.type, 'application/json');
    assert.equal(created.body.request.user, 'rita');
    assert.equal(created.body.request.reason, 'INC-42: disk full on demo');
    assert.equal(created.body.url, `${proxy.url}/requests`);

    await requester.context.close();
    await reviewer.context.close();
    assert.deepEqual(errors, []);
  });

  test('a denial with a comment is shown to the requester', async () => {
    const errors = [];
    const dora = await proxy.enrolAndSignIn('dora', ['dev']);
    const lex = await proxy.enrolAndSignIn('lex', ['lead']);
    const request = await ask(dora, 'ops');
    const reviewer = await pageFor(lex, errors);
    await reviewer.page.goto(`${proxy.url}/requests`);
    const row = reviewer.page.locator(`[data-testid="request"][data-id="${request.id}"]`);
    await row.getByTestId('review-comment').fill('use the runbook instead');
    // The page asks again every two seconds; a new request arriving meanwhile must not
    // wipe the comment being typed.
    const other = await proxy.enrolAndSignIn('dina', ['dev']);
    const distraction = await ask(other, 'ops');
    await reviewer.page.locator(`[data-testid="request"][data-id="${distraction.id}"]`).waitFor({ timeout: 5000 });
    assert.equal(await row.getByTestId('review-comment').inputValue(), 'use the runbook instead');
    await row.getByTestId('deny').click();
    await reviewer.page.locator(`[data-testid="request"][data-id="${request.id}"][data-status="denied"]`).waitFor();

    const requester = await pageFor(dora, errors);
    await requester.page.goto(`${proxy.url}/requests`);
    const mine = requester.page.locator(`[data-testid="request"][data-id="${request.id}"]`);
    await mine.waitFor();
    assert.equal(await mine.getAttribute('data-status'), 'denied');
    assert.equal(await mine.getByTestId('review').textContent(), 'lex denied: “use the runbook instead”');
    await screenshot(requester.page, '75-requester-sees-denial');
    assert.deepEqual(await nodesOf(dora), []);
    // Decided once: another review finds it decided.
    const again = await review(lex, request.id, true);
    assert.equal(again.status, 409);
    assert.equal(again.json.message, 'This request is no longer pending (it is denied).');
    await until(() => hooks.some((h) => h.body.event === 'request.denied' && h.body.request.id === request.id), 'the denial webhook');
    assert.match(audit(), /"kind":"access.denied","user":"dora"/);
    assert.equal((await review(lex, distraction.id, false, 'not now')).status, 200, 'nothing left waiting');
    await requester.context.close();
    await reviewer.context.close();
    assert.deepEqual(errors, []);
  });

  test('a role needing two approvals stays pending after one; the command line gives the second', async () => {
    const pia = await proxy.enrolAndSignIn('pia', ['dev']);
    const lou = await proxy.enrolAndSignIn('lou', ['lead']);
    const request = await ask(pia, 'prod');
    assert.equal(request.approvals_needed, 2);
    const first = await review(lou, request.id, true, 'one of two');
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.status, 'pending');
    assert.equal(first.json.approvals, 1);
    assert.deepEqual(await nodesOf(pia), [], 'no role yet');
    const twice = await review(lou, request.id, true);
    assert.equal(twice.status, 409);
    assert.equal(twice.json.code, 'already_reviewed');

    const listed = (await cli('requests', 'list')).out;
    assert.match(listed, new RegExp(`^${request.id}\\s+pia\\s+prod\\s+pending\\s+1/2`, 'm'));
    const started = Date.now();
    const { out } = await cli('requests', 'approve', String(request.id), '--as', 'ada', '--comment', 'second');
    assert.ok(Date.now() - started < 5000, 'the command delivered its webhook event and ended');
    assert.match(out, new RegExp(`Request ${request.id} \\(pia for role prod\\) is active \\(2/2 approvals\\)`));
    assert.deepEqual(await nodesOf(pia), ['demo'], 'the role is held now, without signing in again');
    assert.match(audit(), /"kind":"access.reviewed","user":"ada".*approved \(2\/2\): second/);
    const approved = hooks.find((h) => h.body.event === 'request.approved' && h.body.request.id === request.id);
    assert.ok(approved, 'the command line announced the approval before it ended');
    assert.deepEqual(approved.body.request.reviews.map((r) => r.reviewer).sort(), ['ada', 'lou']);

    // The command line revokes it too.
    const revoked = (await cli('requests', 'revoke', String(request.id), '--comment', 'done')).out;
    assert.match(revoked, /is revoked .*its sessions end within 2 seconds/);
    assert.deepEqual(await nodesOf(pia), []);
    await until(() => hooks.some((h) => h.body.event === 'request.revoked' && h.body.request.id === request.id), 'the revocation webhook (from the command line)');
  });

  test('nobody reviews their own request, nor a role they do not review (API and page)', async () => {
    const errors = [];
    const lia = await proxy.enrolAndSignIn('lia', ['lead']);
    const dev = await proxy.enrolAndSignIn('dev1', ['dev']);
    const own = await ask(lia, 'ops', 600, 'my own on-call');
    const self = await review(lia, own.id, true);
    assert.equal(self.status, 403);
    assert.deepEqual(self.json, { code: 'own_request', message: 'You cannot review your own access request; another reviewer must.' });
    const notReviewer = await review(dev, own.id, true);
    assert.equal(notReviewer.status, 403);
    assert.deepEqual(notReviewer.json, { code: 'not_reviewer', message: 'You are not a reviewer for the role ops.' });
    const refusedCli = await cli('requests', 'approve', String(own.id), '--as', 'lia');
    assert.notEqual(refusedCli.status, 0);
    assert.match(refusedCli.err, /You cannot review your own access request/);
    assert.equal((await call(lia, 'GET', '/api/v1/requests')).json.mine[0].status, 'pending', 'still pending');
    assert.match(audit(), /"kind":"access.review_refused","user":"lia".*own access request/);
    assert.match(audit(), /"kind":"access.review_refused","user":"dev1".*not a reviewer for the role ops/);
    // A dev may not ask for a role only leads may ask for, nor for longer than allowed.
    const tooLong = await call(dev, 'POST', '/api/v1/requests', { role: 'ops', reason: 'x', duration_secs: 7200 });
    assert.equal(tooLong.status, 422);
    assert.equal(tooLong.json.message, 'Ask for a duration of at most 1h (the most the role ops allows).');

    // The page shows her own request without Approve, and says why.
    const { context, page } = await pageFor(lia, errors);
    await page.goto(`${proxy.url}/requests`);
    const row = page.locator(`[data-testid="review-requests"] [data-testid="request"][data-id="${own.id}"]`);
    await row.getByTestId('own-request').waitFor();
    assert.equal(await row.getByTestId('approve').count(), 0);
    assert.equal(await page.getByTestId('pending-badge').count(), 0, 'her own request is not waiting for her');
    await screenshot(page, '76-own-request-not-reviewable');
    await context.close();
    assert.deepEqual(errors, []);
  });

  test('a reviewer revoking mid-session ends the SSH tab with the sentence, and new connections are refused', async () => {
    const errors = [];
    const ray = await proxy.certifiedKey('ray', ['dev'], work);
    const lyn = await proxy.enrolAndSignIn('lyn', ['lead']);
    const request = await ask(ray, 'ops', 3600, 'deploy window');
    assert.equal((await review(lyn, request.id, true)).json.status, 'active');

    const requester = await pageFor(ray, errors);
    await requester.page.goto(`${proxy.url}/`);
    const active = await connectFromResources(requester.page);
    await requester.page.waitForTimeout(800);

    const reviewer = await pageFor(lyn, errors);
    await reviewer.page.goto(`${proxy.url}/requests`);
    const row = reviewer.page.locator(`[data-testid="request"][data-id="${request.id}"][data-status="active"]`);
    await row.getByTestId('review-comment').fill('window closed');
    const start = Date.now();
    await row.getByTestId('revoke').click();
    await active.getByTestId('ssh-ended').waitFor({ timeout: 5000 });
    const ms = Date.now() - start;
    assert.ok(ms < 2500, `the tab ended ${ms} ms after the revocation`);
    assert.match(await active.getByTestId('ssh-ended').textContent(),
      /lyn revoked your access request for role ops, and the sessions it allowed ended with it\./);
    await screenshot(requester.page, '77-session-ended-by-revocation');
    await reviewer.page.locator(`[data-testid="request"][data-id="${request.id}"][data-status="revoked"]`).waitFor();
    assert.equal(await reviewer.page.locator(`[data-testid="request"][data-id="${request.id}"] [data-testid="revoked-by"]`).textContent(),
      'Revoked by lyn: “window closed”');

    const cert = await proxy.certify(ray, 'demo', LOGIN);
    assert.equal(cert.status, 403, cert.text);
    assert.deepEqual(await nodesOf(ray), []);
    assert.match(audit(), /"kind":"access.revoked","user":"lyn".*window closed/);
    await requester.context.close();
    await reviewer.context.close();
    assert.deepEqual(errors, []);
  });
});
