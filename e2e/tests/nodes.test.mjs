// Nodes and roles: an admin registers OpenSSH nodes, Gatehouse signs their host
// certificates (checked by OpenSSH's own ssh-keygen), and each person sees exactly the
// nodes their roles reach, with the logins they may use.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, screenshot, startProxy, contextWithSession } from '../lib/harness.mjs';

const CONFIG = `
[[nodes]]
name = "web-dev"
addr = "127.0.0.1:2201"
labels = { env = "dev", team = "web" }

[[nodes]]
name = "db-prod"
addr = "127.0.0.1:2202"
labels = { env = "prod", team = "data" }

[roles.dev]
node_labels = { env = "dev" }
logins = ["dev"]

[roles.data-oncall]
node_labels = { team = "data" }
logins = ["postgres", "dev"]
ssh_mode = "direct"
`;

let proxy;
let browser;

before(async () => {
  proxy = await startProxy(CONFIG);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
});

function nodesOf(res) {
  assert.equal(res.status, 200, res.text);
  return Object.fromEntries(res.json.nodes.map((n) => [n.name, n]));
}

describe('nodes and roles', () => {
  test('nodes add signs a host certificate that OpenSSH accepts as ours', () => {
    const keyDir = fs.mkdtempSync(path.join(proxy.dir, 'hostkey-'));
    const key = path.join(keyDir, 'ssh_host_ed25519_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);

    const out = proxy.cli('nodes', 'add', 'build-1', '--addr', '127.0.0.1:2203', '--labels', 'env=dev,team=ci',
      '--host-key', `${key}.pub`);
    assert.match(out, /Node build-1 registered at 127\.0\.0\.1:2203/);
    assert.match(out, /TrustedUserCAKeys \/etc\/ssh\/gatehouse_user_ca\.pub/);
    assert.match(out, /HostCertificate /);
    const userCa = fs.readFileSync(path.join(proxy.dir, 'data', 'ca', 'user_ca.pub'), 'utf8').trim();
    assert.ok(out.includes(userCa), 'the user CA line to install is printed');

    const listing = execFileSync('ssh-keygen', ['-L', '-f', `${key}-cert.pub`], { encoding: 'utf8' });
    assert.match(listing, /Type: ssh-ed25519-cert-v01@openssh.com host certificate/);
    assert.match(listing, /Principals:\s+build-1\s+127\.0\.0\.1/);
    const hostCaFingerprint = execFileSync('ssh-keygen', ['-l', '-f', path.join(proxy.dir, 'data', 'ca', 'host_ca.pub')], {
      encoding: 'utf8',
    }).split(' ')[1];
    assert.match(listing, new RegExp(`Signing CA: ED25519 ${hostCaFingerprint.replace(/[+/]/g, '\\$&')}`));
    assert.match(proxy.logText(), new RegExp(`Host CA fingerprint \\(browsers pin it\\): ${hostCaFingerprint.replace(/[+/]/g, '\\$&')}`));

    const list = proxy.cli('nodes', 'list');
    assert.match(list, /build-1\s+127\.0\.0\.1:2203\s+env=dev,team=ci/);
    assert.match(list, /web-dev/);
  });

  test('bad node input is refused with the reason', () => {
    for (const [args, reason] of [
      [['nodes', 'add', 'Bad Name', '--addr', 'h:22'], /node name/],
      [['nodes', 'add', 'ok-name', '--addr', 'nohost'], /HOST:PORT/],
      [['nodes', 'add', 'ok-name', '--addr', 'h:22', '--labels', 'env'], /key=value/],
      [['nodes', 'add', 'web-dev', '--addr', 'h:22'], /defined in the config file/],
    ]) {
      let stderr = '';
      try {
        proxy.cli(...args);
      } catch (err) {
        stderr = String(err.stderr);
      }
      assert.match(stderr, reason, `gatehouse ${args.join(' ')}`);
    }
  });

  test('each person sees the nodes their roles reach, with their logins', async () => {
    const dev = await proxy.enrolAndSignIn('erin', ['dev']);
    const devNodes = nodesOf(await proxy.request('GET', '/api/v1/resources', { headers: { cookie: dev.cookie } }));
    assert.deepEqual(Object.keys(devNodes).sort(), ['build-1', 'web-dev']);
    assert.deepEqual(devNodes['web-dev'].logins, ['dev']);
    assert.equal(devNodes['web-dev'].recorded, true);

    const oncall = await proxy.enrolAndSignIn('frank', ['dev', 'data-oncall']);
    const oncallNodes = nodesOf(await proxy.request('GET', '/api/v1/resources', { headers: { cookie: oncall.cookie } }));
    assert.deepEqual(Object.keys(oncallNodes).sort(), ['build-1', 'db-prod', 'web-dev']);
    assert.deepEqual(oncallNodes['db-prod'].logins, ['dev', 'postgres']);
    assert.equal(oncallNodes['db-prod'].recorded, false, 'direct mode is not recorded');

    const nobody = await proxy.enrolAndSignIn('gina', ['undefined-role']);
    const none = nodesOf(await proxy.request('GET', '/api/v1/resources', { headers: { cookie: nobody.cookie } }));
    assert.deepEqual(none, {});

    // The same list in the browser, with the filter.
    const context = await contextWithSession(browser, proxy, oncall.cookie);
    const page = await context.newPage();
    await page.goto(`${proxy.url}/`);
    await page.getByTestId('nodes').waitFor();
    const shown = await page.getByTestId('node').evaluateAll((els) => els.map((e) => e.dataset.node));
    assert.deepEqual(shown, ['build-1', 'db-prod', 'web-dev']);
    assert.match(await page.locator('[data-node="db-prod"]').textContent(), /Not recorded/);
    await screenshot(page, '09-resources-nodes');
    await page.setViewportSize({ width: 390, height: 760 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `nothing sticks out sideways on a phone (${overflow}px)`);
    await screenshot(page, '10-resources-phone');
    await page.getByTestId('filter').fill('team=ci');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="node"]').length === 1);
    assert.equal(await page.getByTestId('node').getAttribute('data-node'), 'build-1');
    await context.close();
  });
});
