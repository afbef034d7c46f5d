// SSH throughput, side by side in one run: `cat` of the same file over
//  1. the native ssh client straight to sshd,
//  2. the native ssh client through the proxy's SSH WebSocket, direct and recorded mode,
//  3. the browser: russh in wasm through the same WebSocket, into the canvas terminal,
//     direct and recorded mode;
//  4. the native ssh client with the file going up while it comes down, straight to
//     sshd and through recorded mode (where two russh sessions are bridged).
// Run by ./scripts/bench; prints a Markdown table.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startNode, startProxy, contextWithSession } from '../lib/harness.mjs';

const MB = Number(process.env.BENCH_MB || 200);
const LOGIN = os.userInfo().username;
const BRIDGE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'ws-stdio.mjs');

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
const work = fs.mkdtempSync(path.join(proxy.dir, 'bench-'));
const file = path.join(work, 'output.txt');
// Realistic terminal text: 76-column base64 lines.
execFileSync('bash', ['-c', `base64 -w 76 /dev/urandom | head -c ${MB * 1024 * 1024} > ${file}`]);
const who = await proxy.certifiedKey('bench', ['direct'], work);
const recordedWho = await proxy.certifiedKey('bench-rec', ['recorded'], work);
const known = path.join(work, 'known_hosts');
fs.writeFileSync(known, `@cert-authority * ${fs.readFileSync(path.join(proxy.dir, 'data', 'ca', 'host_ca.pub'), 'utf8').trim()}\n`);

// The ssh client's arguments to run `command` on `host` as `as`.
const sshArgs = (extra, host, as, command) => [
  '-F', 'none', '-i', as.key, '-o', `CertificateFile=${as.key}-cert.pub`, '-o', 'IdentitiesOnly=yes',
  '-o', `UserKnownHostsFile=${known}`, '-o', 'BatchMode=yes', '-c', 'chacha20-poly1305@openssh.com', ...extra,
  host, command,
];

// Certificates are for one connection (a minute, one node): each run asks for its own,
// before the clock starts, as the browser does.
async function sshCat(extra, host, as = who) {
  await proxy.certify(as, 'demo', LOGIN);
  const start = performance.now();
  const result = spawnSync('ssh', sshArgs(extra, host, as, `cat ${file}`), { maxBuffer: 2 * MB * 1024 * 1024, timeout: 300_000 });
  const seconds = (performance.now() - start) / 1000;
  if (result.status !== 0) throw new Error(String(result.stderr));
  return seconds;
}

// Both directions at full speed at once: the file goes up (read and dropped by the node)
// while it comes down. The session's time, so each direction's rate is MB over it.
async function sshBothWays(extra, host, as = who) {
  await proxy.certify(as, 'demo', LOGIN);
  const start = performance.now();
  const command = `exec 3<&0; cat <&3 > /dev/null & cat ${file}; wait`;
  const ssh = spawn('ssh', sshArgs(extra, host, as, command), { stdio: [fs.openSync(file, 'r'), 'pipe', 'inherit'] });
  let [got, seen, moved] = [0, 0, Date.now()];
  ssh.stdout.on('data', (chunk) => { got += chunk.length; });
  // A stall (as before russh was patched) is reported, not waited out.
  let stalled = false;
  const watch = setInterval(() => {
    if (got !== seen) [seen, moved] = [got, Date.now()];
    else if (Date.now() - moved > 30_000) [stalled] = [true, ssh.kill()];
  }, 1000);
  const status = await new Promise((resolve) => ssh.on('close', resolve));
  clearInterval(watch);
  if (stalled) return `stalled for good after ${(got / 1048576).toFixed(0)} MiB down`;
  if (status !== 0 || got !== MB * 1024 * 1024) throw new Error(`both ways: ssh ended ${status} after ${got} bytes`);
  return (performance.now() - start) / 1000;
}

const direct = await sshCat(['-p', String(node.port)], `${LOGIN}@127.0.0.1`);
const url = `wss://localhost:${proxy.port}/api/v1/nodes/demo/ssh?login=${LOGIN}`;
const viaProxy = (as) => [
  '-o', `ProxyCommand=${[process.execPath, BRIDGE, url, `'${as.cookie}'`, path.join(proxy.dir, 'data', 'tls', 'cert.pem'), proxy.url].join(' ')}`,
];
const relayed = await sshCat(viaProxy(who), `${LOGIN}@demo`);
const relayedRecorded = await sshCat(viaProxy(recordedWho), `${LOGIN}@demo`, recordedWho);
const bothDirect = await sshBothWays(['-p', String(node.port)], `${LOGIN}@127.0.0.1`);
const bothRecorded = await sshBothWays(viaProxy(recordedWho), `${LOGIN}@demo`, recordedWho);

const browser = await launchBrowser();
const heap = {};
async function inTheBrowser(as) {
  const context = await contextWithSession(browser, proxy, as.cookie);
  const page = await context.newPage();
  await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
  const panel = page.locator('[data-testid="ssh-panel"][data-active="true"]');
  await panel.locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
  await panel.getByTestId('terminal').click();
  // The file ends mid-line: `echo` first puts the marker on a line of its own.
  await page.keyboard.type(`clear; cat ${file}; echo; echo cat-finished`);
  const start = performance.now();
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    () => /^cat-finished$/m.test(document.querySelector('[data-testid="ssh-panel"][data-active="true"] [data-testid="screen-text"]').textContent),
    null,
    { timeout: 900_000, polling: 100 },
  );
  const seconds = (performance.now() - start) / 1000;
  heap[as === who ? 'direct' : 'recorded'] = await page.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize / 1048576 : NaN));
  await context.close();
  return seconds;
}
let inBrowser;
let inBrowserRecorded;
try {
  inBrowser = await inTheBrowser(who);
  inBrowserRecorded = await inTheBrowser(recordedWho);
} finally {
  await browser.close();
  await node.stop();
  await proxy.stop();
}

const row = (what, s) => (typeof s === 'string' ? `| ${what} | ${s} | |` : `| ${what} | ${s.toFixed(2)} s | ${(MB / s).toFixed(1)} MiB/s |`);
console.log(`| \`cat\` of ${MB} MiB of base64 text, chacha20-poly1305 | time | throughput |`);
console.log('|---|---|---|');
console.log(row('OpenSSH client → sshd (loopback)', direct));
console.log(row('OpenSSH client → proxy WebSocket (direct mode) → sshd', relayed));
console.log(row('OpenSSH client → proxy WebSocket → proxy SSH server (recorded mode) → sshd', relayedRecorded));
console.log(row('Chromium: russh in wasm → proxy WebSocket (direct) → sshd, drawn in the canvas terminal', inBrowser));
console.log(row('Chromium: russh in wasm → proxy SSH server (recorded) → sshd, drawn in the canvas terminal', inBrowserRecorded));
console.log(`\n| both ways at once: ${MB} MiB up while ${MB} MiB come down | time | each way |`);
console.log('|---|---|---|');
console.log(row('OpenSSH client → sshd (loopback)', bothDirect));
console.log(row('OpenSSH client → proxy WebSocket → proxy SSH server (recorded mode) → sshd', bothRecorded));
console.log(`\nJS heap in the page after the run: ${heap.direct.toFixed(1)} MB (direct), ${heap.recorded.toFixed(1)} MB (recorded).`);
