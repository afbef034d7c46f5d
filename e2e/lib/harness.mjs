// The real parts an end-to-end test needs: the gatehouse binary with its own data
// directory and config on a free loopback port, Debian's Chromium, and TOTP codes.

import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createHash, createHmac, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import zlib from 'node:zlib';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..');
// The built web app the proxies serve; a benchmark may point it at another build
// (`GATEHOUSE_WEB_ROOT`), to measure an earlier build of the app the same way.
const WEB_ROOT = process.env.GATEHOUSE_WEB_ROOT ?? path.join(root, 'dist');
export const artifacts = path.join(root, 'e2e', 'artifacts');

/** The gatehouse binary the test command built. */
export function gatehouseBin() {
  const bin = process.env.GATEHOUSE_BIN;
  if (!bin || !fs.existsSync(bin)) {
    throw new Error(`GATEHOUSE_BIN must name the built gatehouse binary (got ${bin}); run ./scripts/test`);
  }
  return bin;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a real proxy with a fresh data directory. `extraConfig` is appended to the
 * TOML config; `prepare(dir)` runs before the proxy starts (e.g. to mount a small
 * filesystem at dir/data). `dataDir`: another proxy's data directory to share (its
 * database, CAs and TLS certificate), as a second proxy of one cluster would; `env`:
 * extra environment variables. Returns helpers to add users, call the API and stop it.
 */
