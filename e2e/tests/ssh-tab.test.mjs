// An SSH tab in the browser: russh compiled to wasm speaks SSH over the proxy's
// WebSocket to a real sshd, checks the host certificate against the pinned host CA,
// signs in with the proxy-issued certificate, and the canvas terminal shows the shell.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, newContext, screenshot, startNode, startProxy } from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const CONFIG = `
[roles.direct]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
ssh_mode = "direct"
`;

let proxy;
let node;
let browser;

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

async function signedInPage(name) {
  const session = await proxy.enrolAndSignIn(name, ['direct']);
  const context = await newContext(browser);
  const [cookieName, value] = session.cookie.split('=');
  await context.addCookies([{ name: cookieName, value, url: proxy.url, httpOnly: true, secure: true, sameSite: 'Strict' }]);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  return { context, page };
}

const screenText = (page) => page.getByTestId('screen-text').textContent();

async function waitForScreen(page, pattern, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = await screenText(page);
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`screen never matched ${pattern}:\n${text}`);
    await page.waitForTimeout(100);
  }
}

describe('SSH tab in the browser', () => {
  test('connect from the resources page, run a command, see its output', async () => {
    const { context, page } = await signedInPage('pat');
    await page.goto(`${proxy.url}/`);
    await page.getByTestId('connect').click();
    await page.waitForURL(new RegExp(`/ssh/demo\\?login=${LOGIN}$`));
    await page.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await waitForScreen(page, /[$#] *$/m);
    await page.getByTestId('terminal').click();
    await page.keyboard.type('echo hello-$((6*7))');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^hello-42$/m);
    await screenshot(page, '11-ssh-tab');
    const pin = await page.evaluate(() => localStorage.getItem('gatehouse.host_ca_pin'));
    const hostCa = execFileSync('ssh-keygen', ['-l', '-f', path.join(proxy.dir, 'data', 'ca', 'host_ca.pub')], { encoding: 'utf8' }).split(' ')[1];
    assert.equal(pin, hostCa, 'the host CA is pinned on first use');

    await page.keyboard.type('exit');
    await page.keyboard.press('Enter');
    await page.getByTestId('ssh-ended').waitFor();
    assert.match(await page.getByTestId('ssh-ended').textContent(), /The session ended\./);
    await context.close();
  });

  test('two sessions side by side each get their own shell', async () => {
    const { context, page } = await signedInPage('tess');
    const second = await context.newPage();
    for (const p of [page, second]) {
      await p.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
      await p.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
      await waitForScreen(p, /[$#] *$/m);
    }
    for (const [p, word] of [[page, 'first'], [second, 'second']]) {
      await p.getByTestId('terminal').click();
      await p.keyboard.type(`echo ${word}-$$`);
      await p.keyboard.press('Enter');
    }
    const first = (await waitForScreen(page, /^first-\d+$/m)).match(/^first-(\d+)$/m)[1];
    const other = (await waitForScreen(second, /^second-\d+$/m)).match(/^second-(\d+)$/m)[1];
    assert.notEqual(first, other, 'two shells, two process ids');
    assert.doesNotMatch(await screenText(page), /second-/, 'output stays in its own tab');
    await context.close();
  });

  test('the terminal follows the window size and tells the node', async () => {
    const { context, page } = await signedInPage('rosa');
    await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    await page.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await waitForScreen(page, /[$#] *$/m);
    const cols = async () => Number(await page.getByTestId('terminal').getAttribute('data-cols'));
    const wide = await cols();
    await page.getByTestId('terminal').click();
    await page.keyboard.type('echo cols=$(tput cols)');
    await page.keyboard.press('Enter');
    await waitForScreen(page, new RegExp(`^cols=${wide}$`, 'm'));

    await page.setViewportSize({ width: 700, height: 700 });
    await page.waitForFunction((before) => Number(document.querySelector('[data-testid="terminal"]').dataset.cols) < before, wide);
    const narrow = await cols();
    await page.keyboard.type('clear; echo cols=$(tput cols)');
    await page.keyboard.press('Enter');
    await waitForScreen(page, new RegExp(`^cols=${narrow}$`, 'm'));
    assert.ok(narrow < wide, `${narrow} < ${wide}`);
    await context.close();
  });

  test('a node that dies mid-session says so, and the proxy keeps serving', async () => {
    const { context, page } = await signedInPage('sam');
    await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    await page.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await waitForScreen(page, /[$#] *$/m);
    // Kill this session's sshd process (the child of the listener), as a crash would.
    await page.getByTestId('terminal').click();
    await page.keyboard.type('kill -9 $PPID');
    await page.keyboard.press('Enter');
    await page.getByTestId('ssh-ended').waitFor({ timeout: 20_000 });
    assert.match(await page.getByTestId('ssh-ended').textContent(), /closed without the session ending: the node may have stopped/);
    await screenshot(page, '13-ssh-node-died');
    assert.equal((await proxy.request('GET', '/api/v1/health')).status, 200);

    await page.getByTestId('reconnect').click();
    await page.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await context.close();
  });

  test('a host certificate from another CA than the pinned one stops the connection', async () => {
    const { context, page } = await signedInPage('quinn');
    await page.goto(`${proxy.url}/`);
    await page.evaluate(() => localStorage.setItem('gatehouse.host_ca_pin', 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'));
    await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    await page.getByTestId('pin-mismatch').waitFor({ timeout: 20_000 });
    assert.match(await page.getByTestId('pin-mismatch').textContent(), /not by the pinned host CA SHA256:AAAA/);
    await screenshot(page, '12-ssh-pin-mismatch');
    assert.doesNotMatch(node.logText(), /Accepted publickey for .* ID gatehouse:quinn/, 'nothing signed in');
    await context.close();
  });
});
