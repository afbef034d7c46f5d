// The Files panel of an SSH tab: SFTP over a second channel of the browser's own russh
// connection, to a real sshd (internal-sftp). A 200 MB file dropped on the terminal and
// a folder of small files go up; the big file comes back as a streamed download; the
// SHA-256 of each matches. A download-only role is refused uploads with a sentence, a
// role without file transfer gets no panel, and an upload cut by killing the node's
// session leaves nothing under the final name. Direct mode: the node is the one that
// answers.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, afterEach, before, describe, test } from 'node:test';
import { launchBrowser, signedInPage as openSignedIn, screenshot, startNode, startProxy } from '../lib/harness.mjs';

const LOGIN = os.userInfo().username;
const HOME = os.userInfo().homedir;
const BIG = 200 * 1024 * 1024;
const CONFIG = `
[roles.files]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
ssh_mode = "direct"
file_transfer = "both"

[roles.readonly]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
ssh_mode = "direct"
file_transfer = "download"

[roles.recfiles]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
file_transfer = "both"
recordings = "own"

[roles.recread]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
file_transfer = "download"

[roles.nofiles]
node_labels = { env = "demo" }
logins = ["${LOGIN}"]
ssh_mode = "direct"
`;

let proxy;
let node;
let browser;
let local;
let remote;
let pageErrors = [];

afterEach(() => {
  const errors = pageErrors.filter((e) => !/Failed to load resource/.test(e));
  pageErrors = [];
  assert.deepEqual(errors, [], 'the app logged no errors');
});

before(async () => {
  proxy = await startProxy(CONFIG);
  node = await startNode(proxy);
  // Chromium registers service workers (the streamed download) only on a trusted origin.
  browser = await launchBrowser({ trustProxy: proxy });
  local = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-files-local-'));
  // The node is this machine: the folder the tests work in, under the login's home.
  remote = fs.mkdtempSync(path.join(HOME, 'gatehouse-files-'));
  writeRandom(path.join(local, 'big.bin'), BIG);
  const folder = path.join(local, 'small', 'inner');
  fs.mkdirSync(folder, { recursive: true });
  for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(i % 2 ? folder : path.join(local, 'small'), `note-${i}.txt`), crypto.randomBytes(100 + i * 37));
});

after(async () => {
  await browser?.close();
  await node?.stop();
  await proxy?.stop();
  fs.rmSync(local, { recursive: true, force: true });
  fs.rmSync(remote, { recursive: true, force: true });
});

function writeRandom(file, size) {
  const fd = fs.openSync(file, 'w');
  const block = crypto.randomBytes(1 << 20);
  for (let at = 0; at < size; at += block.length) {
    block.writeUInt32LE(at >>> 0, 0);
    fs.writeSync(fd, block);
  }
  fs.closeSync(fd);
}

const sha256 = (file) => {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4 << 20);
  let n;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return hash.digest('hex');
};

const signedInPage = (name, roles) => openSignedIn(proxy, browser, name, roles, pageErrors);
const panel = (page) => page.locator('[data-testid="ssh-panel"][data-active="true"]');
const files = (page) => panel(page).getByTestId('files-panel');
const row = (page, name) => files(page).locator(`[data-testid="file-row"][data-name="${name}"]`);
const transfer = (page, name) => files(page).locator(`[data-testid="transfer"][data-name="${name}"]`);

/** Opens a direct session and the Files panel in the test's folder on the node. */
async function openFiles(page) {
  await page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
  await panel(page).locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
  await files(page).getByTestId('files-path').filter({ hasText: HOME }).waitFor({ timeout: 20_000 });
  await row(page, path.basename(remote)).getByTestId('file-open').click();
  await files(page).getByTestId('files-path').filter({ hasText: remote }).waitFor();
}

/** Drops local files on the terminal, as a person dragging them from their desktop. */
async function dropOnTerminal(page, paths) {
  await page.evaluate(() => {
    const input = document.createElement('input');
    input.type = 'file';
    input.multiple = true;
    input.id = 'test-drop-source';
    input.hidden = true;
    document.body.appendChild(input);
  });
  await page.locator('#test-drop-source').setInputFiles(paths);
  await page.evaluate(() => {
    const input = document.getElementById('test-drop-source');
    const data = new DataTransfer();
    for (const file of input.files) data.items.add(file);
    const target = document.querySelector('[data-testid="ssh-panel"][data-active="true"] [data-testid="terminal"]');
    target.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: data }));
    target.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: data }));
    input.remove();
  });
}

