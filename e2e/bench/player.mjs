// The player against recording length: time from clicking Play to the first painted
// frame, and time to seek to random points, for generated recordings of 1 minute,
// 1 hour and 10 hours of realistic terminal output, measured in Chromium; and search,
// from the search file and (local files) by the replay a recording without one gets.
// Run by ./scripts/bench; prints a Markdown table.

import fs from 'node:fs';
import path from 'node:path';
import { launchBrowser, startGarage, startProxy, contextWithSession } from '../lib/harness.mjs';

const SEEKS = Number(process.env.BENCH_SEEKS || 7);
const LENGTHS = [['1 minute', 60], ['1 hour', 3600], ['10 hours', 36000]];

/** A deterministic pseudo-random source, so every run generates the same sessions. */
function random(seed) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

/**
 * An asciicast of a working session: typing commands at a prompt (echoed a key at a
 * time), their output (directory listings, logs, coloured), a `top`-like full-screen
 * program redrawing every second for a while, and idle stretches.
 */
function session(seconds, seed) {
  const rnd = random(seed);
  const lines = [JSON.stringify({ version: 2, width: 120, height: 36, env: { TERM: 'xterm-256color' } })];
  const out = (t, data) => lines.push(JSON.stringify([Number(t.toFixed(3)), 'o', data]));
  const words = ['src', 'target', 'README.md', 'Cargo.toml', 'build.rs', 'main.rs', 'lib.rs', 'tests', 'docs', 'assets'];
  let t = 0.1;
  while (t < seconds) {
    const phase = t < 1 ? 0 : rnd();
    if (phase < 0.6) {
      const command = ['ls -l', 'git status', 'cargo build', 'tail -n 30 app.log', 'grep -rn TODO src'][Math.floor(rnd() * 5)];
      out(t, '\x1b[32muser@host\x1b[0m:\x1b[34m~/project\x1b[0m$ ');
      for (const ch of command) {
        t += 0.05 + rnd() * 0.15;
        out(t, ch);
      }
      t += 0.3;
      out(t, '\r\n');
      const count = 3 + Math.floor(rnd() * 40);
      let block = '';
      for (let i = 0; i < count; i++) {
        const name = words[Math.floor(rnd() * words.length)];
        block += `-rw-r--r-- 1 user user ${Math.floor(rnd() * 99999).toString().padStart(6)} Nov 21 10:${String(i % 60).padStart(2, '0')} \x1b[1;34m${name}\x1b[0m ${'x'.repeat(Math.floor(rnd() * 40))}\r\n`;
      }
      t += 0.05 + rnd() * 0.5;
      out(t, block);
      t += 1 + rnd() * 8;
    } else if (phase < 0.7) {
      out(t, '\x1b[?1049h\x1b[H\x1b[2J');
      const frames = 10 + Math.floor(rnd() * 50);
      for (let f = 0; f < frames; f++) {
        let screen = `\x1b[Htop - 10:${String(f % 60).padStart(2, '0')}:00 up 3 days, load average: ${rnd().toFixed(2)}\x1b[K\r\n`;
        screen += '\x1b[7m  PID USER      PR  NI    VIRT    RES  %CPU  %MEM     TIME+ COMMAND\x1b[0m\x1b[K\r\n';
        for (let r = 0; r < 30; r++) {
          screen += `${String(1000 + r).padStart(5)} user      20   0 ${String(Math.floor(rnd() * 9e6)).padStart(7)} ${String(Math.floor(rnd() * 9e5)).padStart(6)} ${(rnd() * 100).toFixed(1).padStart(5)} ${(rnd() * 10).toFixed(1).padStart(5)}   0:${String(r).padStart(2, '0')}.00 proc-${r}\x1b[K\r\n`;
        }
        out(t, screen);
        t += 1;
      }
      out(t, '\x1b[?1049l');
      t += 1;
    } else {
      t += 5 + rnd() * 60;
    }
  }
  return `${lines.join('\n')}\n`;
}

