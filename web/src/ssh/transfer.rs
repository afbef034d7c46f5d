//! Moving one file's bytes: an upload reads the browser's `File` a slice at a time and
//! writes it to the node ([`super::files`]); a download reads the node's file a chunk
//! at a time into the download service worker's stream (`assets/download-sw.js`), which
//! the browser saves to disk as any download. Neither holds the whole file in memory.
//!
//! The page's side of that stream waits for the worker to ask for each chunk, so a slow
//! disk slows the SFTP reads instead of filling memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::files::Remote;

/// Bytes read from the browser's file, or from the node, per step.
const CHUNK: usize = 1 << 20;

#[wasm_bindgen(inline_js = r#"
class Sink {
  constructor(port) {
    this.port = port;
    this.wanted = 0;
    this.cancelled = false;
    this.waiters = [];
    port.onmessage = (event) => {
      if (event.data === 'pull') this.wanted++;
      if (event.data === 'cancel') this.cancelled = true;
      const waiters = this.waiters;
      this.waiters = [];
      waiters.forEach((wake) => wake());
    };
  }
  async write(chunk) {
    while (!this.wanted && !this.cancelled) await new Promise((wake) => this.waiters.push(wake));
    if (this.cancelled) throw new Error('The download was cancelled in the browser.');
    this.wanted--;
    this.port.postMessage({ chunk }, [chunk.buffer]);
  }
  close() { this.port.postMessage({ done: true }); }
  abort(message) { this.port.postMessage({ error: message }); }
}

export async function open_download(name, size) {
  if (!('serviceWorker' in navigator)) throw new Error('This browser cannot save a streamed download (no service workers).');
  await navigator.serviceWorker.register('/download-sw.js', { scope: '/' });
  const worker = (await navigator.serviceWorker.ready).active;
  const id = crypto.randomUUID();
  const channel = new MessageChannel();
  const ready = new Promise((resolve) => { channel.port1.onmessage = () => resolve(); });
  worker.postMessage({ id, name, size, port: channel.port2 }, [channel.port2]);
  await ready;
  const sink = new Sink(channel.port1);
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.src = `/__gatehouse/download/${id}`;
  document.body.appendChild(frame);
  setTimeout(() => frame.remove(), 60000);
  return sink;
}
"#)]
extern "C" {
    type Sink;
    #[wasm_bindgen(catch)]
    async fn open_download(name: &str, size: f64) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    async fn write(this: &Sink, chunk: js_sys::Uint8Array) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method)]
    fn close(this: &Sink);
    #[wasm_bindgen(method)]
    fn abort(this: &Sink, message: &str);
}

fn js_message(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "the browser refused".into())
}

/// A transfer's cancel button.
pub type Cancel = Arc<AtomicBool>;

/// Uploads `file` to `target` (through its temporary name); `progress` gets the bytes
/// written so far.
pub async fn upload(
    remote: &Remote,
    file: &web_sys::File,
    target: &str,
    cancel: &Cancel,
    progress: &impl Fn(u64),
) -> Result<(), String> {
    let (part, mut out) = remote.create_part(target).await?;
    let written = async {
        let size = file.size();
        let mut at = 0f64;
        while at < size {
            if cancel.load(Ordering::Relaxed) {
                return Err("Cancelled.".to_string());
            }
            let end = (at + CHUNK as f64).min(size);
            let bytes = read_slice(file, at, end).await?;
            out.write_all(&bytes).await.map_err(|err| lost(&err, target))?;
            at = end;
            progress(at as u64);
        }
        out.shutdown().await.map_err(|err| lost(&err, target))
    };
    match written.await {
        Ok(()) => remote.finish_upload(&part, target).await,
        Err(why) => {
            drop(out);
            remote.discard(&part).await;
            Err(why)
        }
    }
}

/// Downloads the node's file at `path` as a browser download named `name`.
pub async fn download(
    remote: &Remote,
    path: &str,
    name: &str,
    cancel: &Cancel,
    progress: &impl Fn(u64, u64),
) -> Result<(), String> {
    let (mut file, size) = remote.open_read(path).await?;
    let sink: Sink = open_download(name, size as f64).await.map_err(|err| js_message(&err))?.unchecked_into();
    let mut buffer = vec![0u8; CHUNK];
    let mut done = 0u64;
    let copied = async {
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err("Cancelled.".to_string());
            }
            let n = file.read(&mut buffer).await.map_err(|err| lost(&err, path))?;
            if n == 0 {
                return Ok(());
            }
            sink.write(js_sys::Uint8Array::from(&buffer[..n])).await.map_err(|err| js_message(&err))?;
            done += n as u64;
            progress(done, size);
        }
    };
    let result = copied.await;
    match &result {
        Ok(()) => sink.close(),
        Err(why) => sink.abort(why),
    }
    result
}

async fn read_slice(file: &web_sys::File, start: f64, end: f64) -> Result<Vec<u8>, String> {
    let unreadable = |_| format!("The browser could not read {}.", file.name());
    let blob = file.slice_with_f64_and_f64(start, end).map_err(unreadable)?;
    let buffer = JsFuture::from(blob.array_buffer()).await.map_err(unreadable)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

fn lost(err: &std::io::Error, path: &str) -> String {
    let said = err.to_string();
    if said.contains("PermissionDenied") || said.contains("Permission denied") {
        return format!("Permission denied: {path} was refused ({said}).");
    }
    if said.to_lowercase().contains("space") {
        return format!("The node's disk is full: {path} was not written ({said}).");
    }
    format!("The transfer of {path} stopped: the connection to the node was lost or it refused ({said}).")
}
