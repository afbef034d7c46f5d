// Keystroke-to-paint latency in an SSH tab, side by side: direct mode (the browser's
// SSH to sshd through the relay) and recorded mode (through the proxy's SSH server).
// For each key: from the keydown event in the page to the paint that shows its echo
// (the renderer updates the screen's text mirror in the same animation frame it draws
// the canvas). Run by ./scripts/bench; prints a Markdown table.

import os from 'node:os';
import { launchBrowser, startNode, startProxy, contextWithSession } from '../lib/harness.mjs';

const KEYS = Number(process.env.BENCH_KEYS || 60);
const LOGIN = os.userInfo().username;

const proxy = await startProxy(`
[roles.direct]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
ssh_mode = "direct"

[roles.recorded]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
`);
const node = await startNode(proxy);
const browser = await launchBrowser();

async function measure(role) {
  const session = await proxy.enrolAndSignIn(`keys-${role}`, [role]);
  const context = await contextWithSession(browser, proxy, session.cookie);
  const page = await context.newPage();
  await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
  const panel = page.locator('[data-testid="ssh-panel"][data-active="true"]');
  await panel.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
  await panel.getByTestId('terminal').click();
  await page.keyboard.type('clear; cat > /dev/null\n');
  await page.waitForTimeout(500);
  const samples = [];
  for (let i = 0; i < KEYS; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    const pending = page.evaluate((expected) => new Promise((resolve) => {
      const mirror = document.querySelector('[data-testid="ssh-panel"][data-active="true"] [data-testid="screen-text"]');
      let down = null;
      const onKey = (event) => { down = event.timeStamp; };
      window.addEventListener('keydown', onKey, { capture: true, once: true });
      const observer = new MutationObserver(() => {
        const line = mirror.textContent.trimEnd().split('\n').pop();
        if (down !== null && line.length >= expected) {
          observer.disconnect();
          resolve(performance.now() - down);
        }
      });
      observer.observe(mirror, { childList: true, characterData: true, subtree: true });
    }), i + 1);
    await page.waitForTimeout(30);
    await page.keyboard.press(key);
    samples.push(await pending);
    await page.waitForTimeout(70);
  }
  await context.close();
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { median: at(0.5), p95: at(0.95), min: samples[0] };
}

let direct, recorded;
try {
  direct = await measure('direct');
  recorded = await measure('recorded');
} finally {
  await browser.close();
  await node.stop();
  await proxy.stop();
}

const row = (what, r) => `| ${what} | ${r.median.toFixed(1)} ms | ${r.p95.toFixed(1)} ms | ${r.min.toFixed(1)} ms |`;
console.log(`| Keydown → paint of the echo, ${KEYS} keys, loopback sshd | median | p95 | best |`);
console.log('|---|---|---|---|');
console.log(row('Direct mode (browser SSH → relay → sshd)', direct));
console.log(row('Recorded mode (browser SSH → proxy SSH server → sshd)', recorded));
