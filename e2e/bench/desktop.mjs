// Desktop benchmark, side by side: the same desktop stream decoded in Chromium (IronRDP
// in wasm, in the page's worker, live through the proxy) and natively (the same decoder
// on the recording of that very session). A screen-filling xterm scrolls coloured random
// text on FreeRDP's shadow server at 1024x768 and 1920x1080, once through a proxy that
// offers plain bitmaps only (`desktop_codecs = ["bitmap"]`) and once through one that
// offers RemoteFX (the default); over a fixed window we count frames painted (fast-path
// updates that changed pixels), megapixels painted, bytes on the wire, and the time spent
// decoding. Then, on an idle desktop, key press to paint:
// from the keydown in the page to the worker handing the echo's pixels to the canvas.
// Run by ./scripts/bench; prints Markdown tables.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { launchBrowser, root, signedInPage, startProxy, startShadowDesktop } from '../lib/harness.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS || 10);
const KEYS = Number(process.env.BENCH_KEYS || 40);
const PASSWORD = 'bench password';

const ROLES = `
[roles.bench]
desktop_labels = { env = "bench" }
desktop_users = ["alice"]
recordings = "own"
`;
// One proxy per codec choice (it is a proxy setting), side by side in one run.
const proxies = {
  bitmap: await startProxy(`desktop_codecs = ["bitmap"]\n${ROLES}`),
  remotefx: await startProxy(`desktop_codecs = ["remotefx", "bitmap"]\n${ROLES}`),
};
let proxy = proxies.remotefx;
const browser = await launchBrowser();
const cli = (args, input = '') => proxy.run(args, input);
let userCount = 0;

async function openDesktop(desktop, name, viewport) {
  const add = cli(['desktops', 'add', name, '--addr', `127.0.0.1:${desktop.port}`, '--labels', 'env=bench', '--user', 'alice'], `${PASSWORD}\n`);
  if (add.status !== 0) throw new Error(add.err);
  const check = cli(['desktops', 'check', name, '--trust-first-use']);
  if (check.status !== 0) throw new Error(check.err);
  userCount += 1;
  const errors = [];
  const { page } = await signedInPage(proxy, browser, `bench${userCount}`, ['bench'], errors, { viewport });
  await page.goto(`${proxy.url}/desktops/${name}`);
  await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 30_000 });
  return { page, user: `bench${userCount}` };
}

const totals = (page) => page.locator('[data-testid="desktop-canvas"]').evaluate((c) => ({
  at: performance.timeOrigin + performance.now(),
  pdus: Number(c.dataset.pdus || 0), painted: Number(c.dataset.painted || 0), pixels: Number(c.dataset.pixels || 0),
  bytes: Number(c.dataset.bytes || 0), decodeMs: Number(c.dataset.decodeMs || 0), paintMs: Number(c.dataset.paintMs || 0),
}));

async function throughput(codec, width, height) {
  proxy = proxies[codec];
  const desktop = await startShadowDesktop({ user: 'alice', password: PASSWORD, width, height, flood: true });
  try {
    const { page, user } = await openDesktop(desktop, `flood${width}${codec}`, { width: width + 40, height: height + 200 });
    await page.waitForTimeout(3000);
    const a = await totals(page);
    const startedAt = Date.now();
    await page.waitForTimeout(SECONDS * 1000);
    const b = await totals(page);
    const stoppedAt = Date.now();
    await page.locator('[data-testid="disconnect"]').click();
    await page.waitForTimeout(1500);
    const seconds = (b.at - a.at) / 1000;
    const browserSide = {
      fps: (b.painted - a.painted) / seconds,
      mpxs: (b.pixels - a.pixels) / seconds / 1e6,
      bytesPerFrame: (b.bytes - a.bytes) / Math.max(1, b.painted - a.painted),
      decodeMpxPerS: (b.pixels - a.pixels) / 1e6 / ((b.decodeMs - a.decodeMs) / 1000),
      decodeMsPerFrame: (b.decodeMs - a.decodeMs) / Math.max(1, b.painted - a.painted),
      paintMsPerFrame: (b.paintMs - a.paintMs) / Math.max(1, b.painted - a.painted),
      busy: ((b.decodeMs - a.decodeMs) + (b.paintMs - a.paintMs)) / (seconds * 1000),
    };
    // The same stretch of the same session, decoded natively from its recording.
    const rows = proxy.cli('recordings', 'list').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const rec = rows.find((r) => r.user === user);
    const from = startedAt - rec.started_at * 1000 - 1000;
    const native = spawnSync('cargo', ['run', '-q', '--release', '-p', 'gatehouse-desktop', '--example', 'decode_recording', '--',
      path.join(proxy.dir, 'data', 'recordings', `${rec.id}.ghrec`), String(Math.max(0, from)), String(from + (stoppedAt - startedAt))],
    { cwd: root, encoding: 'utf8' });
    if (native.status !== 0) throw new Error(native.stderr);
    const n = JSON.parse(native.stdout.trim().split('\n').pop());
    return {
      codec, size: `${width}x${height}`, browser: browserSide,
      native: { decodeMpxPerS: n.pixels / 1e6 / (n.decodeMs / 1000), decodeMsPerFrame: n.decodeMs / Math.max(1, n.painted), bytesPerFrame: n.bytes / Math.max(1, n.painted), frames: n.painted, remotefx: n.remotefx, errors: n.errors },
    };
  } finally {
    await desktop.stop();
  }
}