async function waitForState(page, name, state, timeout) {
  const t = transfer(page, name).last();
  const deadline = Date.now() + timeout;
  for (;;) {
    const now = await t.getAttribute('data-state').catch(() => null);
    if (now === state) return t;
    if (now === 'failed' && state !== 'failed') throw new Error(`${name} failed: ${await t.getByTestId('transfer-detail').textContent()}`);
    if (Date.now() > deadline) throw new Error(`${name} never became ${state} (it is ${now})`);
    await page.waitForTimeout(200);
  }
}

/** The part files an upload leaves while it runs (`.NAME.gatehouse-part`). */
const parts = (dir) => fs.readdirSync(dir).filter((n) => n.endsWith('.gatehouse-part'));

describe('Files panel', () => {
  test('a 200 MB file dropped on the terminal and a folder go up, and the file comes back with the same SHA-256', async () => {
    const { context, page } = await signedInPage('fran', ['files']);
    await openFiles(page);
    const started = Date.now();
    await dropOnTerminal(page, [path.join(local, 'big.bin')]);
    await waitForState(page, 'big.bin', 'running', 10_000);
    await page.waitForTimeout(1500);
    assert.match(await transfer(page, 'big.bin').getByTestId('transfer-detail').textContent(), /MB of 209\.7 MB · .*\/s · \d+m \d\ds left/);
    await screenshot(page, '60-files-uploading');
    await waitForState(page, 'big.bin', 'done', 300_000);
    const upSeconds = (Date.now() - started) / 1000;
    assert.equal(sha256(path.join(remote, 'big.bin')), sha256(path.join(local, 'big.bin')), 'the node has the same bytes');
    assert.deepEqual(parts(remote), [], 'no temporary file is left');
    await row(page, 'big.bin').waitFor();

    await files(page).getByTestId('files-upload-folder').setInputFiles(path.join(local, 'small'));
    await waitForState(page, 'small/inner/note-11.txt', 'done', 60_000);
    await files(page).locator('[data-testid="transfer"][data-state="done"]').nth(12).waitFor();
    for (const [dir, names] of [['small', ['note-0.txt', 'note-10.txt']], ['small/inner', ['note-1.txt', 'note-11.txt']]]) {
      for (const name of names) {
        assert.equal(sha256(path.join(remote, dir, name)), sha256(path.join(local, dir, name)), `${dir}/${name}`);
      }
    }
    assert.equal(fs.readdirSync(path.join(remote, 'small', 'inner')).length, 6);

    // Down again, streamed by the download worker to the browser's download folder.
    const downStarted = Date.now();
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 60_000 }),
      row(page, 'big.bin').getByTestId('file-open').click(),
    ]);
    assert.equal(download.suggestedFilename(), 'big.bin');
    const saved = path.join(local, 'downloaded.bin');
    await download.saveAs(saved);
    const downSeconds = (Date.now() - downStarted) / 1000;
    assert.equal(await download.failure(), null);
    assert.equal(sha256(saved), sha256(path.join(local, 'big.bin')), 'the download has the same bytes');
    await waitForState(page, 'big.bin', 'done', 10_000);
    await screenshot(page, '61-files-done');
    console.log(`files: 200 MiB up ${upSeconds.toFixed(1)} s (${(BIG / 1e6 / upSeconds).toFixed(1)} MB/s), down ${downSeconds.toFixed(1)} s (${(BIG / 1e6 / downSeconds).toFixed(1)} MB/s)`);
    await context.close();
  });

  test('create a folder, rename and delete (with a confirmation), sort by size', async () => {
    const { context, page } = await signedInPage('fay', ['files']);
    fs.writeFileSync(path.join(remote, 'tiny.txt'), 'x');
    await openFiles(page);
    page.once('dialog', (d) => d.accept('made-here'));
    await files(page).getByTestId('files-mkdir').click();
    await row(page, 'made-here').waitFor();
    assert.ok(fs.statSync(path.join(remote, 'made-here')).isDirectory());
    page.once('dialog', (d) => d.accept('renamed.txt'));
    await row(page, 'tiny.txt').getByTestId('file-rename').click();
    await row(page, 'renamed.txt').waitFor();
    assert.ok(fs.existsSync(path.join(remote, 'renamed.txt')) && !fs.existsSync(path.join(remote, 'tiny.txt')));
    let asked = '';
    page.once('dialog', (d) => { asked = d.message(); d.dismiss(); });
    await row(page, 'renamed.txt').getByTestId('file-delete').click();
    await page.waitForTimeout(300);
    assert.match(asked, /Delete the file renamed\.txt on the node\? This cannot be undone\./);
    assert.ok(fs.existsSync(path.join(remote, 'renamed.txt')), 'dismissed: nothing deleted');
    page.once('dialog', (d) => d.accept());
    await row(page, 'renamed.txt').getByTestId('file-delete').click();
    await row(page, 'renamed.txt').waitFor({ state: 'detached' });
    assert.ok(!fs.existsSync(path.join(remote, 'renamed.txt')));
    // Folders first, then the files by size, largest first on the second click.
    await files(page).getByTestId('sort-size').click();
    await files(page).getByTestId('sort-size').click();
    const names = await files(page).locator('[data-testid="file-row"][data-dir="false"]').evaluateAll((rows) => rows.map((r) => r.dataset.name));
    assert.equal(names[0], 'big.bin');
    await screenshot(page, '62-files-manage');
    await context.close();
  });

  test('a download-only role sees no upload and a drop is refused with a sentence; a role without file transfer has no panel', async () => {
    const { context, page } = await signedInPage('dana', ['readonly']);
    await openFiles(page);
    assert.equal(await files(page).getByTestId('files-upload').count(), 0, 'no upload button');
    assert.equal(await row(page, 'big.bin').getByTestId('file-delete').count(), 0, 'no delete either');
    fs.writeFileSync(path.join(local, 'refused.txt'), 'should not arrive');
    await dropOnTerminal(page, [path.join(local, 'refused.txt')]);
    await files(page).getByTestId('files-notice').filter({ hasText: 'Your roles allow downloads only from this node: uploads are refused.' }).waitFor();
    assert.ok(!fs.existsSync(path.join(remote, 'refused.txt')));
    await screenshot(page, '63-files-download-only');
    await context.close();

    const other = await signedInPage('nora', ['nofiles']);
    await other.page.goto(`${proxy.url}/ssh/demo?login=${LOGIN}`);
    await panel(other.page).locator('[data-testid="ssh-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await other.page.waitForTimeout(1000);
    assert.equal(await other.page.getByTestId('files-panel').count(), 0, 'no Files panel');
    await other.context.close();
  });

  test('recorded mode: the proxy carries SFTP, audits each transfer with its SHA-256, and the player marks it', async () => {
    const { context, page, session } = await signedInPage('rita', ['recfiles']);
    fs.writeFileSync(path.join(local, 'audited.bin'), crypto.randomBytes(3 * 1024 * 1024 + 17));
    await openFiles(page);
    assert.equal(await panel(page).getByTestId('ssh-recorded').getAttribute('data-recorded'), 'true');
    await dropOnTerminal(page, [path.join(local, 'audited.bin')]);
    await waitForState(page, 'audited.bin', 'done', 60_000);
    const hash = sha256(path.join(local, 'audited.bin'));
    assert.equal(sha256(path.join(remote, 'audited.bin')), hash);
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 30_000 }),
      row(page, 'audited.bin').getByTestId('file-open').click(),
    ]);
    await download.saveAs(path.join(local, 'audited-back.bin'));
    assert.equal(sha256(path.join(local, 'audited-back.bin')), hash);
    await screenshot(page, '65-files-recorded');
    await page.waitForTimeout(500);
    await context.close();

    const audit = () => fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');
    const upload = new RegExp(`"kind":"ssh.file_transfer","user":"rita".*upload ${remote}/\\.audited\\.bin\\.gatehouse-part \\(3145745 bytes, sha256 ${hash}\\)`);
    const down = new RegExp(`"kind":"ssh.file_transfer","user":"rita".*download ${remote}/audited\\.bin \\(3145745 bytes, sha256 ${hash}\\)`);
    for (let i = 0; i < 50 && !(upload.test(audit()) && down.test(audit())); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(audit(), upload);
    assert.match(audit(), down);
    assert.match(audit(), new RegExp(`"kind":"ssh.file_change","user":"rita".*rename ${remote}/\\.audited\\.bin\\.gatehouse-part to ${remote}/audited\\.bin`));

    // The recording's timeline marks both transfers.
    const [rec] = JSON.parse(`[${proxy.cli('recordings', 'list', '--limit', '1').trim()}]`);
    assert.equal(rec.user, 'rita');
    const player = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    const [name, value] = session.cookie.split('=');
    await player.addCookies([{ name, value, url: proxy.url, httpOnly: true, secure: true, sameSite: 'Strict' }]);
    const p = await player.newPage();
    await p.goto(`${proxy.url}/recordings/${rec.id}`);
    await p.getByTestId('timeline-mark').nth(1).waitFor({ timeout: 20_000 });
    const labels = await p.getByTestId('timeline-mark').evaluateAll((marks) => marks.map((m) => m.title));
    assert.match(labels[0], new RegExp(`^↑ ${remote}/\\.audited\\.bin\\.gatehouse-part \\(3145745 bytes, sha256 ${hash}\\)$`));
    assert.match(labels[1], new RegExp(`^↓ ${remote}/audited\\.bin`));
    await screenshot(p, '66-files-player-marks');
    await player.close();
  });

  test('recorded mode: a page that lies about a download-only role is still refused writes by the proxy', async () => {
    const { context, page } = await signedInPage('lena', ['recread']);
    // The attacker's page: it claims "both" for itself; only the proxy's inspector stands.
    await page.route('**/api/v1/ssh/certificate', async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      await route.fulfill({ response, json: { ...body, file_transfer: 'both' } });
    });
    await openFiles(page);
    fs.writeFileSync(path.join(local, 'sneaky.txt'), 'should not arrive');
    await dropOnTerminal(page, [path.join(local, 'sneaky.txt')]);
    const t = await waitForState(page, 'sneaky.txt', 'failed', 30_000);
    assert.match(await t.getByTestId('transfer-detail').textContent(), /Gatehouse refused to write .*sneaky\.txt\.gatehouse-part: your roles allow downloads only from this node\./);
    assert.ok(!fs.existsSync(path.join(remote, 'sneaky.txt')) && !fs.existsSync(path.join(remote, '.sneaky.txt.gatehouse-part')));
    page.once('dialog', (d) => d.accept('not-allowed'));
    await files(page).getByTestId('files-mkdir').click();
    await files(page).getByTestId('files-notice').filter({ hasText: 'Gatehouse refused to create the folder' }).waitFor();
    assert.ok(!fs.existsSync(path.join(remote, 'not-allowed')));
    await screenshot(page, '67-files-recorded-refused');
    await context.close();
    const audit = fs.readFileSync(path.join(proxy.dir, 'data', 'audit.jsonl'), 'utf8');
    assert.match(audit, /"kind":"ssh.denied","user":"lena".*file transfer: write .*sneaky\.txt\.gatehouse-part/);
  });

  test('an upload cut by the node going away says so and leaves nothing under the final name', async () => {
    const { context, page } = await signedInPage('cody', ['files']);
    await openFiles(page);
    fs.copyFileSync(path.join(local, 'big.bin'), path.join(local, 'cut.bin'));
    await dropOnTerminal(page, [path.join(local, 'cut.bin')]);
    const t = await waitForState(page, 'cut.bin', 'running', 10_000);
    // Once some of it is there, the node's sshd (the listener and this connection's
    // processes, all started by this test's harness) is killed.
    const deadline = Date.now() + 60_000;
    while (!parts(remote).length || fs.statSync(path.join(remote, parts(remote)[0])).size < 20e6) {
      if (Date.now() > deadline) throw new Error('the upload never got going');
      await page.waitForTimeout(100);
    }
    const listener = Number(fs.readFileSync(path.join(node.dir, 'sshd.pid'), 'utf8'));
    const children = (pid) => {
      try {
        return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map(Number).filter(Boolean);
      } catch {
        return []; // ps exits 1 when there are none
      }
    };
    const tree = (pid) => [pid, ...children(pid).flatMap(tree)];
    for (const pid of tree(listener).reverse()) {
      try { process.kill(pid, 'SIGKILL'); } catch {}
    }
    await waitForState(page, 'cut.bin', 'failed', 90_000);
    const said = await t.getByTestId('transfer-detail').textContent();
    assert.match(said, /connection to the node was lost|transfer of .*cut\.bin stopped/);
    assert.ok(!fs.existsSync(path.join(remote, 'cut.bin')), 'nothing under the final name');
    await screenshot(page, '64-files-cut');
    await context.close();
  });
});
