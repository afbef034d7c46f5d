//! The desktop session's Web Worker. The page hands it a canvas (as an
//! `OffscreenCanvas`) and the WebSocket's address; the worker owns the socket, feeds the
//! desktop's fast-path updates to IronRDP's decoder and paints the changed rectangles,
//! so decoding never stalls the page. The page forwards what the person does (key
//! positions, pointer, wheel) and the worker sends it as the desktop protocol's input.
//!
//! The messages both ways are `gatehouse_proto::worker`'s ([`ToWorker`], [`FromWorker`]),
//! as JSON text; the canvas comes on its own just before the `Open` that uses it.
//!
//! [`ToWorker`]: gatehouse_proto::worker::ToWorker
//! [`FromWorker`]: gatehouse_proto::worker::FromWorker

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn main() {
    console_error_panic_hook::set_once();
    #[cfg(target_arch = "wasm32")]
    worker::start();
}

#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
mod player;

#[cfg(target_arch = "wasm32")]
mod worker {
    use std::cell::RefCell;
    use std::rc::Rc;

    use gatehouse_desktop::decoder::{Decoder, Pointer};
    use gatehouse_desktop::keys;
    use gatehouse_proto::pb::{
        DesktopClientMessage, DesktopKey, DesktopServerMessage, DesktopSize, DesktopUnicode, desktop_client_message,
        desktop_server_message,
    };
    use gatehouse_proto::worker::{
        CursorShape, FromWorker, Nothing, ToWorker, WorkerClosed, WorkerCursor, WorkerCursorImage, WorkerKey,
        WorkerKeys, WorkerStats,
    };
    use gloo_events::{EventListener, EventListenerOptions};

    use crate::page;
    use js_sys::Uint8Array;
    use prost::Message as _;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::{Clamped, JsCast};
    use web_sys::{
        BinaryType, CloseEvent, DedicatedWorkerGlobalScope, ImageData, MessageEvent, OffscreenCanvas,
        OffscreenCanvasRenderingContext2d, WebSocket,
    };

    #[derive(Default)]
    struct Stats {
        pdus: u64,
        bytes: u64,
        painted_pdus: u64,
        pixels: u64,
        decode_ms: f64,
        paint_ms: f64,
    }

    struct Session {
        scope: DedicatedWorkerGlobalScope,
        socket: Option<WebSocket>,
        canvas: Option<OffscreenCanvas>,
        context: Option<OffscreenCanvasRenderingContext2d>,
        decoder: Option<Decoder>,
        /// Why the proxy said the session ended, if it said so before closing.
        closed_reason: Option<String>,
        stats: Stats,
        /// Key positions held down, released if the page loses focus.
        held: Vec<String>,
        /// The socket's message and close listeners, removed once it has closed.
        listeners: Vec<EventListener>,
        /// The canvas the page gave, until the `Open` (live or player) that draws on it.
        given_canvas: Option<OffscreenCanvas>,
    }

    type Shared = Rc<RefCell<Session>>;

