// A desktop in the browser against Debian's xrdp with xorgxrdp: TLS only (no NLA), an
// ordinary local user, signed in directly (autologon) with the account the proxy holds.
// xrdp makes the session the size the page asks for, and opens the display control
// channel, so here the desktop follows the window live: after a resize the same
// connection asks xrdp for the new size (no reconnect), xrdp resizes the X screen and
// activates the session again. The canvas is compared with the session's X server (xwd).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compareImages, launchBrowser, readPng, screenshot, signedInPage, startProxy, startXrdpDesktop, until } from '../lib/harness.mjs';

const PASSWORD = 'xrdp password 5';

/** The top-left `width`×`height` of `image` (or all of it, if smaller). */
function crop(image, width, height) {
  const [w, h] = [Math.min(width, image.width), Math.min(height, image.height)];
  const rgba = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) image.rgba.copy(rgba, y * w * 4, y * image.width * 4, (y * image.width + w) * 4);
  return { width: w, height: h, rgba };
}
let proxy;
let desktop;
let browser;

before(async () => {
  if (process.getuid() !== 0) return;
  proxy = await startProxy(`
[roles.lab]
desktop_labels = { env = "lab" }
desktop_users = ["*"]
recordings = "own"
`);
  desktop = await startXrdpDesktop({ password: PASSWORD });
  const added = proxy.run(['desktops', 'add', 'xr', '--addr', `127.0.0.1:${desktop.port}`, '--labels', 'env=lab', '--user', desktop.user, '--security', 'tls'], `${PASSWORD}\n`);
  assert.equal(added.status, 0, added.err);
  const checked = proxy.run(['desktops', 'check', 'xr', '--trust-first-use']);
  assert.equal(checked.status, 0, checked.err);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await desktop?.stop();
  await proxy?.stop();
});

// xrdp signs in a real local account: making one needs root (CI runs as root here).
/** Waits until the xterm's file holds `line`; says what it holds if it never does. */
async function typedLine(line, what) {
  await until(() => desktop.typed().includes(line), what).catch((err) => {
    throw new Error(`${err.message}; the xterm got ${JSON.stringify(desktop.typed())}`);
  });
}

/** Puts the pointer into the typing xterm (focus follows the pointer: there is no
 * window manager) once the session shows it, and clicks there. */
async function intoXterm(page) {
  const canvas = page.locator('[data-testid="desktop-canvas"]');
  await until(() => {
    const { width, rgba } = desktop.screen();
    const at = (60 * width + 150) * 4;
    return rgba[at] === 0x20 && rgba[at + 1] === 0x20 && rgba[at + 2] === 0x20;
  }, 'the session shows its xterm', 30_000);
  const box = await canvas.boundingBox();
  await page.mouse.move(box.x + 500, box.y + 400);
  await page.mouse.move(box.x + 150, box.y + 60);
  await page.mouse.click(box.x + 150, box.y + 60);
  await page.waitForTimeout(300);
}