export async function startProxy(extraConfig = '', { prepare, publicUrl, tlsCert, dir: inDir, configFor, dataDir, env = {} } = {}) {
  const port = await freePort();
  const dir = inDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-e2e-'));
  fs.mkdirSync(dir, { recursive: true });
  if (prepare) prepare(dir);
  const url = publicUrl ?? `https://localhost:${port}`;
  const config = path.join(dir, 'gatehouse.toml');
  const data = dataDir ?? path.join(dir, 'data');
  const certPath = tlsCert ?? path.join(data, 'tls', 'cert.pem');
  const own = configFor
    ? configFor(port, dir)
    : [`listen = "127.0.0.1:${port}"`, `public_url = "${url}"`, `data_dir = "${data}"`, `web_root = "${WEB_ROOT}"`].join('\n');
  fs.writeFileSync(config, `${own}\n${extraConfig}`);
  let child;
  let exited = null;
  const launch = () => {
    const log = fs.openSync(path.join(dir, 'proxy.log'), 'a');
    exited = null;
    child = spawn(gatehouseBin(), ['--config', config, 'start'], { stdio: ['ignore', log, log], env: { ...process.env, ...env } });
    child.on('exit', (code, signal) => { exited = { code, signal }; });
  };
  launch();

  const proxy = {
    url, port, dir, config, dataDir: data,
    get child() { return child; },
    get exited() { return exited; },
    logText: () => fs.readFileSync(path.join(dir, 'proxy.log'), 'utf8'),
    /** Runs `gatehouse users add` and returns the invite link it printed. */
    addUser(name, roles = ['dev']) {
      const out = execFileSync(gatehouseBin(), ['--config', config, 'users', 'add', name, '--roles', roles.join(',')], {
        encoding: 'utf8',
      });
      const link = out.match(/https:\/\/\S+\/invite#token=\S+/);
      if (!link) throw new Error(`no invite link in: ${out}`);
      return link[0];
    },
    /** Runs the gatehouse command line against this proxy's config; returns stdout. */
    cli(...args) {
      // stderr is captured (it is on the thrown error) rather than echoed into the report.
      return execFileSync(gatehouseBin(), ['--config', config, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    },
    /** The command line with `input` on stdin, failing or not: { status, out, err }. */
    run(args, input = '') {
      const result = spawnSync(gatehouseBin(), ['--config', config, ...args], {
        input, encoding: 'utf8', timeout: 60_000, env: { ...process.env, RUST_BACKTRACE: '0' },
      });
      return { status: result.status, out: result.stdout, err: result.stderr };
    },
    /**
     * Adds a user and enrols them through the API as the invite page does. Returns
     * their authenticator (its next code signs in at once).
     */
    async enrol(name, roles = ['dev'], password = 'a long enough password') {
      const headers = { 'content-type': 'application/json', 'x-csrf-token': 'pre-session' };
      const token = new URLSearchParams(proxy.addUser(name, roles).split('#')[1]).get('token');
      const inspect = await proxy.request('POST', '/api/v1/invites/inspect', { headers, body: JSON.stringify({ token }) });
      if (inspect.status !== 200) throw new Error(`invite inspect: ${inspect.text}`);
      const authenticator = new Authenticator(inspect.json.totp_secret);
      const accept = await proxy.request('POST', '/api/v1/invites/accept', {
        headers, body: JSON.stringify({ token, password, totp_code: await authenticator.nextCode() }),
      });
      if (accept.status !== 204) throw new Error(`invite accept: ${accept.text}`);
      return authenticator;
    },
    /**
     * Adds a user, enrols them through the API as the invite page does, and signs in.
     * Returns the session cookie (name=value) and CSRF token.
     */
    async enrolAndSignIn(name, roles = ['dev'], password = 'a long enough password') {
      const headers = { 'content-type': 'application/json', 'x-csrf-token': 'pre-session' };
      const authenticator = await proxy.enrol(name, roles, password);
      const signIn = await proxy.request('POST', '/api/v1/session', {
        headers, body: JSON.stringify({ username: name, password, totp_code: await authenticator.nextCode() }),
      });
      if (signIn.status !== 200) throw new Error(`sign-in: ${signIn.text}`);
      return {
        setCookie: signIn.headers['set-cookie'][0], cookie: signIn.headers['set-cookie'][0].split(';')[0], csrf: signIn.json.csrf_token,
        name, password, authenticator, expiresAt: signIn.json.expires_at,
      };
    },
    /**
     * Has the proxy certify `who.key` (an ssh-keygen key; the certificate goes to
     * key-cert.pub) for one connection: `login` on `node`, as the browser does right
     * before each connection. Returns the API's answer ({ status, json, … }).
     */
    async certify(who, node, login) {
      const res = await proxy.request('POST', '/api/v1/ssh/certificate', {
        headers: { cookie: who.cookie, 'x-csrf-token': who.csrf, 'content-type': 'application/json' },
        body: JSON.stringify({ public_key: fs.readFileSync(`${who.key}.pub`, 'utf8'), node, login }),
      });
      if (res.status === 200) fs.writeFileSync(`${who.key}-cert.pub`, `${res.json.certificate}\n`);
      return res;
    },
    /**
     * Signs in a new user with `roles` and makes a fresh ssh-keygen key in `dir`; with
     * `node` and `login`, also certifies it for them. Returns the session plus `key` (its
     * path; a certificate is key-cert.pub).
     */
    async certifiedKey(name, roles, dir, { node, login } = {}) {
      const session = await proxy.enrolAndSignIn(name, roles);
      const key = path.join(dir, `${name}_ed25519`);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      const who = { ...session, key, name };
      if (node) {
        const res = await proxy.certify(who, node, login);
        if (res.status !== 200) throw new Error(`certificate: ${res.text}`);
      }
      return who;
    },
    /** An HTTPS request that trusts only this proxy's certificate. */
    request(method, pathname, { headers = {}, body } = {}) {
      const ca = fs.readFileSync(certPath);
      return new Promise((resolve, reject) => {
        const req = https.request(
          { host: 'localhost', port, path: pathname, method, headers, ca },
          (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let json = null;
              try { json = JSON.parse(text); } catch { /* not JSON */ }
              resolve({ status: res.statusCode, headers: res.headers, text, json, bytes: Buffer.concat(chunks) });
            });
          },
        );
        req.on('error', reject);
        if (body !== undefined && /100-continue/i.test(headers.expect ?? '')) {
          // Send the body only if the server asks for it, as careful clients do.
          req.on('continue', () => req.end(body));
          req.flushHeaders();
        } else {
          if (body !== undefined) req.write(body);
          req.end();
        }
      });
    },
    async stop(signal = 'SIGTERM') {
      if (exited) return;
      child.kill(signal);
      await new Promise((r) => child.once('exit', r));
    },
    /** Starts the proxy again on the same data directory and port (after a stop or a kill). */
    async restart() {
      launch();
      await healthy();
    },
  };

  async function healthy() {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`gatehouse exited early (${JSON.stringify(exited)}):\n${proxy.logText()}`);
      try {
        const res = await proxy.request('GET', '/api/v1/health');
        if (res.status === 200) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`gatehouse did not become healthy:\n${proxy.logText()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await healthy();
  return proxy;
}

/**
 * A real Garage (S3-compatible object store) as an ordinary process: its own temporary
 * directory and loopback ports, one node with a layout, one bucket and one key allowed
 * to read and write it. Returns `{ endpoint, region, bucket, keyId, secret, dir, stop }`
 * and `garage(...args)` to run its command line against it.
 */
export async function startGarage({ bucket = 'gatehouse-recordings' } = {}) {
  const bin = process.env.GARAGE_BIN || path.join(os.homedir(), '.cargo', 'bin', 'garage');
  if (!fs.existsSync(bin)) throw new Error(`Garage is not installed at ${bin}; ./scripts/test installs it`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-garage-'));
  const [s3Port, rpcPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const region = 'garage';
  const config = path.join(dir, 'garage.toml');
  fs.writeFileSync(config, [
    `metadata_dir = "${dir}/meta"`,
    `data_dir = "${dir}/data"`,
    'db_engine = "sqlite"',
    'replication_factor = 1',
    `rpc_bind_addr = "127.0.0.1:${rpcPort}"`,
    `rpc_public_addr = "127.0.0.1:${rpcPort}"`,
    `rpc_secret = "${createHash('sha256').update(dir).digest('hex')}"`,
    '[s3_api]',
    `s3_region = "${region}"`,
    `api_bind_addr = "127.0.0.1:${s3Port}"`,
    'root_domain = ".s3.garage.localhost"',
    '[admin]',
    `api_bind_addr = "127.0.0.1:${adminPort}"`,
  ].join('\n'));
  const log = fs.openSync(path.join(dir, 'garage.log'), 'a');
  const child = spawn(bin, ['-c', config, 'server'], { stdio: ['ignore', log, log], env: { ...process.env, RUST_LOG: 'warn' } });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const logText = () => fs.readFileSync(path.join(dir, 'garage.log'), 'utf8');
  const garage = (...args) => execFileSync(bin, ['-c', config, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  // The node's id, once its RPC answers.
  const nodeId = await until(() => {
    if (exited) throw new Error(`garage exited (${JSON.stringify(exited)}):\n${logText()}`);
    try { return garage('status').match(/^([0-9a-f]{16})\s/m)?.[1]; } catch { return null; }
  }, `Garage's node id:\n${logText()}`, 30_000);
  garage('layout', 'assign', '-z', 'dc1', '-c', '1G', nodeId);
  garage('layout', 'apply', '--version', '1');
  garage('bucket', 'create', bucket);
  const key = garage('key', 'create', `${bucket}-key`);
  const keyId = key.match(/Key ID:\s*(\S+)/)?.[1];
  const secret = key.match(/Secret key:\s*(\S+)/)?.[1];
  if (!keyId || !secret) throw new Error(`no key in garage's answer:\n${key}`);
  garage('bucket', 'allow', '--read', '--write', bucket, '--key', `${bucket}-key`);
  return {
    endpoint: `http://127.0.0.1:${s3Port}`, region, bucket, keyId, secret, dir, garage, logText,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/**
 * A real OpenSSH sshd registered with `proxy` by scripts/demo-node: host certificate
 * from the Gatehouse host CA, trusting only the Gatehouse user CA.
 */
export async function startNode(proxy, name = 'demo', labels = 'env=demo') {
  const port = await freePort();
  const dir = path.join(proxy.dir, `node-${name}`);
  fs.mkdirSync(dir, { recursive: true });
  const log = fs.openSync(path.join(dir, 'sshd.log'), 'a');
  const child = spawn(path.join(root, 'scripts', 'demo-node'), [gatehouseBin(), proxy.config, dir, String(port), name, labels], {
    stdio: ['ignore', log, log],
  });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const logText = () => fs.readFileSync(path.join(dir, 'sshd.log'), 'utf8');
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) throw new Error(`sshd exited (${JSON.stringify(exited)}):\n${logText()}`);
    if (/Server listening/.test(logText())) break;
    if (Date.now() > deadline) throw new Error(`sshd did not start:\n${logText()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port, dir, name, logText,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/**
 * The demo desktop ./scripts/start runs, by the same script (scripts/demo-desktop): Xvfb,
 * openbox and an xterm served by FreeRDP's shadow server, registered with `proxy` and
 * pinned to the certificate the server made. Resolves once the desktop is pinned.
 */
export async function startDemoDesktop(proxy, name = 'demo-desktop', labels = 'env=demo') {
  const port = await freePort();
  const dir = path.join(proxy.dir, name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const logPath = path.join(proxy.dir, `${name}.log`);
  // A second start appends to the same log: only what this one wrote counts.
  const from = fs.existsSync(logPath) ? fs.statSync(logPath).size : 0;
  const log = fs.openSync(logPath, 'a');
  const child = spawn(path.join(root, 'scripts', 'demo-desktop'), [gatehouseBin(), proxy.config, dir, String(port), name, labels], {
    stdio: ['ignore', log, log],
  });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const logText = () => fs.readFileSync(logPath, 'utf8');
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`scripts/demo-desktop exited (${JSON.stringify(exited)}):\n${logText()}`);
    if (/^Demo desktop .* ready/m.test(fs.readFileSync(logPath).subarray(from).toString())) break;
    if (Date.now() > deadline) throw new Error(`the demo desktop did not start:\n${logText()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port, dir, name, logText,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** SHA-256 of the certificate's public key, as Chromium's SPKI allow-list takes it. */
export function spkiHash(certPemPath) {
  const cert = new X509Certificate(fs.readFileSync(certPemPath));
  const der = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

/**
 * Debian's Chromium, headless, with the flags this machine needs. With `trustProxy`,
 * that proxy's self-signed certificate is treated as valid (as after a person accepts
 * it), so the HTTP cache works as it does for a real deployment.
 */
export async function launchBrowser({ trustProxy } = {}) {
  const trust = trustProxy
    ? [`--ignore-certificate-errors-spki-list=${spkiHash(path.join(trustProxy.dir, 'data', 'tls', 'cert.pem'))}`]
    : [];
  // playwright gives each launch a fresh, empty profile of its own.
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...trust,
    ],
  });
}

/** A browser context that accepts the proxy's self-signed certificate. */
export async function newContext(browser, options = {}) {
  return browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, ...options });
}

export async function screenshot(page, name) {
  fs.mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) { bits -= 8; out.push((value >>> bits) & 0xff); }
  }
  return Buffer.from(out);
}