    pub fn start() {
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let session = Rc::new(RefCell::new(Session {
            scope: scope.clone(),
            socket: None,
            canvas: None,
            context: None,
            decoder: None,
            closed_reason: None,
            stats: Stats::default(),
            held: Vec::new(),
            listeners: Vec::new(),
            given_canvas: None,
        }));
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            on_page_message(&session, &event.data());
        });
        scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // The worker's inbox, needed for as long as the worker runs: nothing outlives it.
        on_message.forget();
        post(&scope, FromWorker::Ready(Nothing {}));
    }

    fn send(session: &Shared, message: desktop_client_message::Message) {
        let session = session.borrow();
        if let Some(socket) = &session.socket
            && socket.ready_state() == WebSocket::OPEN
        {
            let bytes = DesktopClientMessage { message: Some(message) }.encode_to_vec();
            let _ = socket.send_with_u8_array(&bytes);
        }
    }

    fn on_page_message(session: &Shared, data: &JsValue) {
        if let Some(canvas) = data.dyn_ref::<OffscreenCanvas>() {
            session.borrow_mut().given_canvas = Some(canvas.clone());
            return;
        }
        let Some(message) = page::read(data) else { return };
        let scope = session.borrow().scope.clone();
        let canvas = || session.borrow_mut().given_canvas.take();
        if crate::player::on_message(&scope, &message, canvas) {
            return;
        }
        match message {
            ToWorker::Open(url) => match canvas() {
                Some(canvas) => open(session, &url, canvas),
                None => closed(&scope, 0, "The page gave the desktop nothing to draw on; reload the page."),
            },
            ToWorker::Key(WorkerKey { code, key: character, down }) => key(session, &code, character.as_deref(), down),
            ToWorker::Keys(WorkerKeys { codes }) => {
                for code in &codes {
                    key(session, code, None, true);
                }
                for code in codes.iter().rev() {
                    key(session, code, None, false);
                }
            }
            ToWorker::Release(_) => {
                let held = std::mem::take(&mut session.borrow_mut().held);
                for code in held.iter().rev() {
                    key(session, code, None, false);
                }
            }
            ToWorker::Pointer(pointer) => send(session, desktop_client_message::Message::Pointer(pointer)),
            ToWorker::Wheel(wheel) => send(session, desktop_client_message::Message::Wheel(wheel)),
            ToWorker::Locks(locks) => send(session, desktop_client_message::Message::Locks(locks)),
            ToWorker::Clipboard(text) => send(session, desktop_client_message::Message::Clipboard(text)),
            ToWorker::Text(text) => send(session, desktop_client_message::Message::Text(text)),
            ToWorker::Resize(size) => send(session, desktop_client_message::Message::Resize(size)),
            ToWorker::Stats(_) => {
                let session = session.borrow();
                let s = &session.stats;
                post(
                    &session.scope,
                    FromWorker::Stats(WorkerStats {
                        pdus: s.pdus,
                        bytes: s.bytes,
                        painted: s.painted_pdus,
                        pixels: s.pixels,
                        decode_ms: s.decode_ms,
                        paint_ms: s.paint_ms,
                    }),
                );
            }
            ToWorker::Close(_) => {
                if let Some(socket) = &session.borrow().socket {
                    let _ = socket.close_with_code_and_reason(1000, "closed by the person");
                }
            }
            // The player's, answered above.
            ToWorker::PlayOpen(_)
            | ToWorker::Play(_)
            | ToWorker::Pause(_)
            | ToWorker::SeekMs(_)
            | ToWorker::Speed(_)
            | ToWorker::IdleLimitMs(_) => {}
        }
    }

    fn post(scope: &DedicatedWorkerGlobalScope, message: FromWorker) {
        page::post(scope, message);
    }

    fn closed(scope: &DedicatedWorkerGlobalScope, code: u16, reason: &str) {
        post(scope, FromWorker::Closed(WorkerClosed { code: u32::from(code), reason: reason.to_string() }));
    }

    /// A key by position; a position with no scan code sends its character instead.
    fn key(session: &Shared, code: &str, character: Option<&str>, down: bool) {
        {
            let mut s = session.borrow_mut();
            s.held.retain(|held| held != code);
            if down {
                s.held.push(code.to_string());
            }
        }
        if let Some(scancode) = keys::scancode(code) {
            send(
                session,
                desktop_client_message::Message::Key(DesktopKey {
                    scancode: u32::from(scancode.code),
                    extended: scancode.extended,
                    down,
                }),
            );
        } else if let Some(c) = character.and_then(single_char) {
            // The whole code point: the proxy sends one above 0xFFFF as its surrogate pair.
            send(session, desktop_client_message::Message::Unicode(DesktopUnicode { code_unit: u32::from(c), down }));
        }
    }

    fn single_char(text: &str) -> Option<char> {
        let mut chars = text.chars();
        chars.next().filter(|_| chars.next().is_none())
    }

    fn open(session: &Shared, url: &str, canvas: OffscreenCanvas) {
        let context = page::context_2d(&canvas);
        let socket = match WebSocket::new(url) {
            Ok(socket) => socket,
            Err(_) => {
                let scope = session.borrow().scope.clone();
                return closed(&scope, 0, "The address of the desktop is not valid.");
            }
        };
        socket.set_binary_type(BinaryType::Arraybuffer);
        {
            let mut s = session.borrow_mut();
            s.canvas = Some(canvas);
            s.context = context;
            s.socket = Some(socket.clone());
        }
        // Not passive, as addEventListener with no options (gloo's default is passive).
        let options = EventListenerOptions::enable_prevent_default();
        let on_message = {
            let session = session.clone();
            EventListener::new_with_options(&socket, "message", options, move |event| {
                let event: &MessageEvent = event.unchecked_ref();
                let bytes = Uint8Array::new(&event.data()).to_vec();
                on_server_message(&session, &bytes);
            })
        };
        let on_close = {
            let session = session.clone();
            EventListener::new_with_options(&socket, "close", options, move |event| {
                let event: &CloseEvent = event.unchecked_ref();
                let (scope, reason, listeners) = {
                    let mut s = session.borrow_mut();
                    let reason = s.closed_reason.take().unwrap_or_else(|| event.reason());
                    (s.scope.clone(), reason, std::mem::take(&mut s.listeners))
                };
                // The socket is done with: its listeners go (this one's closure is freed once
                // it has returned).
                drop(listeners);
                let reason = if reason.is_empty() {
                    "The connection to Gatehouse was lost. Check your network, then reconnect.".to_string()
                } else {
                    reason
                };
                closed(&scope, event.code(), &reason);
            })
        };
        session.borrow_mut().listeners = vec![on_message, on_close];
    }

    fn now(scope: &DedicatedWorkerGlobalScope) -> f64 {
        scope.performance().map(|p| p.now()).unwrap_or(0.0)
    }

    fn on_server_message(session: &Shared, bytes: &[u8]) {
        let message = match DesktopServerMessage::decode(bytes) {
            Ok(DesktopServerMessage { message: Some(message) }) => message,
            _ => return fail(session, "The proxy sent a message this page does not understand; reload the page."),
        };
        match message {
            desktop_server_message::Message::Activated(activated) => {
                let decoder = Decoder::new(&activated);
                let mut s = session.borrow_mut();
                let (width, height) = (decoder.width(), decoder.height());
                if let Some(canvas) = &s.canvas {
                    canvas.set_width(u32::from(width));
                    canvas.set_height(u32::from(height));
                }
                s.decoder = Some(decoder);
                post(
                    &s.scope,
                    FromWorker::Activated(DesktopSize { width: u32::from(width), height: u32::from(height) }),
                );
            }
            desktop_server_message::Message::FastPath(pdu) => fast_path(session, &pdu),
            // Slow-path PDUs are handled by the proxy's session; nothing to draw here.
            desktop_server_message::Message::X224(_) => {}
            desktop_server_message::Message::Closed(closed) => session.borrow_mut().closed_reason = Some(closed.reason),
            desktop_server_message::Message::LiveResize(live) => {
                let scope = session.borrow().scope.clone();
                post(&scope, FromWorker::LiveResize(live));
            }
            desktop_server_message::Message::Clipboard(text) => {
                let scope = session.borrow().scope.clone();
                post(&scope, FromWorker::Clipboard(text));
            }
            desktop_server_message::Message::ClipboardReady(ready) => {
                let scope = session.borrow().scope.clone();
                post(&scope, FromWorker::ClipboardReady(ready));
            }
        }
    }

    fn fail(session: &Shared, reason: &str) {
        let mut s = session.borrow_mut();
        s.closed_reason = Some(reason.to_string());
        if let Some(socket) = &s.socket {
            let _ = socket.close_with_code_and_reason(4400, "the page could not decode the desktop");
        }
    }

    fn fast_path(session: &Shared, pdu: &[u8]) {
        let mut guard = session.borrow_mut();
        let s = &mut *guard;
        let Some(decoder) = s.decoder.as_mut() else { return };
        let started = now(&s.scope);
        let decoded = match decoder.feed(pdu) {
            Ok(decoded) => decoded,
            Err(err) => {
                drop(guard);
                return fail(session, &format!("{err}. Reconnect to start the session again."));
            }
        };
        let decoded_at = now(&s.scope);
        s.stats.pdus += 1;
        s.stats.bytes += pdu.len() as u64;
        s.stats.decode_ms += decoded_at - started;
        if let Some(context) = &s.context
            && !decoded.dirty.is_empty()
        {
            s.stats.painted_pdus += 1;
            for rect in &decoded.dirty {
                let pixels = decoder.rect_pixels(*rect);
                s.stats.pixels += u64::from(rect.width) * u64::from(rect.height);
                if let Ok(image) = ImageData::new_with_u8_clamped_array_and_sh(
                    Clamped(pixels),
                    u32::from(rect.width),
                    u32::from(rect.height),
                ) {
                    let _ = context.put_image_data(&image, f64::from(rect.x), f64::from(rect.y));
                }
            }
            let painted_at = now(&s.scope);
            s.stats.paint_ms += painted_at - decoded_at;
            // When (in Unix milliseconds, comparable with the page's clock) the pixels
            // were handed to the canvas: the page shows it, benchmarks time input by it.
            let epoch = s.scope.performance().map_or(0.0, |p| p.time_origin() + painted_at);
            post(&s.scope, FromWorker::PaintedAt(epoch));
        }
        if let Some(pointer) = decoded.pointer {
            post_cursor(&s.scope, pointer);
        }
        if !decoded.response.is_empty() {
            drop(guard);
            send(session, desktop_client_message::Message::Response(decoded.response));
        }
    }

    fn post_cursor(scope: &DedicatedWorkerGlobalScope, pointer: Pointer) {
        let shape = match pointer {
            Pointer::Default => CursorShape::Default(Nothing {}),
            Pointer::Hidden => CursorShape::Hidden(Nothing {}),
            Pointer::Shape { width, height, hot_x, hot_y, rgba } => CursorShape::Image(WorkerCursorImage {
                width: u32::from(width),
                height: u32::from(height),
                hot_x: u32::from(hot_x),
                hot_y: u32::from(hot_y),
                rgba,
            }),
        };
        post(scope, FromWorker::Cursor(WorkerCursor { shape: Some(shape) }));
    }
}