describe('xrdp', { skip: process.getuid() !== 0 && 'needs root to add a local user for xrdp' }, () => {
  test('the session opens at the window\'s size, shows what its X server shows, takes typing, and follows a resize', async () => {
    const errors = [];
    const { page } = await signedInPage(proxy, browser, 'xena', ['lab'], errors, { viewport: { width: 1100, height: 800 } });
    await page.goto(`${proxy.url}/desktops/xr`);
    const status = page.locator('[data-testid="desktop-status"]');
    await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 30_000 });
    const canvas = page.locator('[data-testid="desktop-canvas"]');
    const stage = await page.locator('[data-testid="desktop-stage"]').boundingBox();
    const [w, h] = [Number(await canvas.getAttribute('data-width')), Number(await canvas.getAttribute('data-height'))];
    assert.ok(Math.abs(w - stage.width) <= 4 && Math.abs(h - stage.height) <= 4, `the desktop is the stage's size: ${w}x${h} vs ${stage.width}x${stage.height}`);
    // Pixels: the canvas against the session's own X server, once both are still.
    let diff;
    await until(async () => {
      const shown = readPng(await canvas.screenshot());
      diff = compareImages(shown, desktop.screen());
      return diff.mean < 1 && diff.offShare < 0.005;
    }, 'the canvas matches the X server', 30_000).catch(() => {});
    assert.ok(diff.mean < 1 && diff.offShare < 0.005, `canvas vs X server: mean ${diff.mean.toFixed(3)}, ${(diff.offShare * 100).toFixed(2)}% off`);
    await screenshot(page, '55-xrdp');
    // Typing, into the xterm under the pointer.
    const box = await canvas.boundingBox();
    await page.mouse.move(box.x + 150, box.y + 60);
    await page.mouse.click(box.x + 150, box.y + 60);
    await page.keyboard.type('typed through xrdp');
    await page.keyboard.press('Enter');
    await until(() => desktop.typed().includes('typed through xrdp\n'), 'the line reaches the xterm');
    // A bigger window: the same connection asks xrdp for the new size (the display
    // control channel), and the X screen takes it.
    const starts = () => fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8')
      .split('\n').filter((line) => line.includes('"kind":"desktop.start"') && line.includes('"user":"xena"')).length;
    assert.equal(starts(), 1);
    await page.setViewportSize({ width: 1300, height: 950 });
    let shownSize;
    await until(async () => {
      const text = await status.textContent();
      const m = text.match(/Connected, (\d+)×(\d+)/);
      shownSize = m && [Number(m[1]), Number(m[2])];
      return m && shownSize[0] > w + 100 && shownSize[1] > h + 100;
    }, 'the desktop took the bigger size', 30_000);
    assert.deepEqual(desktop.dimensions(), shownSize, 'the X screen is the size the page shows');
    await until(async () => {
      const shown = readPng(await canvas.screenshot());
      const truth = desktop.screen();
      return shown.width === truth.width && compareImages(shown, truth).mean < 1;
    }, 'the resized session is shown', 30_000);
    await screenshot(page, '56-xrdp-resized');
    // Smaller again, twice in a row: the last size wins.
    await page.setViewportSize({ width: 1000, height: 760 });
    await page.setViewportSize({ width: 900, height: 700 });
    await until(async () => {
      const m = (await status.textContent()).match(/Connected, (\d+)×(\d+)/);
      shownSize = m && [Number(m[1]), Number(m[2])];
      return m && shownSize[0] < 920 && shownSize[0] > 800;
    }, 'the desktop took the smaller size', 30_000);
    assert.deepEqual(desktop.dimensions(), shownSize, 'the X screen followed again');
    assert.equal(starts(), 1, 'one desktop session: it was never reconnected');
    assert.equal(await page.locator('[data-testid="reconnect"]').count(), 0);
    // Typing still reaches the same xterm (the same shell, not a new one).
    await page.mouse.click((await canvas.boundingBox()).x + 150, (await canvas.boundingBox()).y + 60);
    await page.keyboard.type('after the resize');
    await page.keyboard.press('Enter');
    await until(() => desktop.typed().includes('typed through xrdp\nafter the resize\n'), 'the same xterm gets the line');
    await screenshot(page, '57-xrdp-resized-smaller');
    assert.deepEqual(errors, []);
  });

  test('the recording (RemoteFX) replays across the change of size: keyframes of each size, seeking both ways', async () => {
    const errors = [];
    const { page } = await signedInPage(proxy, browser, 'xyla', ['lab'], errors, { viewport: { width: 800, height: 640 } });
    await page.goto(`${proxy.url}/desktops/xr`);
    const status = page.locator('[data-testid="desktop-status"]');
    await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 30_000 });
    const canvas = page.locator('[data-testid="desktop-canvas"]');
    const settled = async (locator) => {
      let last = null;
      return until(async () => {
        const now = readPng(await locator.screenshot());
        const same = last && last.width === now.width && compareImages(last, now, 0).offShare === 0;
        last = now;
        if (!same) await new Promise((r) => setTimeout(r, 300));
        return same && now;
      }, 'the canvas settles', 20_000);
    };
    const small = await settled(canvas);
    const smallFrom = Date.now();
    // Quiet for over five seconds: a keyframe at this size.
    await new Promise((r) => setTimeout(r, 6000));
    const smallTo = Date.now();
    await page.setViewportSize({ width: 1040, height: 800 });
    await until(async () => {
      const m = (await status.textContent()).match(/Connected, (\d+)×(\d+)/);
      return m && Number(m[1]) > small.width + 100;
    }, 'the desktop took the bigger size', 30_000);
    await settled(canvas);
    // Quiet again (a keyframe at the bigger size), then typing: the frames after that
    // keyframe are RemoteFX tiles only, which decode only with the stream's codec
    // context, announced once, before the keyframe.
    await new Promise((r) => setTimeout(r, 6000));
    const box = await canvas.boundingBox();
    await page.mouse.click(box.x + 150, box.y + 60);
    await page.keyboard.type('seek into remotefx');
    await page.keyboard.press('Enter');
    await until(() => desktop.typed().includes('seek into remotefx\n'), 'the line reaches the xterm');
    await new Promise((r) => setTimeout(r, 1000));
    const big = await settled(canvas);
    await page.locator('[data-testid="disconnect"]').click();
    await page.locator('[data-testid="desktop-status"][data-state="closed"]').waitFor();
    const listed = () => proxy.cli('recordings', 'list').split('\n').filter(Boolean).map((line) => JSON.parse(line))
      .find((r) => r.user === 'xyla' && r.kind === 'desktop' && r.ended_at);
    const { id } = await until(listed, 'the recording is finished');
    // Room for the bigger screen at one recorded pixel per CSS pixel (the player is
    // at most about 1060 CSS pixels wide).
    await page.setViewportSize({ width: 1400, height: 1100 });
    await page.goto(`${proxy.url}/recordings/${id}`);
    await page.locator('[data-testid="timeline"]:enabled').waitFor();
    const meta = await page.evaluate(async (rid) => (await fetch(`/api/v1/recordings/${rid}`)).json(), id);
    assert.ok(meta.started_at_ms && meta.duration_ms, JSON.stringify(meta));
    // The stream was RemoteFX: its sync block (TS_RFX_SYNC) is in the recording, once
    // per activation and once more beside each keyframe (the stored codec context).
    const syncs = await page.evaluate(async (rid) => {
      const bytes = new Uint8Array(await (await fetch(`/api/v1/recordings/${rid}/data/recording`)).arrayBuffer());
      const sync = [0xc0, 0xcc, 0x0c, 0x00, 0x00, 0x00, 0xca, 0xac, 0xcc, 0xca, 0x00, 0x01];
      let count = 0;
      for (let i = 0; i + sync.length <= bytes.length; i++) if (sync.every((b, j) => bytes[i + j] === b)) count += 1;
      return count;
    }, id);
    assert.ok(syncs >= 4, `RemoteFX sync blocks in the recording: ${syncs}`);
    const seek = async (ms) => {
      await page.locator('[data-testid="timeline"]').evaluate((el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', { bubbles: true })); }, ms);
      await page.locator(`[data-testid="player-canvas"][data-seeked="${ms}"]`).waitFor({ timeout: 15_000 });
      return settled(page.locator('[data-testid="player-canvas"]'));
    };
    const quietSmall = Math.round(((smallFrom + smallTo) / 2 - meta.started_at_ms) / 100) * 100;
    const atEnd = Math.floor(meta.duration_ms / 100) * 100;
    for (const [name, ms, live] of [['small', quietSmall, small], ['big, typed after a keyframe, at the end', atEnd, big], ['small again', quietSmall, small]]) {
      const shown = await seek(ms);
      // The element's box may straddle a device pixel: one row or column more.
      assert.ok(Math.abs(shown.width - live.width) <= 1 && Math.abs(shown.height - live.height) <= 1,
        `${name}: the player is ${shown.width}x${shown.height}, the live screen was ${live.width}x${live.height}`);
      const diff = compareImages(crop(shown, live.width, live.height), crop(live, shown.width, shown.height));
      assert.ok(diff.mean < 1 && diff.offShare < 0.005, `${name}: player vs live differ (mean ${diff.mean.toFixed(3)}, ${(diff.offShare * 100).toFixed(3)}% off)`);
      if (ms === atEnd) await screenshot(page, '58-xrdp-player-after-resize');
    }
    // Played from the start, across the change.
    await seek(0);
    await page.locator('[data-testid="speed"]').selectOption('16');
    await page.locator('[data-testid="play-pause"]').click();
    await until(async () => {
      const shown = readPng(await page.locator('[data-testid="player-canvas"]').screenshot());
      return Math.abs(shown.width - big.width) <= 1 && compareImages(crop(shown, big.width, big.height), crop(big, shown.width, shown.height)).mean < 1;
    }, 'playing through reaches the bigger screen', 30_000);
    assert.deepEqual(errors, []);
  });

  test('a French and a German keyboard: AltGr and dead keys type what the keys say', async () => {
    const errors = [];
    const { page } = await signedInPage(proxy, browser, 'xlayout', ['lab'], errors, { viewport: { width: 1000, height: 760 } });
    await page.goto(`${proxy.url}/desktops/xr`);
    const connected = page.locator('[data-testid="desktop-status"][data-state="connected"]');
    await connected.waitFor({ timeout: 30_000 });
    const canvas = page.locator('[data-testid="desktop-canvas"]');
    const layout = page.locator('[data-testid="desktop-layout"]');
    /** Picks `tag`, waits for the new connection, clicks into the typing xterm. */
    const choose = async (tag) => {
      const before = await canvas.elementHandle();
      await layout.selectOption(tag);
      await until(async () => !(await before.evaluate((c) => c.isConnected)), 'the page reconnects with the layout');
      await connected.waitFor({ timeout: 30_000 });
      // The session comes back with the layout loaded (keys before that are lost).
      await page.waitForTimeout(1000);
      await intoXterm(page);
    };
    /** AltGr (the right Alt key) with the key at `code`. */
    const altGr = async (code) => {
      await page.keyboard.down('AltRight');
      await page.keyboard.press(code);
      await page.keyboard.up('AltRight');
    };
    // French AZERTY: AltGr + the 0 key is @; the key right of P (the US "[") is a dead ^.
    await choose('fr-FR');
    await altGr('Digit0');
    await page.keyboard.press('BracketLeft');
    await page.keyboard.press('KeyE');
    // The A and Q keys swap places on AZERTY: the US "q" position types a.
    await page.keyboard.press('KeyQ');
    await page.keyboard.press('Enter');
    await typedLine('@êa\n', 'fr-FR: AltGr+0, dead ^ then e, and the AZERTY a reach the xterm');
    await screenshot(page, '57-xrdp-fr-FR');
    // German QWERTZ: AltGr + Q is @; the key left of 1 is a dead ^, the key left of
    // Backspace a dead acute; Y and Z swap places.
    await choose('de-DE');
    await altGr('KeyQ');
    await page.keyboard.press('Backquote');
    await page.keyboard.press('KeyO');
    await page.keyboard.press('Equal');
    await page.keyboard.press('KeyE');
    await page.keyboard.press('KeyY');
    await page.keyboard.press('Enter');
    await typedLine('@ôéz\n', 'de-DE: AltGr+Q, dead ^ then o, dead ´ then e, and the QWERTZ z reach the xterm');
    // The choice is remembered for the next visit.
    assert.equal(await page.evaluate(() => localStorage.getItem('gatehouse.desktop_layout')), 'de-DE');
    assert.deepEqual(errors, []);
  });

  test('text with no key position (an input method, inserted text) types as Unicode keyboard events', async () => {
    const errors = [];
    const { page, context } = await signedInPage(proxy, browser, 'xtext', ['lab'], errors, { viewport: { width: 1000, height: 760 } });
    await page.addInitScript(() => localStorage.setItem('gatehouse.desktop_layout', 'fr-FR'));
    await page.goto(`${proxy.url}/desktops/xr`);
    await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('[data-testid="desktop-layout"]').inputValue(), 'fr-FR');
    // At 1000 px the bar still holds every control on one line: the readings give way.
    // Measured once everything that joins the bar is there (the clipboard's badge comes
    // when the desktop's clipboard channel is up, the stats after a second).
    await page.locator('[data-testid="clipboard-state"]').waitFor({ timeout: 15_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="desktop-stats"]').textContent.trim() !== '');
    const bar = await page.evaluate(() => {
      const box = (id) => document.querySelector(`[data-testid="${id}"]`).getBoundingClientRect();
      const [off, full, layout] = [box('disconnect'), box('full-screen'), box('desktop-layout')];
      return { right: off.right, width: window.innerWidth, sameLine: [full, layout].every((b) => Math.abs(b.top + b.height / 2 - (off.top + off.height / 2)) < 4) };
    });
    assert.ok(bar.right <= bar.width, `Disconnect ends at ${bar.right} px in a ${bar.width} px window`);
    assert.ok(bar.sameLine, 'the bar is one line');
    await intoXterm(page);
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'desktop-input');
    // Inserted text (no keydown at all), then an input method's composition, committed.
    await page.keyboard.insertText('déjà vu');
    const cdp = await context.newCDPSession(page);
    await cdp.send('Input.imeSetComposition', { text: 'ç', selectionStart: 1, selectionEnd: 1 });
    // The text being composed shows where the person clicked, until committed.
    const typing = page.locator('[data-testid="desktop-input"]');
    const shown = () => typing.evaluate((e) => ({ value: e.value, opacity: getComputedStyle(e).opacity }));
    assert.deepEqual(await shown(), { value: 'ç', opacity: '1' });
    await screenshot(page, '58-xrdp-composing');
    await cdp.send('Input.insertText', { text: 'ça' });
    assert.deepEqual(await shown(), { value: '', opacity: '0' });
    await page.keyboard.press('Enter');
    // xrdp 0.9 types a Unicode event by finding the character in the keymap of the
    // layout the client announced (here French): these are all on it.
    await typedLine('déjà vuça\n', 'the inserted and composed text reaches the xterm');
    assert.deepEqual(errors, []);
  });

  test('a keyboard layout the proxy does not know is refused with a sentence', async () => {
    const errors = [];
    const { page } = await signedInPage(proxy, browser, 'xbad', ['lab'], errors);
    await page.goto(`${proxy.url}/`);
    const closed = await page.evaluate((url) => new Promise((resolve) => {
      const socket = new WebSocket(url);
      socket.onclose = (event) => resolve({ code: event.code, reason: event.reason });
    }), proxy.url.replace('https://', 'wss://') + '/api/v1/desktops/xr/connect?width=800&height=600&layout=0x041f');
    assert.equal(closed.code, 4400);
    assert.match(closed.reason, /^Unknown keyboard layout "0x041f"; pick one of en-US, en-GB, fr-FR, .*it-IT, then reconnect\.$/);
  });

  test('text copied on either side can be pasted on the other', async () => {
    const errors = [];
    const { context, page } = await signedInPage(proxy, browser, 'xavi', ['lab'], errors, { viewport: { width: 1000, height: 760 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: proxy.url });
    await page.goto(`${proxy.url}/desktops/xr`);
    await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="clipboard-state"][data-state="shared"]').waitFor({ timeout: 15_000 });
    // Copied in the browser, then into the desktop: the page offers its clipboard as the
    // desktop gets the focus, and an application there can paste it.
    await page.evaluate(() => navigator.clipboard.writeText('from the browser, 42 é'));
    await page.locator('[data-testid="disconnect"]').focus();
    await page.locator('[data-testid="desktop-canvas"]').click({ position: { x: 500, y: 400 } });
    await until(() => desktop.clipboard() === 'from the browser, 42 é', 'the desktop can paste the browser\'s text', 20_000);
    // Copied on the desktop: it lands on this computer's clipboard.
    desktop.setClipboard('from the desktop, 7 ü');
    await until(async () => (await page.evaluate(() => navigator.clipboard.readText())) === 'from the desktop, 7 ü',
      'the browser can paste the desktop\'s text', 20_000);
    const audit = fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');
    assert.match(audit, /"kind":"desktop.clipboard","user":"xavi".*characters to the desktop/);
    assert.match(audit, /"kind":"desktop.clipboard","user":"xavi".*characters from the desktop/);
    assert.ok(!audit.includes('from the browser, 42'), 'the audit says how much, not what');
    assert.deepEqual(errors, []);
  });

  test('a desktop set up for NLA that answers "TLS only" (xrdp) is refused before the account is sent', async () => {
    assert.equal(proxy.run(['desktops', 'add', 'xr-nla', '--addr', `127.0.0.1:${desktop.port}`, '--labels', 'env=lab', '--user', desktop.user, '--security', 'nla'], `${PASSWORD}\n`).status, 0);
    const check = proxy.run(['desktops', 'check', 'xr-nla', '--trust-first-use']);
    assert.notEqual(check.status, 0);
    assert.match(check.err, /offered only TLS, but this desktop is set up for NLA, so the account was not sent/);
  });
});
