// The canvas renderer paints incrementally: rows that changed, glyphs from an atlas, and
// output that scrolls moved as pixels rather than redrawn. Whatever path it took, the
// pixels must equal those of one full paint of the same final screen. Driven through
// the app's TerminalBench export (the live tab's model and renderer) in Chromium.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, newContext, startProxy } from '../lib/harness.mjs';

let proxy;
let browser;

before(async () => {
  proxy = await startProxy();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
});

/** Feeds `chunks` to one terminal painting after each, and all at once to another
 * painted once; returns how many pixels differ between the two canvases. */
async function compare(page, chunks, rows = 12, cols = 40) {
  return page.evaluate(({ chunks, rows, cols }) => {
    const encoder = new TextEncoder();
    const make = () => {
      const canvas = document.createElement('canvas');
      document.body.append(canvas);
      return { canvas, term: new window.wasmBindings.TerminalBench(canvas, rows, cols, 14) };
    };
    const stepwise = make();
    for (const chunk of chunks) {
      stepwise.term.feed(encoder.encode(chunk));
      stepwise.term.paint();
    }
    const once = make();
    once.term.feed(encoder.encode(chunks.join('')));
    once.term.paint();
    const pixels = ({ canvas }) => canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const [a, b] = [pixels(stepwise), pixels(once)];
    let differing = 0;
    for (let i = 0; i < a.length; i += 4) {
      if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) differing++;
    }
    const inked = Array.from({ length: a.length / 4 }, (_, i) => a[4 * i]).filter((v, _, all) => v !== all[0]).length;
    return { differing, inked, text: stepwise.term.text() };
  }, { chunks, rows, cols });
}

describe('terminal rendering', () => {
  for (const dpr of [1, 2]) {
    test(`incremental paints equal one full paint (devicePixelRatio ${dpr})`, async () => {
      const context = await newContext(browser, { deviceScaleFactor: dpr });
      const page = await context.newPage();
      await page.goto(proxy.url);
      await page.waitForFunction(() => window.wasmBindings && window.wasmBindings.TerminalBench);
      const chunks = [];
      for (let i = 0; i < 60; i++) {
        // Scrolling by one and by several rows, colours, bold, inverse, wide characters.
        chunks.push(`\x1b[3${i % 8}mline ${i}\x1b[0m \x1b[1mbold\x1b[0m \x1b[7minv\x1b[0m é ✓\r\n`);
        if (i % 7 === 0) chunks.push('a\r\nb\r\nc\r\nd\r\n');
      }
      // Then a full-screen program: clear, draw at positions, then scroll a region.
      chunks.push('\x1b[2J\x1b[H\x1b[44m status \x1b[0m\x1b[5;10Hmiddle\x1b[3;11r\x1b[11;1H\n\n\x1b[r');
      const { differing, inked, text } = await compare(page, chunks);
      assert.match(text, /middle/);
      assert.ok(inked > 500, `something was drawn (${inked} pixels)`);
      assert.equal(differing, 0, 'pixels that differ from a full paint');
      await context.close();
    });
  }
});
