//! DOM event listeners that last as long as their handle: gloo-events' `EventListener`,
//! registered as `addEventListener` with no options registers them. Not passive, that
//! is, so a handler may call preventDefault (gloo's own default is passive).

use gloo_events::{EventListener, EventListenerOptions};
use wasm_bindgen::JsCast;
use web_sys::{Event, EventTarget};

/// Calls `on` with every `kind` event on `target` until the listener is dropped. The
/// events are `E`s by their kind; that is not checked (an `instanceof` per type would
/// grow the JS glue).
pub fn listen<E: JsCast>(target: &EventTarget, kind: &'static str, mut on: impl FnMut(&E) + 'static) -> EventListener {
    register(target, kind, Box::new(move |event| on(event.unchecked_ref())))
}

/// One copy of gloo's registration for every kind of handler.
fn register(target: &EventTarget, kind: &'static str, on: Box<dyn FnMut(&Event)>) -> EventListener {
    EventListener::new_with_options(target, kind, EventListenerOptions::enable_prevent_default(), on)
}
