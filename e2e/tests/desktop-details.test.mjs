// The details of a desktop in the browser that a person notices at once, against
// FreeRDP's shadow server: the desktop's pointer shapes on the canvas, full screen, a
// screen with two device pixels per CSS pixel (one desktop pixel per device pixel, so
// crisp), and a desktop that has no clipboard to share saying so (xrdp's clipboard, both
// ways, is in desktop-xrdp.test.mjs).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  compareImages, launchBrowser, readPng, screenshot, signedInPage, startProxy, startShadowDesktop, until,
} from '../lib/harness.mjs';

const PASSWORD = 'details pass 9';
let proxy;
let desktop;
let browser;

before(async () => {
  proxy = await startProxy(`
[roles.lab]
desktop_labels = { env = "lab" }
desktop_users = ["alice"]
`);
  desktop = await startShadowDesktop({ user: 'alice', password: PASSWORD, scene: true, text: 'details' });
  const added = proxy.run(['desktops', 'add', 'lab', '--addr', `127.0.0.1:${desktop.port}`, '--labels', 'env=lab', '--user', 'alice'], `${PASSWORD}\n`);
  assert.equal(added.status, 0, added.err);
  const checked = proxy.run(['desktops', 'check', 'lab', '--trust-first-use']);
  assert.equal(checked.status, 0, checked.err);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await desktop?.stop();
  await proxy?.stop();
});

async function open(name, errors, options = {}) {
  const signedIn = await signedInPage(proxy, browser, name, ['lab'], errors, { viewport: { width: 1400, height: 1100 }, ...options });
  await signedIn.page.goto(`${proxy.url}/desktops/lab`);
  await signedIn.page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
  return signedIn;
}

const cursorOf = (page) => page.locator('[data-testid="desktop-canvas"]').evaluate((c) => c.style.cursor);

describe('desktop details', () => {
  test('the canvas takes the desktop\'s pointer shapes as they change', async () => {
    const errors = [];
    const { page } = await open('pim', errors);
    const box = await page.locator('[data-testid="desktop-canvas"]').boundingBox();
    // FreeRDP's shadow server sends a shape when X's cursor changes (not the one it
    // starts with), some time after: go back and forth between an xterm (its I-beam)
    // and the bare root window (X's own cursor) until each has shown its own.
    const seen = { text: null, root: null };
    await until(async () => {
      for (const [where, x, y] of [['text', 200, 100], ['root', 900, 420]]) {
        await page.mouse.move(box.x + x, box.y + y, { steps: 5 });
        await page.waitForTimeout(1000);
        const cursor = await cursorOf(page);
        if (cursor.startsWith('url(')) seen[where] = cursor;
      }
      return seen.text && seen.root && seen.text !== seen.root;
    }, 'the pointer takes each window\'s shape', 45_000);
    const overText = seen.text;
    assert.match(overText, /^url\("data:image\/png;base64,[A-Za-z0-9+/=]+"\) \d+ \d+, (auto|default)$/, overText.slice(0, 80));
    // The shape itself: an image the browser decodes.
    const size = async (cursor) => page.evaluate(async (url) => {
      const img = new Image();
      img.src = url;
      await img.decode();
      return [img.naturalWidth, img.naturalHeight];
    }, cursor.match(/url\("([^"]+)"\)/)[1]);
    const [w, h] = await size(overText);
    assert.ok(w > 0 && h > 0, `an image of ${w}x${h}`);
    assert.match(seen.root, /^url\("data:image\/png;base64,/);
    await screenshot(page, '88-desktop-pointer');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('full screen shows the desktop alone, and typing still reaches it', async () => {
    const errors = [];
    const { page } = await open('fay', errors);
    await page.locator('[data-testid="full-screen"]').click();
    await until(async () => (await page.evaluate(() => document.fullscreenElement?.dataset.testid)) === 'desktop-stage',
      'the stage is the full-screen element');
    const screen = await page.evaluate(() => [window.innerWidth, window.innerHeight]);
    const box = await page.locator('[data-testid="desktop-canvas"]').boundingBox();
    assert.ok(await page.evaluate(() => document.fullscreenElement.contains(document.activeElement)), 'the desktop keeps the keyboard');
    // Centred in the screen, its whole size when it fits.
    assert.ok(Math.abs((box.x + box.width / 2) - screen[0] / 2) <= 1, `centred: ${JSON.stringify(box)} in ${screen}`);
    const probe = { x: box.x + 200 * (box.width / 1024), y: box.y + 560 * (box.height / 768) };
    await page.mouse.move(probe.x, probe.y);
    const before = desktop.received().length;
    await page.keyboard.type('in full screen');
    await until(() => desktop.received().subarray(before).toString().includes('in full screen'), 'typed text arrives');
    await screenshot(page, '89-desktop-full-screen');
    await page.evaluate(() => document.exitFullscreen());
    await until(async () => (await page.evaluate(() => document.fullscreenElement)) === null, 'full screen ends');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('at two device pixels per CSS pixel, each desktop pixel is one device pixel', async () => {
    const errors = [];
    const { page } = await open('dix', errors, { deviceScaleFactor: 2 });
    const canvas = page.locator('[data-testid="desktop-canvas"]');
    const box = await canvas.boundingBox();
    assert.deepEqual([box.width, box.height], [512, 384], 'a 1024x768 desktop is 512x384 CSS pixels');
    // The canvas as the screen shows it, in device pixels, against the X framebuffer.
    let diff;
    await until(async () => {
      const shown = readPng(await canvas.screenshot({ scale: 'device' }));
      if (shown.width !== 1024 || shown.height !== 768) throw new Error(`the canvas is ${shown.width}x${shown.height} device pixels`);
      diff = compareImages(shown, desktop.screen());
      return diff.mean < 2 && diff.offShare < 0.01;
    }, 'the canvas settles on the desktop, pixel for pixel', 20_000).catch(() => {});
    assert.ok(diff.mean < 2 && diff.offShare < 0.01, `crisp: mean ${diff.mean.toFixed(3)}, ${(diff.offShare * 100).toFixed(2)}% off`);
    await screenshot(page, '90-desktop-dpr2');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a desktop without a clipboard channel (the shadow server) says so, and nothing else changes', async () => {
    // FreeRDP 2.11's shadow server has no clipboard channel (its library has encomsp,
    // remdesk, rdpsnd, audin and rdpgfx, no cliprdr): the page must not pretend.
    const errors = [];
    const { context, page } = await open('cleo', errors);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: proxy.url });
    const state = page.locator('[data-testid="clipboard-state"]');
    await state.waitFor({ timeout: 15_000 });
    assert.equal(await state.getAttribute('data-state'), 'none');
    assert.equal(await state.innerText(), 'No shared clipboard');
    assert.match(await state.getAttribute('title'), /offers no clipboard channel/);
    // Copying in the browser and clicking into the desktop is harmless: typing still works.
    await page.evaluate(() => navigator.clipboard.writeText('stays in the browser'));
    await page.locator('[data-testid="disconnect"]').focus();
    const box = await page.locator('[data-testid="desktop-canvas"]').boundingBox();
    await page.mouse.click(box.x + 200, box.y + 560);
    const before = desktop.received().length;
    await page.keyboard.type('still typing');
    await until(() => desktop.received().subarray(before).toString().includes('still typing'), 'typed text arrives');
    assert.equal(desktop.clipboard(), '', 'nothing reached the desktop\'s clipboard');
    await screenshot(page, '91-desktop-no-clipboard');
    assert.deepEqual(errors, []);
    await page.close();
  });
});
