//! The worker's side of its channel to the page (`gatehouse_proto::worker`): a
//! [`ToWorker`] read from the bytes the page posted, a [`FromWorker`] posted as bytes.

use gatehouse_proto::worker::{self, FromWorker, ToWorker};
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{DedicatedWorkerGlobalScope, OffscreenCanvas, OffscreenCanvasRenderingContext2d};

/// The page's message, if `data` holds one.
pub fn read(data: &JsValue) -> Option<ToWorker> {
    worker::read_to_worker(&data.dyn_ref::<Uint8Array>()?.to_vec())
}

pub fn post(scope: &DedicatedWorkerGlobalScope, message: FromWorker) {
    let _ = scope.post_message(&Uint8Array::from(worker::from_worker(message).as_slice()));
}

/// The canvas's 2D context, opaque (nothing shows through a desktop).
pub fn context_2d(canvas: &OffscreenCanvas) -> Option<OffscreenCanvasRenderingContext2d> {
    let options = Object::new();
    let _ = Reflect::set(&options, &JsValue::from_str("alpha"), &JsValue::FALSE);
    canvas.get_context_with_context_options("2d", &options).ok().flatten()?.dyn_into().ok()
}
