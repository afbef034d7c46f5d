#!/usr/bin/env node
// A WebSocket ⇄ stdin/stdout bridge, for `ssh -o ProxyCommand=…`: the real OpenSSH
// client speaks through the proxy's SSH WebSocket exactly as the browser's SSH will.
//   node ws-stdio.mjs URL COOKIE CA_PEM ORIGIN
// A refusal (close code 4000+) is printed to stderr as "closed CODE: reason", exit 1.
// With WS_CLOSE_LOG set, every close is appended to that file as a JSON line
// { code, reason, at } (at: Date.now()), so a test can time it.

import fs from 'node:fs';
import WebSocket from 'ws';

const [url, cookie, caPath, origin] = process.argv.slice(2);
const ws = new WebSocket(url, {
  headers: { cookie, origin },
  ca: fs.readFileSync(caPath),
  perMessageDeflate: false,
});
ws.binaryType = 'nodebuffer';
ws.on('open', () => {
  process.stdin.on('data', (chunk) => ws.send(chunk));
  process.stdin.on('end', () => ws.close(1000));
});
ws.on('message', (data) => process.stdout.write(data));
ws.on('unexpected-response', (_req, res) => {
  process.stderr.write(`refused with HTTP ${res.statusCode}\n`);
  process.exit(1);
});
ws.on('close', (code, reason) => {
  if (process.env.WS_CLOSE_LOG) {
    fs.appendFileSync(process.env.WS_CLOSE_LOG, `${JSON.stringify({ code, reason: String(reason), at: Date.now() })}\n`);
  }
  if (code >= 4000) process.stderr.write(`closed ${code}: ${reason}\n`);
  process.exit(code >= 4000 ? 1 : 0);
});
ws.on('error', (err) => {
  process.stderr.write(`websocket error: ${err.message}\n`);
  process.exit(1);
});
