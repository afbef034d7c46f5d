// The embedded default's demo resources, made by the very scripts ./scripts/start runs
// (scripts/demo-node, scripts/demo-desktop): a newcomer signed in with the default admin
// role finds the demo node and the demo desktop side by side on the resources page and
// opens the desktop at once, with nothing else set up; what they type in its terminal
// runs on the machine.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, screenshot, signedInPage, startDemoDesktop, startNode, startProxy, until } from '../lib/harness.mjs';

let proxy;
let node;
let desktop;
let browser;

before(async () => {
  proxy = await startProxy();
  node = await startNode(proxy);
  desktop = await startDemoDesktop(proxy);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await desktop?.stop();
  await node?.stop();
  await proxy?.stop();
});

describe('the demo resources of the embedded default', () => {
  test('the demo desktop sits beside the demo node and opens at once; typing in its terminal runs there', async () => {
    const errors = [];
    const { page } = await signedInPage(proxy, browser, 'newcomer', ['admin'], errors, { viewport: { width: 1400, height: 1000 } });
    await page.goto(`${proxy.url}/`);
    await page.locator('[data-node="demo"]').waitFor();
    const entry = page.locator('[data-desktop="demo-desktop"]');
    await entry.waitFor();
    assert.match(await entry.innerText(), /env=demo/);
    await screenshot(page, '86-demo-resources');
    await entry.locator('[data-testid="open-desktop"]').click();
    await page.waitForURL(/\/desktops\/demo-desktop$/);
    await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 30_000 });

    // The xterm is at (60, 50) on the desktop, about 700x450 pixels; X gives the focus
    // to the window under the pointer, and openbox to the one clicked.
    const canvas = page.locator('[data-testid="desktop-canvas"]');
    const box = await canvas.boundingBox();
    const size = await canvas.evaluate((c) => [c.width, c.height]);
    assert.deepEqual(size, [1280, 800], 'the demo display is 1280x800');
    const scale = box.width / size[0];
    await page.mouse.click(box.x + 300 * scale, box.y + 250 * scale);
    // (Lower case only, for the same reason: the proxy's folder name has capitals.)
    const marker = path.join(os.tmpdir(), `gatehouse-demo-typed-${crypto.randomBytes(4).toString('hex')}`);
    // Only unshifted keys: Playwright types `>` as the key alone, without Shift, and the
    // desktop's layout makes the character from the key's position.
    await page.keyboard.type(`touch ${marker}`);
    await page.keyboard.press('Enter');
    await page.waitForTimeout(1000);
    await screenshot(page, '87-demo-desktop');
    await until(() => fs.existsSync(marker), 'the command typed in Chromium ran in the desktop\'s terminal', 20_000);
    fs.rmSync(marker);
    assert.deepEqual(errors, []);
  });

  test('a second start keeps the account and the pinned certificate', async () => {
    const pin = (text) => text.match(/pinned to (SHA256:[0-9a-f]{64})/)[1];
    const first = pin(desktop.logText());
    await desktop.stop();
    desktop = await startDemoDesktop(proxy);
    const ready = desktop.logText().split('\n').filter((line) => /ready on/.test(line));
    assert.equal(ready.length, 2, 'the log has both starts');
    assert.equal(pin(ready[1]), first, 'the same certificate, pinned again');
    assert.match(proxy.cli('desktops', 'list'), /demo-desktop\s+127\.0\.0\.1:\d+\s+demo\s+nla\s+env=demo/);
  });
});