async function latency() {
  const desktop = await startShadowDesktop({ user: 'alice', password: PASSWORD, scene: true });
  try {
    const { page } = await openDesktop(desktop, 'idle', { width: 1200, height: 1000 });
    await page.waitForTimeout(2000);
    const box = await page.locator('[data-testid="desktop-canvas"]').boundingBox();
    await page.mouse.move(box.x + 200, box.y + 560);
    await page.waitForTimeout(500);
    const samples = [];
    for (let i = 0; i < KEYS; i++) {
      const code = `Key${String.fromCharCode(65 + (i % 26))}`;
      // Keys are typed into the textarea over the canvas (it holds the desktop's focus);
      // the paint shows on the canvas.
      const ms = await page.evaluate((keyCode) => new Promise((resolve) => {
        const canvas = document.querySelector('[data-testid="desktop-canvas"]');
        const typing = document.querySelector('[data-testid="desktop-input"]');
        const t0 = performance.timeOrigin + performance.now();
        const observer = new MutationObserver(() => {
          const at = Number(canvas.dataset.lastPaint || 0);
          if (at > t0) { observer.disconnect(); resolve(at - t0); }
        });
        observer.observe(canvas, { attributes: true, attributeFilter: ['data-last-paint'] });
        typing.dispatchEvent(new KeyboardEvent('keydown', { code: keyCode, key: keyCode.slice(3).toLowerCase(), bubbles: true }));
        typing.dispatchEvent(new KeyboardEvent('keyup', { code: keyCode, key: keyCode.slice(3).toLowerCase(), bubbles: true }));
        setTimeout(() => { observer.disconnect(); resolve(NaN); }, 3000);
      }), code);
      samples.push(ms);
      await page.waitForTimeout(150);
    }
    const ok = samples.filter((s) => !Number.isNaN(s)).sort((a, b) => a - b);
    const q = (p) => ok[Math.min(ok.length - 1, Math.floor(p * ok.length))];
    return { keys: samples.length, echoed: ok.length, median: q(0.5), p90: q(0.9), max: ok[ok.length - 1] };
  } finally {
    await desktop.stop();
  }
}

try {
  const results = [];
  for (const [width, height] of [[1024, 768], [1920, 1080]]) {
    for (const codec of ['bitmap', 'remotefx']) results.push(await throughput(codec, width, height));
  }
  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  console.log(`Desktop throughput (${SECONDS} s of a screen-filling scrolling xterm, FreeRDP shadow server through the proxy)`);
  console.log('');
  console.log('| Size | Offered | Surface-command updates | Frames/s in Chromium | Mpx/s painted | Bytes per frame | Decode ms/frame: wasm | native | Decode Mpx/s: wasm | native | Paint ms/frame | Worker busy |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const b = r.browser, n = r.native;
    console.log(`| ${r.size} | ${r.codec} | ${n.remotefx} | ${f(b.fps)} | ${f(b.mpxs)} | ${f(b.bytesPerFrame, 0)} | ${f(b.decodeMsPerFrame, 2)} | ${f(n.decodeMsPerFrame, 2)} | ${f(b.decodeMpxPerS)} | ${f(n.decodeMpxPerS)} | ${f(b.paintMsPerFrame, 2)} | ${f(b.busy * 100, 0)}% |`);
  }
  proxy = proxies.remotefx;
  const l = await latency();
  console.log('');
  console.log(`Key press to paint on an idle desktop (${l.echoed}/${l.keys} keys echoed): median ${f(l.median)} ms, p90 ${f(l.p90)} ms, max ${f(l.max)} ms`);
} finally {
  await browser.close();
  for (const p of Object.values(proxies)) await p.stop();
}
