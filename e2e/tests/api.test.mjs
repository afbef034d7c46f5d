// Bad input against the real proxy: each gets the right status and a clear message,
// and the proxy keeps serving. Also the headers every response must carry.

import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { startProxy } from '../lib/harness.mjs';

const COOKIE = '__Host-gatehouse_session';
const JSON_HEADERS = { 'content-type': 'application/json', 'x-csrf-token': 'pre-session' };

let proxy;
let session; // { cookie, csrf }

async function enrolAndSignIn(name) {
  const { setCookie, cookie, csrf } = await proxy.enrolAndSignIn(name);
  assert.match(setCookie, /; Secure/);
  assert.match(setCookie, /; HttpOnly/);
  assert.match(setCookie, /; SameSite=Strict/);
  assert.match(setCookie, /Max-Age=43200/, 'the session lasts 12 hours at most');
  return { cookie, csrf };
}

async function assertStillServing() {
  const health = await proxy.request('GET', '/api/v1/health');
  assert.equal(health.status, 200);
  assert.equal(proxy.exited, null, 'the proxy is still running');
}

function assertError(res, status, code) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.headers['cache-control'], 'no-store', 'errors are not cached either');
  assert.equal(res.json?.code, code, res.text);
  assert.ok(res.json.message.length > 10, 'the message says something');
}

before(async () => {
  proxy = await startProxy();
  session = await enrolAndSignIn('dave');
});

after(async () => { await proxy?.stop(); });

describe('bad input', () => {
  test('malformed JSON is a 400 that says what is wrong', async () => {
    const res = await proxy.request('POST', '/api/v1/session', { headers: JSON_HEADERS, body: '{"username": "x",' });
    assertError(res, 400, 'bad_json');
    await assertStillServing();
  });

  test('JSON of the wrong shape is a 400', async () => {
    const res = await proxy.request('POST', '/api/v1/session', { headers: JSON_HEADERS, body: '{"user": 1}' });
    assertError(res, 400, 'bad_json');
    assert.match(res.json.message, /missing field|username/);
    await assertStillServing();
  });

  test('a body that is not JSON at all is a 415', async () => {
    const res = await proxy.request('POST', '/api/v1/session', {
      headers: { 'x-csrf-token': 'x', 'content-type': 'text/plain' }, body: 'hello',
    });
    assertError(res, 415, 'bad_content_type');
    await assertStillServing();
  });

  test('an oversized body is a 413 and is not read', async () => {
    // The proxy refuses on Content-Length, before the body is sent: the client asks
    // first with Expect: 100-continue and never gets the go-ahead.
    const body = JSON.stringify({ username: 'x'.repeat(1_000_000), password: 'p', totp_code: '1' });
    const res = await proxy.request('POST', '/api/v1/session', {
      headers: { ...JSON_HEADERS, expect: '100-continue', 'content-length': Buffer.byteLength(body) },
      body,
    });
    assertError(res, 413, 'too_large');
    await assertStillServing();
  });

  test('an unknown API route is a JSON 404 that names it', async () => {
    const res = await proxy.request('GET', '/api/v1/no/such/thing');
    assertError(res, 404, 'not_found');
    assert.match(res.json.message, /GET \/api\/v1\/no\/such\/thing/);
    const wrongMethod = await proxy.request('PUT', '/api/v1/resources', { headers: { 'x-csrf-token': session.csrf, cookie: session.cookie } });
    assertError(wrongMethod, 405, 'method_not_allowed');
    await assertStillServing();
  });

  test('a missing session cookie is a 401', async () => {
    assertError(await proxy.request('GET', '/api/v1/resources'), 401, 'not_signed_in');
  });

  test('a forged session cookie is a 401 and is audited', async () => {
    const forged = `${COOKIE}=${'A'.repeat(43)}`;
    assertError(await proxy.request('GET', '/api/v1/resources', { headers: { cookie: forged } }), 401, 'not_signed_in');
    const garbage = `${COOKIE}=../../etc/passwd`;
    assertError(await proxy.request('GET', '/api/v1/session', { headers: { cookie: garbage } }), 401, 'not_signed_in');
    await assertStillServing();
  });

  test('the real cookie works, so the 401s above are about the cookie', async () => {
    const res = await proxy.request('GET', '/api/v1/resources', { headers: { cookie: session.cookie } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { nodes: [], desktops: [], apps: [] });
  });

  test('a state-changing call without the CSRF header is a 403', async () => {
    const res = await proxy.request('POST', '/api/v1/session', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'dave', password: 'x', totp_code: '000000' }),
    });
    assertError(res, 403, 'csrf');
  });

  test('sign-out with a wrong CSRF token is refused and the session survives', async () => {
    const wrong = await proxy.request('DELETE', '/api/v1/session', { headers: { cookie: session.cookie, 'x-csrf-token': 'guess' } });
    assertError(wrong, 403, 'csrf');
    const still = await proxy.request('GET', '/api/v1/session', { headers: { cookie: session.cookie } });
    assert.equal(still.status, 200);
    assert.equal(still.json.username, 'dave');
  });

  test('a cross-site request is refused even with a CSRF header', async () => {
    const res = await proxy.request('DELETE', '/api/v1/session', {
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'sec-fetch-site': 'cross-site' },
    });
    assertError(res, 403, 'csrf');
  });
});

describe('what every response carries', () => {
  test('the app is served with a strict CSP and security headers', async () => {
    const res = await proxy.request('GET', '/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html/);
    const csp = res.headers['content-security-policy'];
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
    assert.match(csp, /connect-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.match(res.headers['strict-transport-security'], /max-age=\d+/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['cache-control'], 'no-cache');
  });

  test('app routes get index.html; built files get their type, brotli or gzip, and long caching', async () => {
    const invite = await proxy.request('GET', '/invite');
    assert.equal(invite.status, 200);
    assert.match(invite.text, /<html/);
    const wasmPath = invite.text.match(/\/gatehouse-web-[0-9a-f]+_bg\.wasm/)?.[0];
    assert.ok(wasmPath, 'index.html names the wasm file');
    const wasm = await proxy.request('GET', wasmPath, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers['content-type'], 'application/wasm');
    assert.equal(wasm.headers['content-encoding'], 'gzip');
    assert.match(wasm.headers['cache-control'], /immutable/);
    // A browser that takes brotli gets the build's .br (smaller), the same bytes inside.
    const br = await proxy.request('GET', wasmPath, { headers: { 'accept-encoding': 'gzip, deflate, br, zstd' } });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.ok(br.bytes.length < wasm.bytes.length, `brotli ${br.bytes.length} B against gzip ${wasm.bytes.length} B`);
    assert.ok(zlib.brotliDecompressSync(br.bytes).equals(zlib.gunzipSync(wasm.bytes)));
    const refused = await proxy.request('GET', wasmPath, { headers: { 'accept-encoding': 'gzip, br;q=0' } });
    assert.equal(refused.headers['content-encoding'], 'gzip');
    const missing = await proxy.request('GET', '/missing.js');
    assert.equal(missing.status, 404);
  });

  test('API answers are never cached', async () => {
    const res = await proxy.request('GET', '/api/v1/session', { headers: { cookie: session.cookie } });
    assert.equal(res.headers['cache-control'], 'no-store');
  });
});
