// Gatehouse's download worker: the page streams a file's bytes to it over a
// MessagePort, chunk by chunk as asked, and it answers a hidden frame's navigation to
// /__gatehouse/download/ID with a streamed attachment, so the browser saves the file to
// disk without the page ever holding all of it.
const pending = new Map();

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const { id, name, size, port } = event.data || {};
  if (!id || !port) return;
  pending.set(id, { name, size, port });
  port.postMessage('ready');
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const prefix = '/__gatehouse/download/';
  if (url.origin !== self.location.origin || !url.pathname.startsWith(prefix)) return;
  const id = url.pathname.slice(prefix.length);
  const download = pending.get(id);
  if (!download) {
    event.respondWith(new Response('This download has expired.', { status: 404 }));
    return;
  }
  pending.delete(id);
  const { port } = download;
  let answer = null;
  port.onmessage = (message) => {
    const { chunk, done, error } = message.data;
    const { controller, resolve } = answer || {};
    answer = null;
    if (!controller) return;
    if (chunk) controller.enqueue(chunk);
    else if (done) controller.close();
    else controller.error(new Error(error || 'the download failed'));
    resolve();
  };
  const stream = new ReadableStream({
    pull(controller) {
      return new Promise((resolve) => {
        answer = { controller, resolve };
        port.postMessage('pull');
      });
    },
    cancel() { port.postMessage('cancel'); },
  });
  const headers = {
    'content-type': 'application/octet-stream',
    'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(download.name)}`,
  };
  if (Number.isFinite(download.size) && download.size > 0) headers['content-length'] = String(download.size);
  event.respondWith(new Response(stream, { headers }));
});
