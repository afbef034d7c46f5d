// A small web app to put behind Gatehouse: it trusts nobody's word for who is calling
// but the `Gatehouse-Jwt-Assertion` header, which it verifies with npm's `jose` (an
// independent JOSE implementation) against Gatehouse's published keys. Used by the
// end-to-end tests and, as the demo app, by ./scripts/start.
//
//   node whoami.mjs --port 3081 --gatehouse https://localhost:3080 --audience http://127.0.0.1:3081 [--ca cert.pem]
//
// Pages: `/` (the verified identity, and a WebSocket that echoes), `/whoami.json` (what
// it received and what verifying it said), `/echo` (POST: the body's length and SHA-256,
// read as a stream), `/bytes?mb=N` (N MiB streamed), `/redirect` (to its own internal
// address), `/slow?ms=N`, `/ws` (WebSocket: greets the verified user, then echoes).

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRemoteJWKSet, customFetch, jwtVerify } from 'jose';
import { WebSocketServer } from 'ws';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const port = Number(args.port ?? 3081);
const gatehouse = (args.gatehouse ?? 'https://localhost:3080').replace(/\/$/, '');
const audience = args.audience ?? `http://127.0.0.1:${port}`;
// Read when the keys are fetched: on a first start the proxy makes its certificate after this starts.
const ca = () => (args.ca && fs.existsSync(args.ca) ? fs.readFileSync(args.ca) : undefined);

/** fetch for jose that trusts Gatehouse's (possibly self-signed) certificate. */
function fetchTrusting(url, options) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: options.method ?? 'GET', headers: options.headers, ca: ca(), signal: options.signal }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers: res.headers })));
    });
    req.on('error', reject);
    req.end();
  });
}

// jose caches the key set (here for 10 s, shorter than Gatehouse publishes a new key
// before it signs with it) and otherwise keeps its defaults.
const keys = createRemoteJWKSet(new URL(`${gatehouse}/.well-known/jwks.json`), {
  [customFetch]: fetchTrusting, cacheMaxAge: 10_000,
});

async function verify(headers) {
  const token = headers['gatehouse-jwt-assertion'];
  if (!token) return { verified: false, error: 'no Gatehouse-Jwt-Assertion header' };
  try {
    const { payload, protectedHeader } = await jwtVerify(token, keys, { issuer: gatehouse, audience, algorithms: ['EdDSA'] });
    return { verified: true, claims: payload, kid: protectedHeader.kid, token };
  } catch (err) {
    return { verified: false, error: `${err.code ?? err.name}: ${err.message}`, token };
  }
}

const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function page(identity, req) {
  const who = identity.verified
    ? `<h1 data-testid="who">Hello, ${escape(identity.claims.username)}</h1>
       <p>Gatehouse vouches for you: the assertion's signature checked out against its published key <code>${escape(identity.kid)}</code>.</p>
       <dl><dt>Roles</dt><dd data-testid="roles">${escape(identity.claims.roles.join(', '))}</dd>
       <dt>Logins</dt><dd>${escape((identity.claims.traits?.logins ?? []).join(', '))}</dd>
       <dt>Valid until</dt><dd>${new Date(identity.claims.exp * 1000).toISOString()}</dd></dl>`
    : `<h1 data-testid="who">Not verified</h1><p data-testid="why">${escape(identity.error)}</p>`;
  return `<!doctype html><html lang=en><head><meta charset=utf-8><title>whoami</title>
<style>body{font:16px system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#17202e}
code,pre{background:#eef1f6;padding:.1rem .3rem;border-radius:4px}pre{padding:.75rem;overflow:auto}dt{font-weight:600}
.badge{display:inline-block;background:#e3f5e8;color:#165c2b;border-radius:999px;padding:.1rem .6rem;font-size:.85rem}</style></head>
<body><span class="badge">whoami, a demo app behind Gatehouse</span>${who}
<h2>WebSocket</h2><p>Inside the app, through the proxy: <span data-testid="ws">connecting…</span></p>
<h2>What the app received</h2><pre data-testid="claims">${escape(JSON.stringify(identity.claims ?? {}, null, 2))}</pre>
<p>Cookies the app saw: <code data-testid="cookies">${escape(req.headers.cookie ?? '(none)')}</code></p>
<script>
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
const out = document.querySelector('[data-testid=ws]');
ws.onmessage = (e) => { if (e.data.startsWith('hello')) { ws.send('ping ' + Date.now()); out.textContent = e.data; } else { out.textContent += ' · echo: ' + e.data.split(' ')[0]; } };
ws.onclose = (e) => { out.textContent += ' · closed'; document.body.dataset.wsClosed = '1'; };
</script></body></html>`;
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const identity = await verify(req.headers);
  if (url.pathname === '/whoami.json') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...identity, headers: req.headers }));
  } else if (url.pathname === '/echo' && req.method === 'POST') {
    const hash = crypto.createHash('sha256');
    let length = 0;
    req.on('data', (chunk) => { hash.update(chunk); length += chunk.length; });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ length, sha256: hash.digest('hex'), user: identity.claims?.username ?? null }));
    });
  } else if (url.pathname === '/bytes') {
    const mb = Math.min(Number(url.searchParams.get('mb') ?? 1), 1024);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(1 << 20, 0x61);
    let sent = 0;
    const more = () => {
      while (sent < mb) {
        sent += 1;
        if (!res.write(chunk)) return res.once('drain', more);
      }
      res.end();
    };
    more();
  } else if (url.pathname === '/redirect') {
    res.writeHead(302, { location: `${audience}/whoami.json?from=redirect` });
    res.end();
  } else if (url.pathname === '/slow') {
    setTimeout(() => { res.writeHead(200); res.end('slow'); }, Number(url.searchParams.get('ms') ?? 5000));
  } else if (!identity.verified) {
    res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page(identity, req));
  } else {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'set-cookie': 'whoami_theme=light; Path=/; HttpOnly' });
    res.end(page(identity, req));
  }
});

const sockets = new WebSocketServer({ noServer: true });
server.on('upgrade', async (req, socket, head) => {
  const identity = await verify(req.headers);
  if (!identity.verified || new URL(req.url, 'http://x').pathname !== '/ws') {
    socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
    return;
  }
  sockets.handleUpgrade(req, socket, head, (ws) => {
    ws.send(`hello ${identity.claims.username}`);
    ws.on('message', (data) => ws.send(String(data)));
  });
});

server.listen(port, '127.0.0.1', () => console.log(`whoami listening on http://127.0.0.1:${port}, trusting ${gatehouse}`));
