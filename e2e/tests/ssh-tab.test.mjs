// An SSH tab in the browser: russh compiled to wasm speaks SSH over the proxy's
// WebSocket, checks the host certificate against the pinned host CA, signs in with the
// proxy-issued certificate, and the canvas terminal shows the shell of a real sshd. In
// recorded mode (the default) the proxy's SSH server answers and bridges to the node;
// in direct mode the browser's SSH reaches the node itself.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, afterEach, before, describe, test } from 'node:test';
import { launchBrowser, signedInPage as openSignedIn, screenshot, startNode, startProxy } from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const CONFIG = `
[roles.recorded]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]

[roles.direct]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
ssh_mode = "direct"
`;

let proxy;
let node;
let browser;
/** Uncaught errors and console errors from the app: any is a failure. */
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

const signedInPage = (name, roles = ['recorded']) => openSignedIn(proxy, browser, name, roles, pageErrors);

/** The session panel on show (sessions live in tabs; hidden ones stay mounted). */
const panel = (page) => page.locator('[data-testid="ssh-panel"][data-active="true"]');
const screenText = (page) => panel(page).getByTestId('screen-text').textContent();
const connected = (page) => panel(page).locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
const ACTIVE_TERMINAL = '[data-testid="ssh-panel"][data-active="true"] [data-testid="terminal"]';
const activeCols = async (page) => Number(await page.locator(ACTIVE_TERMINAL).getAttribute('data-cols'));
/** The colour of a canvas pixel in the bottom corner, where no text is drawn. */
const backgroundPixel = (page) => page.$eval(ACTIVE_TERMINAL, (c) =>
  Array.from(c.getContext('2d').getImageData(c.width - 3, c.height - 3, 1, 1).data.slice(0, 3)));

/** Polls `check` until it holds. */
async function until(page, check, what, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(50);
  }
}

