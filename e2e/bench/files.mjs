// Files panel throughput: a 200 MiB file up and down through the browser's SFTP (the
// Files panel; direct mode, then recorded through the proxy's inspector), beside
// OpenSSH's own `sftp` client to the same sshd. Prints the rows of BENCHMARKS.md.
//   cd e2e && GATEHOUSE_BIN=… node bench/files.mjs

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { launchBrowser, signedInPage, startNode, startProxy } from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const HOME = os.userInfo().homedir;
const SIZE = 200 * 1024 * 1024;
const role = (name, extra) => `[roles.${name}]\nnode_labels = { env = "demo" }\nlogins = ["${LOGIN}"]\nfile_transfer = "both"\n${extra}\n`;
const proxy = await startProxy(role('direct', 'ssh_mode = "direct"') + role('recorded', ''));
const node = await startNode(proxy);
const browser = await launchBrowser({ trustProxy: proxy });
const local = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-files-'));
const remote = fs.mkdtempSync(path.join(HOME, 'gatehouse-bench-files-'));
const big = path.join(local, 'big.bin');
{
  const fd = fs.openSync(big, 'w');
  for (let at = 0; at < SIZE; at += 1 << 20) fs.writeSync(fd, crypto.randomBytes(1 << 20));
  fs.closeSync(fd);
}
const mbps = (seconds) => (SIZE / 1e6 / seconds).toFixed(1);
const rows = [];

// OpenSSH's sftp, with a certificate the proxy issued for a direct-mode login.
{
  const who = await proxy.certifiedKey('native', ['direct'], local, { node: 'demo', login: LOGIN });
  const sftp = (batch) => {
    const file = path.join(local, 'batch');
    fs.writeFileSync(file, batch);
    const started = process.hrtime.bigint();
    execFileSync('sftp', ['-q', '-b', file, '-i', who.key, '-o', `CertificateFile=${who.key}-cert.pub`, '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null', '-P', String(node.port), `${LOGIN}@127.0.0.1`], { stdio: 'ignore' });
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  const up = sftp(`put ${big} ${remote}/native.bin\n`);
  const down = sftp(`get ${remote}/native.bin ${local}/native-back.bin\n`);
  rows.push(['OpenSSH sftp (native, same sshd)', up, down]);
  fs.rmSync(path.join(remote, 'native.bin'));
}

for (const mode of ['direct', 'recorded']) {
  const { context, page } = await signedInPage(proxy, browser, `bench-${mode}`, [mode], []);
  const panel = page.locator('[data-testid="ssh-panel"][data-active="true"]');
  const files = panel.getByTestId('files-panel');
  await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
  await files.getByTestId('files-path').filter({ hasText: HOME }).waitFor({ timeout: 30_000 });
  await files.locator(`[data-testid="file-row"][data-name="${path.basename(remote)}"] [data-testid="file-open"]`).click();
  await files.getByTestId('files-path').filter({ hasText: remote }).waitFor();
  let started = Date.now();
  await files.getByTestId('files-upload').setInputFiles(big);
  await files.locator('[data-testid="transfer"][data-state="done"]').waitFor({ timeout: 600_000 });
  const up = (Date.now() - started) / 1000;
  started = Date.now();
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    files.locator('[data-testid="file-row"][data-name="big.bin"] [data-testid="file-open"]').click(),
  ]);
  await download.saveAs(path.join(local, `${mode}-back.bin`));
  const down = (Date.now() - started) / 1000;
  rows.push([`Browser Files panel, ${mode} mode`, up, down]);
  fs.rmSync(path.join(remote, 'big.bin'));
  await context.close();
}

console.log('| 200 MiB over SFTP, same sshd on loopback | upload | download |');
console.log('|---|---|---|');
for (const [what, up, down] of rows) console.log(`| ${what} | ${up.toFixed(1)} s (${mbps(up)} MB/s) | ${down.toFixed(1)} s (${mbps(down)} MB/s) |`);
await browser.close();
await node.stop();
await proxy.stop();
fs.rmSync(local, { recursive: true, force: true });
fs.rmSync(remote, { recursive: true, force: true });