/** The RFC 6238 code an authenticator app shows for `secret` at `unixSeconds`. */
export function totp(secret, unixSeconds = Date.now() / 1000) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

/**
 * Codes for successive sign-ins of one user: each must be for a newer 30-second step
 * than the last (a code cannot be used twice), so this waits for the next step when needed.
 */
export class Authenticator {
  constructor(secret) { this.secret = secret; this.lastStep = -1; }
  async nextCode() {
    for (;;) {
      const now = Date.now() / 1000;
      const step = Math.floor(now / 30);
      // The proxy accepts one step ahead, so the next step's code is usable at once.
      for (const s of [step, step + 1]) {
        if (s > this.lastStep) { this.lastStep = s; return totp(this.secret, s * 30); }
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/**
 * A real RDP server for tests: FreeRDP's shadow server (NLA, a SAM file with one
 * account) sharing an Xvfb display on which an xterm shows `text`.
 */
export async function startShadowDesktop({ user, password, text = 'gatehouse desktop', port: wanted, scene = false, width = 1024, height = 768, flood = false }) {
  const port = wanted ?? await freePort();
  let display = 40 + Math.floor(Math.random() * 200);
  while (fs.existsSync(`/tmp/.X11-unix/X${display}`)) display += 1;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-rdp-'));
  const sam = execFileSync('winpr-hash', ['-u', user, '-p', password, '-f', 'sam'], { encoding: 'utf8' });
  fs.writeFileSync(path.join(dir, 'SAM'), sam);
  const log = fs.openSync(path.join(dir, 'desktop.log'), 'a');
  // Its own HOME: FreeRDP makes the server's TLS certificate there, one per desktop.
  const env = { ...process.env, DISPLAY: `:${display}`, HOME: dir };
  const children = [];
  const run = (cmd, args) => {
    const child = spawn(cmd, args, { stdio: ['ignore', log, log], env });
    children.push(child);
    return child;
  };
  // -fbdir: the screen is also a file (XWD), which tests read as "what the desktop shows".
  run('Xvfb', [`:${display}`, '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp', '-fbdir', dir]);
  const started = (check, what) => until(check, what).catch((err) => {
    throw new Error(`${err.message}:\n${fs.readFileSync(path.join(dir, 'desktop.log'), 'utf8')}`);
  });
  await started(() => fs.existsSync(`/tmp/.X11-unix/X${display}`), 'Xvfb did not start');
  if (flood) {
    // The whole screen changing all the time: a screen-filling xterm scrolling coloured
    // random text (for benchmarks).
    const cols = Math.floor(width / 6), rows = Math.floor(height / 13);
    run('xterm', ['-geometry', `${cols}x${rows}+0+0`, '-bg', 'black', '-fg', '#d0d0d0', '-e', 'sh', '-c',
      "while :; do head -c 3000 /dev/urandom | base64 -w 0 | sed 's/[A-F]/\\x1b[3&m/g' | tr 'ABCDEF' '123456'; echo; done"]);
  } else {
    run('xterm', ['-geometry', '80x24+20+20', '-e', `echo '${text}'; sleep 100000`]);
  }
  const probe = path.join(dir, 'input.bin');
  if (scene) {
    // A solid colour (an xterm with nothing in it, its cursor the same colour)...
    run('xterm', ['-geometry', '30x12+640+60', '-bg', '#2a9d5c', '-cr', '#2a9d5c', '-e', 'sleep 100000']);
    // ...and an input probe: raw mode (echoing, so typing shows) with mouse reporting; everything it receives
    // (keys, clicks, wheel) appended to a file the test reads.
    run('xterm', ['-geometry', '60x8+20+520', '-bg', '#202020', '-fg', '#f0f0f0', '-e',
      'sh', '-c', `printf '\\033[?1000h'; stty raw; exec cat > '${probe}'`]);
  }
  run('freerdp-shadow-cli', ['/bind-address:127.0.0.1', `/port:${port}`, `/sam-file:${path.join(dir, 'SAM')}`, '+auth', '/sec:nla']);
  const listening = () => new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
  await started(listening, 'the RDP server did not start');
  return {
    port, display, dir, probe,
    /** What the probe xterm received so far. */
    received() { return fs.existsSync(probe) ? fs.readFileSync(probe) : Buffer.alloc(0); },
    /** The screen as the X server has it: { width, height, rgba }. */
    screen() { return readXwd(fs.readFileSync(path.join(dir, 'Xvfb_screen0'))); },
    ...xClipboard(env),
    /** Changes the account's password on the server (the SAM file is read per sign-in). */
    setPassword(newPassword) {
      fs.writeFileSync(path.join(dir, 'SAM'), execFileSync('winpr-hash', ['-u', user, '-p', newPassword, '-f', 'sam'], { encoding: 'utf8' }));
    },
    async stop() {
      for (const child of children.reverse()) {
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          await new Promise((r) => child.once('exit', r));
        }
      }
    },
  };
}

/** The X clipboard of the display in `env` (by xclip), read and written as an application there would. */
function xClipboard(env) {
  return {
    /** The clipboard's text, or '' if nothing is there. */
    clipboard() {
      const out = spawnSync('xclip', ['-o', '-selection', 'clipboard'], { env, encoding: 'utf8', timeout: 5000 });
      return out.status === 0 ? out.stdout : '';
    },
    /** Copies `text` (xclip keeps serving it until the X server goes). */
    setClipboard(text) {
      const child = spawn('xclip', ['-i', '-selection', 'clipboard'], { env, stdio: ['pipe', 'ignore', 'ignore'], detached: true });
      child.stdin.end(text);
      child.unref();
    },
  };
}

/**
 * Debian's xrdp with xorgxrdp on a loopback port, TLS only, for an ordinary local user
 * made for the test (removed by `stop`). xrdp starts the user's session on its own Xorg
 * (display `display`) the first time the user signs in; the session runs `startwm.sh`:
 * an xterm that writes what is typed into it to `typed.txt` (in UTF-8, with the X
 * compose rules for dead keys), and a solid-colour window.
 */
export async function startXrdpDesktop({ password }) {
  const port = await freePort();
  const user = `ghxr${Math.floor(Math.random() * 1e6)}`;
  let display = 60 + Math.floor(Math.random() * 100);
  while (fs.existsSync(`/tmp/.X11-unix/X${display}`)) display += 1;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-xrdp-'));
  execFileSync('useradd', ['-m', '-s', '/bin/sh', user]);
  execFileSync('chpasswd', { input: `${user}:${password}
` });
  const home = `/home/${user}`;
  fs.writeFileSync(path.join(home, 'startwm.sh'), `#!/bin/sh
export LANG=C.UTF-8
xterm -geometry 60x8+20+20 -bg '#202020' -fg '#f0f0f0' -e sh -c 'echo typing goes here; exec cat > $HOME/typed.txt' &
exec xterm -geometry 30x10+640+60 -bg '#2a9d5c' -cr '#2a9d5c' -e sleep 100000
`, { mode: 0o755 });
  execFileSync('chown', [`${user}:${user}`, path.join(home, 'startwm.sh')]);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'),
    '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const ini = (file, edits) => {
    let text = fs.readFileSync(`/etc/xrdp/${file}`, 'utf8');
    for (const [from, to] of edits) text = text.replace(from, to);
    fs.writeFileSync(path.join(dir, file), text);
  };
  ini('xrdp.ini', [
    [/^port=3389$/m, `port=tcp://127.0.0.1:${port}`], [/^security_layer=.*$/m, 'security_layer=tls'],
    [/^certificate=.*$/m, `certificate=${dir}/cert.pem`], [/^key_file=.*$/m, `key_file=${dir}/key.pem`],
    [/^LogFile=.*$/m, `LogFile=${dir}/xrdp.log`], [/^EnableSyslog=.*$/m, 'EnableSyslog=false'],
  ]);
  ini('sesman.ini', [
    [/^X11DisplayOffset=.*$/m, `X11DisplayOffset=${display}`], [/^LogFile=.*$/m, `LogFile=${dir}/sesman.log`],
    [/^EnableSyslog=.*$/m, 'EnableSyslog=false'],
  ]);
  const log = fs.openSync(path.join(dir, 'out.log'), 'a');
  const children = [
    spawn('xrdp-sesman', ['-n', '-c', path.join(dir, 'sesman.ini')], { stdio: ['ignore', log, log] }),
    spawn('xrdp', ['-n', '-c', path.join(dir, 'xrdp.ini')], { stdio: ['ignore', log, log] }),
  ];
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`xrdp did not start:\n${fs.readFileSync(path.join(dir, 'out.log'), 'utf8')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port, user, display, dir,
    typed() { const f = path.join(home, 'typed.txt'); return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : ''; },
    ...xClipboard({ ...process.env, DISPLAY: `:${display}`, XAUTHORITY: `${home}/.Xauthority` }),
    /** The X screen's size, as `xdpyinfo` reads it from the session's X server. */
    dimensions() {
      const out = execFileSync('xdpyinfo', ['-display', `:${display}`], { env: { ...process.env, XAUTHORITY: `${home}/.Xauthority` }, encoding: 'utf8' });
      const m = out.match(/dimensions:\s+(\d+)x(\d+) pixels/);
      return m && [Number(m[1]), Number(m[2])];
    },
    /** The session's screen, from its own X server. */
    screen() {
      const xwd = execFileSync('xwd', ['-root', '-silent', '-display', `:${display}`], { env: { ...process.env, XAUTHORITY: `${home}/.Xauthority` }, maxBuffer: 64 << 20 });
      return readXwd(xwd);
    },
    async stop() {
      for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      spawnSync('pkill', ['-KILL', '-u', user]);
      await new Promise((r) => setTimeout(r, 300));
      spawnSync('userdel', ['-r', '-f', user], { stdio: 'ignore' });
    },
  };
}

/**
 * After a click that changes factors: if the account page asks to confirm a factor
 * first, answers with the next TOTP code of `session.authenticator` (the page then
 * retries by itself). `done` is a locator that appears once the change went through.
 */
export async function confirmIfAsked(page, session, done, { timeout = 15_000, shot } = {}) {
  const asked = page.getByTestId('confirm-factor');
  await Promise.race([asked.waitFor({ timeout }), done.waitFor({ timeout })]);
  if (await asked.isVisible()) {
    if (shot) await screenshot(page, shot);
    await page.getByTestId('confirm-code').fill(await session.authenticator.nextCode());
    await page.getByTestId('confirm-code-submit').click();
    await done.waitFor({ timeout });
    return true;
  }
  return false;
}

/** Polls `check` until it returns something truthy (which it returns), for up to `ms`. */
export async function until(check, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An XWD image (what Xvfb's -fbdir keeps) as RGBA. */
export function readXwd(buf) {
  const field = (i) => buf.readUInt32BE(i * 4);
  const headerSize = field(0);
  const [width, height] = [field(4), field(5)];
  const byteOrder = field(7);
  const bitsPerPixel = field(11);
  const bytesPerLine = field(12);
  const masks = [field(14), field(15), field(16)];
  const ncolors = field(19);
  if (bitsPerPixel !== 32) throw new Error(`XWD with ${bitsPerPixel} bits per pixel`);
  const start = headerSize + ncolors * 12;
  const shift = (mask) => { let s = 0; while (mask && !(mask & 1)) { mask >>>= 1; s += 1; } return s; };
  const shifts = masks.map(shift);
  const rgba = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = start + y * bytesPerLine + x * 4;
      const pixel = byteOrder === 0 ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
      const o = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) rgba[o + c] = (pixel & masks[c]) >>> shifts[c];
      rgba[o + 3] = 255;
    }
  }
  return { width, height, rgba };
}

/** A PNG (8-bit RGB or RGBA, as screenshots are) as RGBA. */
export function readPng(buf) {
  let at = 8;
  let width, height, colorType;
  const idat = [];
  while (at < buf.length) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') { width = data.readUInt32BE(0); height = data.readUInt32BE(4); colorType = data[9]; if (data[8] !== 8) throw new Error('PNG depth'); }
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  if (!channels) throw new Error(`PNG colour type ${colorType}`);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[y * stride + i - channels] : 0;
      const b = y > 0 ? out[(y - 1) * stride + i] : 0;
      const c = y > 0 && i >= channels ? out[(y - 1) * stride + i - channels] : 0;
      let v = line[i];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) { const p = a + b - c; const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c); v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c; }
      out[y * stride + i] = v & 0xff;
    }
  }
  if (channels === 4) return { width, height, rgba: out };
  const rgba = Buffer.alloc(width * height * 4);
  for (let p = 0; p < width * height; p++) { out.copy(rgba, p * 4, p * 3, p * 3 + 3); rgba[p * 4 + 3] = 255; }
  return { width, height, rgba };
}

/** How two RGBA images of one size differ: mean absolute difference per channel, and
 * the share of pixels where some channel differs by more than `tolerance`. */
export function compareImages(a, b, tolerance = 24) {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  let sum = 0, off = 0;
  for (let p = 0; p < a.width * a.height; p++) {
    let worst = 0;
    for (let c = 0; c < 3; c++) { const d = Math.abs(a.rgba[p * 4 + c] - b.rgba[p * 4 + c]); sum += d; worst = Math.max(worst, d); }
    if (worst > tolerance) off += 1;
  }
  return { mean: sum / (a.width * a.height * 3), offShare: off / (a.width * a.height) };
}

/** A browser context holding the session cookie `cookie` (name=value), as the browser
 * that signed in would. */
export async function contextWithSession(browser, proxy, cookie, options = {}) {
  const context = await newContext(browser, options);
  const [name, value] = cookie.split('=');
  await context.addCookies([{ name, value, url: proxy.url, httpOnly: true, secure: true, sameSite: 'Strict' }]);
  return context;
}

/**
 * A new user with `roles`, signed in, in a fresh browser context. Uncaught errors and
 * console errors from the app are pushed to `errors` (tests fail on any).
 */
export async function signedInPage(proxy, browser, name, roles, errors, options = {}) {
  const session = await proxy.enrolAndSignIn(name, roles);
  const context = await contextWithSession(browser, proxy, session.cookie, options);
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text().slice(0, 600)); });
  return { context, page, session };
}

/**
 * Several proxies, one cluster, as README's "Running several proxies" sets it up: a
 * database of their own on the test command's PostgreSQL (GATEHOUSE_TEST_POSTGRES), one
 * set of keys made by `gatehouse keys init` and read by every proxy, one TLS
 * certificate, and Debian's HAProxy in front (HTTP mode: each request and each
 * WebSocket may land on either proxy; `leastconn`, so concurrent sessions spread).
 * Returns { url, lb, proxies: [a, b], request, …proxy helpers of the first proxy }.
 */
export async function startCluster(extraConfig = '', { count = 2, migrateFrom } = {}) {
  const server = process.env.GATEHOUSE_TEST_POSTGRES;
  if (!server) throw new Error('GATEHOUSE_TEST_POSTGRES must name a PostgreSQL server; ./scripts/test starts one');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cluster-'));
  const garage = await startGarage({ bucket: 'cluster-recordings' });
  fs.writeFileSync(path.join(dir, 's3-secret'), `${garage.secret}\n`, { mode: 0o600 });
  const database = `e2e_${path.basename(dir).replace(/[^a-z0-9]/gi, '').toLowerCase()}`;
  execFileSync('psql', [server, '-q', '-c', `CREATE DATABASE ${database}`]);
  const url = new URL(server);
  url.pathname = `/${database}`;
  const lbPort = await freePort();
  const publicUrl = `https://localhost:${lbPort}`;
  // One certificate for the address people use, which every proxy and HAProxy serve.
  const cert = path.join(dir, 'tls.pem');
  const key = path.join(dir, 'tls.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    // A server's certificate, not a CA's (openssl's default): rustls refuses a CA as a server.
    '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  fs.writeFileSync(path.join(dir, 'haproxy.pem'), fs.readFileSync(cert, 'utf8') + fs.readFileSync(key, 'utf8'));
  const examples = path.join(root, 'examples', 'cluster');
  const fill = (template, values) => template.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name) => {
    if (!(name in values)) throw new Error(`no value for \${${name}} in ${template.slice(0, 40)}…`);
    return values[name];
  });
  const proxyTemplate = fs.readFileSync(path.join(examples, 'gatehouse.toml'), 'utf8');
  const common = {
    PUBLIC_URL: publicUrl, WEB_ROOT, KEYS_DIR: path.join(dir, 'keys'),
    TLS_CERT: cert, TLS_KEY: key, DATABASE_URL: String(url),
    // HAProxy reaches the proxies from an address of its own, which they trust.
    LB_SOURCE: '127.0.0.2',
    RECORDINGS_STORE: `s3://${garage.bucket}/recordings`, S3_ENDPOINT: garage.endpoint, S3_REGION: garage.region,
    S3_KEY_ID: garage.keyId, S3_SECRET_FILE: path.join(dir, 's3-secret'), S3_ALLOW_HTTP: 'true',
  };
  // Roles and other tables come after the template (it ends in [database]).
  const proxyConfig = (values) => `${fill(proxyTemplate, { ...common, ...values })}\n${extraConfig}`;
  // The keys, once, before any proxy starts (a proxy of a cluster never makes its own):
  // new ones, or with `migrateFrom` (an old single proxy's data directory) its keys,
  // database and recordings, by `gatehouse migrate` (into proxy a's data directory).
  const first = path.join(dir, 'keys.toml');
  fs.writeFileSync(first, proxyConfig({
    LISTEN: '127.0.0.1:1', DATA_DIR: path.join(dir, 'proxy-a', 'data'), METRICS_LISTEN: '127.0.0.1:1', SPOOL: path.join(dir, 'init-spool'),
  }));
  let migrated = null;
  if (migrateFrom) {
    migrated = execFileSync(gatehouseBin(), ['--config', first, 'migrate', '--from', migrateFrom], { encoding: 'utf8' });
    migrated += execFileSync(gatehouseBin(), ['--config', first, 'migrate', '--from', migrateFrom], { encoding: 'utf8' });
  } else {
    execFileSync(gatehouseBin(), ['--config', first, 'keys', 'init'], { stdio: 'ignore' });
  }
  const proxies = [];
  for (let i = 0; i < count; i++) {
    const metricsPort = await freePort();
    const proxy = await startProxy('', {
      publicUrl,
      tlsCert: cert,
      dir: path.join(dir, `proxy-${'abcdefgh'[i]}`),
      configFor: (port, own) => proxyConfig({
        LISTEN: `127.0.0.1:${port}`, DATA_DIR: path.join(own, 'data'), METRICS_LISTEN: `127.0.0.1:${metricsPort}`, SPOOL: path.join(own, 'spool'),
      }),
    });
    proxy.metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    proxies.push(proxy);
  }
  if (count !== 2) throw new Error('examples/cluster/haproxy.cfg names two proxies');
  const haproxyConfig = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(haproxyConfig, fill(fs.readFileSync(path.join(examples, 'haproxy.cfg'), 'utf8'), {
    BIND: `127.0.0.1:${lbPort}`, TLS_PEM: path.join(dir, 'haproxy.pem'), TLS_CA: cert, LB_SOURCE: common.LB_SOURCE,
    PROXY_A: `127.0.0.1:${proxies[0].port}`, PROXY_B: `127.0.0.1:${proxies[1].port}`,
  }));
  const log = fs.openSync(path.join(dir, 'haproxy.log'), 'a');
  const lb = spawn('haproxy', ['-f', haproxyConfig, '-db'], { stdio: ['ignore', log, log] });
  let lbExited = null;
  lb.on('exit', (code, signal) => { lbExited = { code, signal }; });
  const cluster = {
    ...proxies[0],
    url: publicUrl, port: lbPort, dir, proxies, database, migrated, garage, lbPid: lb.pid, lbLog: () => fs.readFileSync(path.join(dir, 'haproxy.log'), 'utf8'),
    async stop() {
      if (!lbExited) { lb.kill('SIGTERM'); await new Promise((r) => lb.once('exit', r)); }
      for (const p of proxies) await p.stop();
      await garage.stop();
    },
  };
  // Requests through the load balancer, trusting the cluster's certificate.
  cluster.request = (method, pathname, { headers = {}, body, localAddress, port = lbPort } = {}) => new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', servername: 'localhost', port, path: pathname, method, headers, ca: fs.readFileSync(cert), agent: false, localAddress }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (lbExited) throw new Error(`haproxy exited (${JSON.stringify(lbExited)}):\n${cluster.lbLog()}`);
    try {
      if ((await cluster.request('GET', '/readyz')).status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`haproxy did not pass requests on:\n${cluster.lbLog()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return cluster;
}