/** Opens a session tab to the demo node and waits for the shell prompt. */
async function openSession(page) {
  await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
  await connected(page);
  await waitForScreen(page, /[$#] *$/m);
}

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
    await page.waitForURL(/\/ssh$/);
    await connected(page);
    await waitForScreen(page, /[$#] *$/m);
    await panel(page).getByTestId('terminal').click();
    await page.keyboard.type('echo hello-$((6*7))');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^hello-42$/m);
    assert.equal(await panel(page).getByTestId('ssh-recorded').getAttribute('data-recorded'), 'true');
    await screenshot(page, '11-ssh-tab');
    const pin = await page.evaluate(() => localStorage.getItem('gatehouse.host_ca_pin'));
    const hostCa = execFileSync('ssh-keygen', ['-l', '-f', path.join(proxy.dir, 'data', 'ca', 'host_ca.pub')], { encoding: 'utf8' }).split(' ')[1];
    assert.equal(pin, hostCa, 'the host CA is pinned on first use');

    await page.keyboard.type('exit');
    await page.keyboard.press('Enter');
    await panel(page).getByTestId('ssh-ended').waitFor();
    assert.match(await panel(page).getByTestId('ssh-ended').textContent(), /The session ended\./);
    await context.close();

    // The recording holds what the tab showed, and its end.
    const [row] = JSON.parse(`[${proxy.cli('recordings', 'list', '--limit', '1').trim()}]`);
    assert.equal(row.user, 'pat');
    const replay = execFileSync(process.env.GATEHOUSE_BIN, ['--config', proxy.config, 'recordings', 'cat', row.id], { encoding: 'utf8' });
    assert.match(replay, /hello-42\r\n/);
    assert.match(row.end_reason, /exit/);
  });

  test('direct mode: the browser reaches the node itself, and the tab says it is not recorded', async () => {
    const { context, page } = await signedInPage('dora', ['direct']);
    await openSession(page);
    await panel(page).getByTestId('terminal').click();
    await page.keyboard.type('echo direct-$((2+3))');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^direct-5$/m);
    const badge = panel(page).getByTestId('ssh-recorded');
    assert.equal(await badge.getAttribute('data-recorded'), 'false');
    assert.equal(await badge.textContent(), 'Not recorded');
    assert.match(node.logText(), /Accepted publickey for \S+ .*ID gatehouse:dora \(serial/, "the node saw the browser's own certificate");
    await screenshot(page, '17-ssh-direct');
    await context.close();
  });

  test('sessions open as tabs, keep running while switching, and close', async () => {
    const { context, page } = await signedInPage('tess');
    await page.goto(`${proxy.url}/`);
    for (const word of ['first', 'second']) {
      await page.getByTestId('connect').click();
      await page.waitForURL(/\/ssh$/);
      await connected(page);
      await waitForScreen(page, /[$#] *$/m);
      await panel(page).getByTestId('terminal').click();
      await page.keyboard.type(`echo ${word}-$$`);
      await page.keyboard.press('Enter');
      await waitForScreen(page, new RegExp(`^${word}-\\d+$`, 'm'));
      if (word === 'first') await panel(page).getByTestId('to-resources').click();
    }
    assert.equal(await page.getByTestId('tab').count(), 2);
    const second = (await screenText(page)).match(/^second-(\d+)$/m)[1];
    assert.doesNotMatch(await screenText(page), /first-/, 'output stays in its own tab');
    await screenshot(page, '14-ssh-tabs');

    await page.getByTestId('tab').first().locator('.tab-title').click();
    const firstText = await waitForScreen(page, /^first-\d+$/m);
    const first = firstText.match(/^first-(\d+)$/m)[1];
    assert.notEqual(first, second, 'two shells, two process ids');
    await panel(page).getByTestId('terminal').click();
    await page.keyboard.type('echo still-here');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^still-here$/m);
    assert.match(await panel(page).getByTestId('ssh-status').textContent(), /Connected/, 'the first session survived switching');

    await page.getByTestId('tab').first().locator('.tab-title').dblclick();
    await page.getByTestId('tab-rename').fill('build box');
    await page.getByTestId('tab-rename').press('Enter');
    await page.waitForFunction(() => document.querySelector('[data-testid="tab"] .tab-title')?.textContent === 'build box');

    await page.getByTestId('close-tab').first().click();
    assert.equal(await page.getByTestId('tab').count(), 1);
    await waitForScreen(page, /^second-\d+$/m);
    await page.getByTestId('close-tab').click();
    await page.getByTestId('no-sessions').waitFor();
    await context.close();
  });

  test('the wheel scrolls back through history, and selecting text copies it', async () => {
    const { context, page } = await signedInPage('uma');
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: proxy.url });
    await openSession(page);
    const terminal = panel(page).getByTestId('terminal');
    await terminal.click();
    await page.keyboard.type('clear; seq -f line-%03g 1 300');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^line-300$/m);
    assert.doesNotMatch(await screenText(page), /^line-100$/m);

    const box = await terminal.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    for (let i = 0; i < 4; i++) await page.mouse.wheel(0, -400);
    const history = await waitForScreen(page, /^line-1\d\d$/m);
    assert.doesNotMatch(history, /^line-300$/m, 'scrolled away from the live screen');

    // Drag across the first two rows of what is shown: copies them.
    const rows = Number(await terminal.getAttribute('data-rows'));
    const rowHeight = box.height / rows;
    const firstTwo = history.split('\n').slice(0, 2).join('\n');
    await page.mouse.move(box.x + 1, box.y + rowHeight * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width - 2, box.y + rowHeight * 1.5, { steps: 5 });
    await page.mouse.up();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied.trimEnd(), firstTwo.trimEnd());
    await screenshot(page, '15-ssh-scrollback-selection');

    // Typing returns to the live screen.
    await page.keyboard.type('echo back');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^back$/m);
    await context.close();
  });

  test('search finds text in the scrollback, steps through matches, and goes back to live', async () => {
    const { context, page } = await signedInPage('sid');
    await openSession(page);
    const terminal = panel(page).getByTestId('terminal');
    await terminal.click();
    await page.keyboard.type('clear; seq -f row-%04g 1 500; seq -f tail-%g 1 100');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^tail-100$/m);
    const status = panel(page).getByTestId('search-status');
    const input = panel(page).getByTestId('search-input');

    await page.keyboard.press('Control+Shift+F');
    await input.waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'search-input', 'the field has focus');
    await input.fill('ROW-0042');
    assert.equal(await status.textContent(), '1 of 1');
    await waitForScreen(page, /^row-0042$/m);
    assert.doesNotMatch(await screenText(page), /^tail-100$/m, 'the view scrolled back');

    await input.fill('row-00');
    assert.equal(await status.textContent(), '99 of 99', 'newest first');
    await waitForScreen(page, /^row-0099$/m);
    await input.press('Enter');
    assert.equal(await status.textContent(), '98 of 99');
    await waitForScreen(page, /^row-0098$/m);
    await panel(page).getByTestId('search-older').click();
    assert.equal(await status.textContent(), '97 of 99');
    await input.press('Shift+Enter');
    await input.press('Shift+Enter');
    await input.press('Shift+Enter');
    assert.equal(await status.textContent(), '1 of 99', 'stepping past the newest wraps to the oldest');
    await screenshot(page, '18-ssh-search');

    await input.fill('nowhere-to-be-found');
    assert.equal(await status.textContent(), 'No matches');
    await input.press('Escape');
    await input.waitFor({ state: 'hidden' });
    await waitForScreen(page, /^tail-100$/m);
    await context.close();
  });

  test('10,000 lines of scrollback survive a resize, and search finds text 9,000 lines up', async () => {
    const { context, page } = await signedInPage('tenk');
    await openSession(page);
    const terminal = panel(page).getByTestId('terminal');
    await terminal.click();
    // 10,100 lines: the oldest hundred or so leave the 10,000-line scrollback.
    await page.keyboard.type('clear; seq -f far-%05g 1 10100');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^far-10100$/m);
    const rows = Number(await terminal.getAttribute('data-rows'));

    // A shorter and narrower window: lines leave the screen, the scrollback stays full.
    const wide = await activeCols(page);
    await page.setViewportSize({ width: 800, height: 500 });
    await until(page, async () => (await activeCols(page)) < wide, 'fewer columns in a smaller window');
    assert.ok(Number(await terminal.getAttribute('data-rows')) < rows, 'fewer rows too');

    const status = panel(page).getByTestId('search-status');
    const input = panel(page).getByTestId('search-input');
    await page.keyboard.press('Control+Shift+F');
    await input.waitFor({ state: 'visible' });
    // 9,000 lines above the last one.
    await input.fill('far-01100');
    assert.equal(await status.textContent(), '1 of 1');
    const shown = await waitForScreen(page, /^far-01100$/m);
    assert.doesNotMatch(shown, /^far-10100$/m, 'the view scrolled back to it');
    await screenshot(page, '19-ssh-search-9000-lines-up');
    await input.fill('far-00');
    const matches = Number((await status.textContent()).split(' of ')[1]);
    assert.ok(matches > 800 && matches < 1000, `most of far-00001..far-00999 still kept (${matches})`);
    await input.press('Escape');
    await waitForScreen(page, /^far-10100$/m);
    await context.close();
  });

  test('terminal colours and font size can be changed, and are remembered', async () => {
    const { context, page } = await signedInPage('vera');
    await openSession(page);
    await panel(page).getByTestId('term-theme').selectOption('high-contrast');
    await until(page, async () => (await backgroundPixel(page)).join() === '0,0,0', 'a black background');
    await panel(page).getByTestId('term-theme').selectOption('light');
    await until(page, async () => (await backgroundPixel(page)).join() === '251,251,252', 'the light background');

    const terminal = panel(page).getByTestId('terminal');
    const before = await activeCols(page);
    for (let i = 0; i < 4; i++) await panel(page).getByTestId('font-larger').click();
    await until(page, async () => (await activeCols(page)) < before, 'fewer columns with larger text');
    await terminal.click();
    await page.keyboard.type('echo cols=$(tput cols)');
    await page.keyboard.press('Enter');
    await waitForScreen(page, new RegExp(`^cols=${await terminal.getAttribute('data-cols')}$`, 'm'));
    await screenshot(page, '16-ssh-light-large');
    assert.equal(await page.evaluate(() => localStorage.getItem('gatehouse.terminal')), 'light:18');
    await context.close();
  });

  test('the terminal follows the window size and tells the node', async () => {
    const { context, page } = await signedInPage('rosa');
    await openSession(page);
    const wide = await activeCols(page);
    await panel(page).getByTestId('terminal').click();
    await page.keyboard.type('echo cols=$(tput cols)');
    await page.keyboard.press('Enter');
    await waitForScreen(page, new RegExp(`^cols=${wide}$`, 'm'));

    await page.setViewportSize({ width: 700, height: 700 });
    await until(page, async () => (await activeCols(page)) < wide, 'fewer columns in a narrower window');
    const narrow = await activeCols(page);
    await page.keyboard.type('clear; echo cols=$(tput cols)');
    await page.keyboard.press('Enter');
    await waitForScreen(page, new RegExp(`^cols=${narrow}$`, 'm'));
    assert.ok(narrow < wide, `${narrow} < ${wide}`);
    await context.close();
  });

  test('a flood of output keeps the page responsive, and memory stays bounded', async () => {
    const { context, page } = await signedInPage('flo');
    // Keep a handle on the app's WebAssembly memory, to watch its size.
    await page.addInitScript(() => {
      const keep = (result) => {
        const exports = (result.instance || result).exports;
        if (exports && exports.memory) window.__wasmMemory = exports.memory;
        return result;
      };
      const streaming = WebAssembly.instantiateStreaming;
      WebAssembly.instantiateStreaming = (...args) => streaming(...args).then(keep);
      const plain = WebAssembly.instantiate;
      WebAssembly.instantiate = (...args) => plain(...args).then(keep);
    });
    await openSession(page);
    await page.evaluate(() => {
      window.__frames = { maxGap: 0, last: performance.now() };
      const tick = (t) => {
        window.__frames.maxGap = Math.max(window.__frames.maxGap, t - window.__frames.last);
        window.__frames.last = t;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const wasmMb = () => page.evaluate(() => window.__wasmMemory.buffer.byteLength / 1048576);
    const flood = async (mb, marker) => {
      await panel(page).getByTestId('terminal').click();
      await page.keyboard.type(`head -c ${mb * 1000000} /dev/urandom | base64 -w 150; echo ${marker}-$((1+1))`);
      await page.keyboard.press('Enter');
      await waitForScreen(page, new RegExp(`^${marker}-2$`, 'm'), 240_000);
    };
    await flood(12, 'warm');
    const afterFirst = await wasmMb();
    await page.evaluate(() => { window.__frames.maxGap = 0; window.__frames.last = performance.now(); });
    await flood(36, 'flood');
    const afterSecond = await wasmMb();
    const maxGap = await page.evaluate(() => window.__frames.maxGap);
    console.log(`flood: longest gap between frames ${maxGap.toFixed(0)} ms; wasm memory ${afterFirst} MB, then ${afterSecond} MB`);
    assert.ok(maxGap < 1000, `the page kept painting during the flood (longest gap ${maxGap.toFixed(0)} ms)`);
    // The scrollback is full after the first flood: three times the output adds little.
    assert.ok(afterSecond - afterFirst <= 16, `memory grew from ${afterFirst} MB to ${afterSecond} MB`);
    // And the shell still answers at once.
    await page.keyboard.type('echo after-$((3*3))');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^after-9$/m);
    await context.close();
  });

  test('a node that dies mid-session says so, and the proxy keeps serving', async () => {
    const { context, page } = await signedInPage('sam');
    await openSession(page);
    // Kill this session's sshd process (the child of the listener), as a crash would.
    await panel(page).getByTestId('terminal').click();
    await page.keyboard.type('kill -9 $PPID');
    await page.keyboard.press('Enter');
    await panel(page).getByTestId('ssh-ended').waitFor({ timeout: 20_000 });
    assert.match(await panel(page).getByTestId('ssh-ended').textContent(), /closed without the session ending: the node may have stopped/);
    await screenshot(page, '13-ssh-node-died');
    assert.equal((await proxy.request('GET', '/api/v1/health')).status, 200);

    await panel(page).getByTestId('reconnect').click();
    await connected(page);
    // The new session's shell has started (a login closed mid-start can leave the node's
    // shell start-up files half run, e.g. a stale pyenv rehash lock that stalls the next
    // login past the tests' 20 s).
    await waitForScreen(page, /[$#] *$/m);
    await context.close();
  });

  test('dialog draws its box with the DEC line-drawing set, as lines', async () => {
    const { context, page } = await signedInPage('dia');
    await openSession(page);
    await panel(page).getByTestId('terminal').click();
    // LANG=C: ncurses then draws boxes with the DEC Special Graphics set (ESC ( 0).
    await page.keyboard.type("LANG=C dialog --title Gatehouse --yesno 'Lines, not letters?' 8 40");
    await page.keyboard.press('Enter');
    const screen = await waitForScreen(page, /┌─+Gatehouse─+┐/);
    assert.match(screen, /│ Lines, not letters\? +│/);
    assert.match(screen, /└─{10,}┘/);
    assert.doesNotMatch(screen, /lqqq|qqqk|mqqq/, 'no raw line-drawing letters');
    await screenshot(page, '13-ssh-dialog');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /[$#] *$/m);
    await context.close();
  });

  test('text from an input method and inserted text reach the node as UTF-8, the composition shown while composed', async () => {
    const { context, page } = await signedInPage('ime');
    await openSession(page);
    await panel(page).getByTestId('terminal').click();
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'terminal-input', 'the terminal\'s text input has the focus');
    // od shows the bytes the node's side read, once the line ends (Enter, then Ctrl+D).
    await page.keyboard.type('od -An -tx1');
    await page.keyboard.press('Enter');
    await page.waitForTimeout(300);
    const cdp = await context.newCDPSession(page);
    // An input method composing: shown at the cursor, underlined, nothing sent yet.
    await cdp.send('Input.imeSetComposition', { text: 'にほんご', selectionStart: 4, selectionEnd: 4 });
    await cdp.send('Input.imeSetComposition', { text: '日本語', selectionStart: 3, selectionEnd: 3 });
    const preedit = panel(page).getByTestId('terminal-preedit');
    await preedit.waitFor({ state: 'visible' });
    assert.equal(await preedit.textContent(), '日本語');
    const style = await preedit.evaluate((e) => ({ line: getComputedStyle(e).textDecorationLine, left: parseFloat(e.style.left), top: parseFloat(e.style.top) }));
    assert.equal(style.line, 'underline');
    assert.ok(style.top > 0, `the composition is on the cursor's row, not the top one (${style.top}px)`);
    assert.doesNotMatch(await screenText(page), /日本語/, 'the node has not been sent the composition');
    await screenshot(page, '14-ssh-ime-composing');
    // Committed: the composition's text goes, once, and its overlay goes away.
    await cdp.send('Input.insertText', { text: '日本語' });
    await preedit.waitFor({ state: 'hidden' });
    // A composition cancelled sends nothing.
    await cdp.send('Input.imeSetComposition', { text: 'xyz', selectionStart: 3, selectionEnd: 3 });
    await preedit.waitFor({ state: 'visible' });
    await cdp.send('Input.imeSetComposition', { text: '', selectionStart: 0, selectionEnd: 0 });
    await preedit.waitFor({ state: 'hidden' });
    // Inserted text with no key press at all (an on-screen keyboard, an emoji picker).
    await page.keyboard.insertText('🙂');
    await waitForScreen(page, /^日本語🙂$/m);
    await screenshot(page, '15-ssh-ime-committed');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Control+D');
    const screen = await waitForScreen(page, /^ *e6 97 a5 e6 9c ac e8 aa 9e f0 9f 99 82 0a *$/m);
    assert.doesNotMatch(screen, /78 79 7a/, 'the cancelled "xyz" was not sent');
    // Keys still type as keys after all that.
    await page.keyboard.type('echo keys-$((5*5))');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^keys-25$/m);
    await context.close();
  });

  test('a login or node the roles do not allow is refused in the tab, with the reason', async () => {
    const { context, page } = await signedInPage('dan');
    await page.goto(`${proxy.url}/ssh/demo?login=postgres`);
    await panel(page).getByTestId('ssh-ended').waitFor({ timeout: 20_000 });
    assert.match(await panel(page).getByTestId('ssh-ended').textContent(), new RegExp(`You may not log in to demo as postgres; your roles allow: ${LOGIN}\\.`));
    await page.goto(`${proxy.url}/ssh/nowhere?login=${LOGIN}`);
    await panel(page).getByTestId('ssh-ended').waitFor({ timeout: 20_000 });
    assert.match(await panel(page).getByTestId('ssh-ended').textContent(), /There is no node named nowhere\./);
    // Refused where the certificate is asked for (the same decision the socket makes).
    const audit = fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');
    assert.match(audit, /"kind":"ssh.cert_denied","user":"dan".*postgres/);
    await context.close();
    // The browser logs the two refused requests (403, 404); they are the answers shown above.
    pageErrors = pageErrors.filter((e) => !/status of (403|404)/.test(e));
  });

  test('a host certificate from another CA than the pinned one stops the connection', async () => {
    const { context, page } = await signedInPage('quinn');
    await page.goto(`${proxy.url}/`);
    await page.evaluate(() => localStorage.setItem('gatehouse.host_ca_pin', 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'));
    await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    await panel(page).getByTestId('pin-mismatch').waitFor({ timeout: 20_000 });
    assert.match(await panel(page).getByTestId('pin-mismatch').textContent(), /not by the pinned host CA SHA256:AAAA/);
    await screenshot(page, '12-ssh-pin-mismatch');
    assert.doesNotMatch(node.logText(), /Accepted publickey for .* ID gatehouse:quinn/, 'nothing signed in');
    await context.close();
  });
});
