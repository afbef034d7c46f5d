//! The page's side of the desktop worker's channel (`gatehouse_proto::worker`): the
//! worker is started here, messages go to it as protobuf bytes, and its answers are
//! read back the same way. The canvas it draws on is handed over on its own, right
//! before the message that opens a desktop or a recording.

use gatehouse_proto::worker::{self, FromWorker, ToWorker};
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{OffscreenCanvas, Worker};

/// The worker's loader, written by trunk beside the app (index.html).
const LOADER: &str = "/desktop_worker_loader.js";

pub fn start() -> Option<Worker> {
    Worker::new(LOADER).ok()
}

pub fn post(worker: &Worker, message: ToWorker) {
    let _ = worker.post_message(&Uint8Array::from(worker::to_worker(message).as_slice()));
}

/// Gives the worker `canvas` (it can be given once), then `open`, which draws on it.
pub fn open(worker: &Worker, canvas: &OffscreenCanvas, open: ToWorker) {
    let _ = worker.post_message_with_transfer(canvas, &js_sys::Array::of1(canvas));
    post(worker, open);
}

/// The worker's message, if `data` holds one.
pub fn read(data: &JsValue) -> Option<FromWorker> {
    worker::read_from_worker(&data.dyn_ref::<Uint8Array>()?.to_vec())
}
