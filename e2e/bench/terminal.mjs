// Terminal throughput, side by side in one Chromium: our terminal (the vt100 model and
// canvas renderer of a live tab, through the app's `TerminalBench` export) against
// xterm.js 6 (DOM renderer, and WebGL when the browser can), fed the same bytes of real
// terminal output in the same chunks, each measured to a fully painted final screen.
// Both must end on the same screen text. Run by ./scripts/bench; prints a Markdown table.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startProxy } from '../lib/harness.mjs';

const MB = Number(process.env.BENCH_TERMINAL_MB || 50);
const ROWS = 40;
const COLS = 120;
const CHUNK = 32 * 1024; // about one WebSocket frame of SSH output
const ROUNDS = Number(process.env.BENCH_ROUNDS || 2);
const modules = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules');

/** Real output: `ls -lR` of /usr in colour, and `top` redrawing a 120x40 screen. */
function capture() {
  const env = { ...process.env, TERM: 'xterm-256color', COLUMNS: String(COLS), LINES: String(ROWS) };
  // Through a pty (`script`), as a node's shell would send it: CRLF line ends.
  const run = (command) => execFileSync('script', ['-qfec', `stty rows ${ROWS} cols ${COLS}; ${command}`, '/dev/null'], {
    env, maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'],
  });
  const ls = run('ls -lR --color=always /usr 2>/dev/null | head -c 12000000');
  const top = run('top -d 0.05 -n 40');
  const unit = Buffer.concat([ls, top]);
  const parts = [];
  let size = 0;
  while (size < MB * 1_000_000) {
    parts.push(unit);
    size += unit.length;
  }
  return { data: Buffer.concat(parts), ls: ls.length, top: top.length };
}

const { data, ls, top } = capture();
const proxy = await startProxy();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // SwiftShader gives headless Chromium WebGL, for xterm.js's fastest renderer.
  args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--no-first-run'],
});

const results = [];
let webgl = false;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.route('**/bench-data.bin', (route) => route.fulfill({ body: data, contentType: 'application/octet-stream' }));
  await page.goto(proxy.url);
  await page.waitForFunction(() => window.wasmBindings && window.wasmBindings.TerminalBench);
  await page.addScriptTag({ path: path.join(modules, '@xterm/xterm/lib/xterm.js') });
  await page.addScriptTag({ path: path.join(modules, '@xterm/addon-webgl/lib/addon-webgl.js') });
  await page.addStyleTag({ path: path.join(modules, '@xterm/xterm/css/xterm.css') });
  await page.evaluate(async ({ rows, cols, chunk }) => {
    const bytes = new Uint8Array(await (await fetch('/bench-data.bin')).arrayBuffer());
    const stage = document.createElement('div');
    stage.style.cssText = 'position:fixed;inset:0;background:#000;z-index:10';
    document.body.append(stage);
    const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
    const turn = () => new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = resolve;
      channel.port2.postMessage(0);
    });
    const trimmed = (lines) => {
      const out = lines.map((l) => l.trimEnd());
      while (out.length && out[out.length - 1] === '') out.pop();
      return out.join('\n');
    };
    window.bench = {
      bytes: bytes.length,
      webgl: !!document.createElement('canvas').getContext('webgl2'),
      async ours() {
        stage.replaceChildren();
        const canvas = document.createElement('canvas');
        stage.append(canvas);
        const term = new window.wasmBindings.TerminalBench(canvas, rows, cols, 14);
        const start = performance.now();
        let busy = start;
        let painting = false;
        // As a live tab works: feed what arrives, paint at the next animation frame;
        // give the browser a turn (a task, not a frame) every 12 ms of work.
        for (let i = 0; i < bytes.length; i += chunk) {
          term.feed(bytes.subarray(i, i + chunk));
          if (!painting) {
            painting = true;
            requestAnimationFrame(() => { painting = false; term.paint(); });
          }
          if (performance.now() - busy > 12) {
            await turn();
            busy = performance.now();
          }
        }
        await frame();
        term.paint();
        const seconds = (performance.now() - start) / 1000;
        const text = trimmed(term.text().split('\n'));
        term.free();
        return { seconds, text };
      },
      async xterm(renderer) {
        stage.replaceChildren();
        const host = document.createElement('div');
        stage.append(host);
        const term = new window.Terminal({ rows, cols, fontSize: 14, scrollback: 10000, fontFamily: 'DejaVu Sans Mono' });
        term.open(host);
        if (renderer === 'webgl') term.loadAddon(new window.WebglAddon.WebglAddon());
        const start = performance.now();
        // xterm.js discards writes past 50 MB queued: its documented flow control is to
        // wait on write callbacks. Keep at most 8 MB in its queue.
        let queued = 0;
        let drained = null;
        for (let i = 0; i < bytes.length; i += chunk) {
          const part = bytes.subarray(i, i + chunk);
          queued += part.length;
          term.write(part, () => {
            queued -= part.length;
            if (drained && queued < 2 << 20) drained();
          });
          if (queued > 8 << 20) await new Promise((resolve) => { drained = resolve; });
          drained = null;
        }
        await new Promise((resolve) => term.write('', resolve));
        // The write callback fires once parsed; the screen paints on the next frame.
        await frame();
        await frame();
        const seconds = (performance.now() - start) / 1000;
        const buffer = term.buffer.active;
        const lines = [];
        for (let y = 0; y < rows; y++) lines.push(buffer.getLine(buffer.viewportY + y)?.translateToString(true) ?? '');
        term.dispose();
        return { seconds, text: trimmed(lines) };
      },
    };
  }, { rows: ROWS, cols: COLS, chunk: CHUNK });
  webgl = await page.evaluate(() => window.bench.webgl);
  const contenders = [['Gatehouse terminal (vt100 + canvas)', () => page.evaluate(() => window.bench.ours())],
    ['xterm.js 6.0.0, DOM renderer', () => page.evaluate(() => window.bench.xterm('dom'))]];
  if (webgl) contenders.push(['xterm.js 6.0.0 + WebGL addon 0.19.0 (SwiftShader)', () => page.evaluate(() => window.bench.xterm('webgl'))]);
  const texts = new Map();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of contenders) {
      const { seconds, text } = await run();
      results.push({ name, seconds });
      texts.set(name, text);
    }
  }
  const [first, ...others] = [...texts.entries()];
  for (const [name, text] of others) {
    if (text !== first[1]) {
      console.error(`${name} ended on another screen than ${first[0]}:\n--- ${first[0]}\n${first[1]}\n--- ${name}\n${text}`);
      process.exitCode = 1;
    }
  }
} finally {
  await browser.close();
  await proxy.stop();
}

const mb = data.length / 1_000_000;
console.log(`| ${mb.toFixed(1)} MB of terminal output (ls -lR --color of /usr, ${(ls / 1e6).toFixed(1)} MB, + top at ${COLS}x${ROWS}, ${(top / 1e6).toFixed(2)} MB, repeated), ${CHUNK / 1024} KiB chunks | best of ${ROUNDS} | throughput |`);
console.log('|---|---|---|');
const names = [...new Set(results.map((r) => r.name))];
for (const name of names) {
  const best = Math.min(...results.filter((r) => r.name === name).map((r) => r.seconds));
  console.log(`| ${name} | ${best.toFixed(2)} s | ${(mb / best).toFixed(1)} MB/s |`);
}
if (!webgl) console.log('\nWebGL was not available in this Chromium, so xterm.js ran with its DOM renderer only.');
console.log(process.exitCode ? '\nThe final screens DIFFER (see stderr).' : '\nAll contenders ended on the same screen text.');