// Each store in turn, the same generated recordings: local files (the default), then a
// real Garage (the recordings uploaded by `recordings import`, read with ranged GETs).
async function measure(store) {
  let garage = null;
  let extra = '';
  if (store === 'object store') {
    garage = await startGarage({ bucket: 'bench-recordings' });
    extra = [
      '[recordings]',
      `store = "s3://${garage.bucket}/bench"`,
      `endpoint = "${garage.endpoint}"`,
      `region = "${garage.region}"`,
      `access_key_id = "${garage.keyId}"`,
      `secret_access_key = "${garage.secret}"`,
      'allow_http = true',
    ].join('\n');
  }
  const proxy = await startProxy(extra);
  const browser = await launchBrowser();
  const rows = [];
  try {
    const admin = await proxy.enrolAndSignIn('bench', ['admin']);
    const context = await contextWithSession(browser, proxy, admin.cookie);
    const page = await context.newPage();
    for (const [label, seconds] of LENGTHS) {
      const file = path.join(proxy.dir, `${seconds}.cast`);
      fs.writeFileSync(file, session(seconds, seconds));
      const id = proxy.cli('recordings', 'import', file, '--user', 'bench', '--target', `bench-${seconds}`).trim();
      const info = (await proxy.request('GET', `/api/v1/recordings/${id}`, { headers: { cookie: admin.cookie } })).json;
      const bytes = info.bytes;
      const index = await proxy.request('GET', `/api/v1/recordings/${id}/data/index`, { headers: { cookie: admin.cookie, range: 'bytes=0-0' } });
      const indexBytes = Number(index.headers['content-range']?.split('/')[1]);
      const source = index.headers['x-gatehouse-source'];
      // Open the list, then click Play: the player's own start, not the app's.
      await page.goto(`${proxy.url}/recordings?`);
      await page.locator(`[data-testid="recording-row"][data-id="${id}"]`).waitFor();
      const firstFrame = await page.evaluate(async (rowId) => {
        const link = document.querySelector(`[data-testid="recording-row"][data-id="${rowId}"] [data-testid="play"]`);
        const start = performance.now();
        link.click();
        await new Promise((resolve) => {
          const check = () => {
            const player = document.querySelector('[data-testid="player"]');
            if (player && player.dataset.state === 'paused' && player.dataset.seeking === 'false') resolve();
            else requestAnimationFrame(check);
          };
          check();
        });
        return performance.now() - start;
      }, id);
      const duration = Number(await page.getByTestId('player').getAttribute('data-duration'));
      const rnd = random(7);
      const seeks = [];
      for (let i = 0; i < SEEKS; i++) {
        const target = Math.floor(rnd() * duration);
        seeks.push(await page.evaluate(async (ms) => {
          const player = document.querySelector('[data-testid="player"]');
          const input = document.querySelector('[data-testid="timeline"]');
          const start = performance.now();
          input.value = String(ms);
          input.dispatchEvent(new Event('input', { bubbles: true }));
          await new Promise((resolve) => {
            const check = () => {
              if (player.dataset.seeking === 'false' && player.dataset.position === String(ms)) resolve();
              else requestAnimationFrame(check);
            };
            check();
          });
          return performance.now() - start;
        }, target));
      }
      seeks.sort((a, b) => a - b);
      // Search reads the search file the import wrote. Without one (a recording from
      // before search files) the proxy replays the recording, as every search did
      // before, and writes the file: with local files, that is timed too.
      const timeSearch = () => page.evaluate(async (rowId) => {
        const start = performance.now();
        const answer = await fetch(`/api/v1/recordings/${rowId}/search?q=proc-29`);
        const hits = await answer.json();
        return { ms: performance.now() - start, hits: hits.hits.length, how: answer.headers.get('x-gatehouse-search') ?? 'replay' };
      }, id);
      const search = await timeSearch();
      let replay = null;
      const searchFile = path.join(proxy.dataDir, 'recordings', `${id}.ghsrch`);
      if (store === 'local files' && fs.existsSync(searchFile)) {
        fs.rmSync(searchFile);
        replay = await timeSearch();
      }
      rows.push({ store, source, label, bytes, indexBytes, firstFrame, median: seeks[Math.floor(seeks.length / 2)], worst: seeks[seeks.length - 1], search, replay });
    }
    await context.close();
  } finally {
    await browser.close();
    await proxy.stop();
    await garage?.stop();
  }
  return rows;
}

const rows = [...(await measure('local files')), ...(await measure('object store'))];

const mb = (b) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${(b / 1024).toFixed(0)} KiB`);
const searched = (s) => (s ? `${s.ms.toFixed(0)} ms (${s.hits}, ${s.how})` : '–');
console.log(`| generated recording | stored in (served from) | recording / index | Play → first frame | seek, median of ${SEEKS} | seek, worst | search (hits, how) | search without a search file |`);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.label} | ${r.store} (${r.source}) | ${mb(r.bytes)} / ${mb(r.indexBytes)} | ${r.firstFrame.toFixed(0)} ms | ${r.median.toFixed(0)} ms | ${r.worst.toFixed(0)} ms | ${searched(r.search)} | ${searched(r.replay)} |`);
}
