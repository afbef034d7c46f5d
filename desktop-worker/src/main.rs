//! The desktop session's Web Worker. The page hands it a canvas (as an
//! `OffscreenCanvas`) and the WebSocket's address; the worker owns the socket, feeds the
//! desktop's fast-path updates to IronRDP's decoder and paints the changed rectangles,
//! so decoding never stalls the page. The page forwards what the person does (key
//! positions, pointer, wheel) and the worker sends it as the desktop protocol's input.
//!
//! Messages from the page are plain objects with a `t` field: `open` {url, canvas},
//! `key` {code, key, down}, `pointer` {x, y, button, down}, `wheel` {units, horizontal},
//! `locks` {caps, num, scroll}, `keys` {codes} (a combination pressed then released),
//! `stats`, `close`. To the page: `activated` {width, height}, `cursor` {kind, ...},
//! `closed` {code, reason}, `stats` {...}.

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn main() {
    console_error_panic_hook::set_once();
    #[cfg(target_arch = "wasm32")]
    worker::start();
}

#[cfg(target_arch = "wasm32")]
mod player;

#[cfg(target_arch = "wasm32")]
mod worker {
    use std::cell::RefCell;
    use std::rc::Rc;

    use gatehouse_desktop::decoder::{Decoder, Pointer};
    use gatehouse_desktop::keys;
    use gatehouse_proto::pb::{
        DesktopButton, DesktopClientMessage, DesktopKey, DesktopLocks, DesktopPointer, DesktopServerMessage,
        DesktopUnicode, DesktopWheel, desktop_client_message, desktop_server_message,
    };
    use gloo_events::{EventListener, EventListenerOptions};
    use js_sys::{Object, Reflect, Uint8Array};
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
        }));
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            on_page_message(&session, &event.data());
        });
        scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // The worker's inbox, needed for as long as the worker runs: nothing outlives it.
        on_message.forget();
        post(&scope, &object(&[("t", "ready".into())]));
    }

    fn object(fields: &[(&str, JsValue)]) -> Object {
        let object = Object::new();
        for (key, value) in fields {
            let _ = Reflect::set(&object, &JsValue::from_str(key), value);
        }
        object
    }

    fn post(scope: &DedicatedWorkerGlobalScope, message: &Object) {
        let _ = scope.post_message(message);
    }

    fn field(data: &JsValue, name: &str) -> JsValue {
        Reflect::get(data, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    }

    fn number(data: &JsValue, name: &str) -> f64 {
        field(data, name).as_f64().unwrap_or(0.0)
    }

    fn flag(data: &JsValue, name: &str) -> bool {
        field(data, name).as_bool().unwrap_or(false)
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
        let kind = field(data, "t").as_string().unwrap_or_default();
        let scope = session.borrow().scope.clone();
        if crate::player::on_message(&scope, &kind, data) {
            return;
        }
        match kind.as_str() {
            "open" => {
                let url = field(data, "url").as_string().unwrap_or_default();
                let canvas: OffscreenCanvas = field(data, "canvas").unchecked_into();
                open(session, &url, canvas);
            }
            "key" => {
                let code = field(data, "code").as_string().unwrap_or_default();
                let down = flag(data, "down");
                key(session, &code, field(data, "key").as_string().as_deref(), down);
            }
            "keys" => {
                let codes: Vec<String> =
                    js_sys::Array::from(&field(data, "codes")).iter().filter_map(|c| c.as_string()).collect();
                for code in &codes {
                    key(session, code, None, true);
                }
                for code in codes.iter().rev() {
                    key(session, code, None, false);
                }
            }
            "release" => {
                let held = std::mem::take(&mut session.borrow_mut().held);
                for code in held.iter().rev() {
                    key(session, code, None, false);
                }
            }
            "pointer" => {
                let button = match number(data, "button") as i32 {
                    0 => DesktopButton::Left,
                    1 => DesktopButton::Middle,
                    2 => DesktopButton::Right,
                    3 => DesktopButton::Back,
                    4 => DesktopButton::Forward,
                    _ => DesktopButton::None,
                };
                let moved_only = field(data, "down").is_undefined();
                send(
                    session,
                    desktop_client_message::Message::Pointer(DesktopPointer {
                        x: number(data, "x").max(0.0) as u32,
                        y: number(data, "y").max(0.0) as u32,
                        button: if moved_only { DesktopButton::None } else { button } as i32,
                        down: flag(data, "down"),
                    }),
                );
            }
            "wheel" => send(
                session,
                desktop_client_message::Message::Wheel(DesktopWheel {
                    units: number(data, "units") as i32,
                    horizontal: flag(data, "horizontal"),
                }),
            ),
            "locks" => send(
                session,
                desktop_client_message::Message::Locks(DesktopLocks {
                    caps_lock: flag(data, "caps"),
                    num_lock: flag(data, "num"),
                    scroll_lock: flag(data, "scroll"),
                }),
            ),
            "clipboard" => {
                if let Some(text) = field(data, "text").as_string() {
                    send(session, desktop_client_message::Message::Clipboard(text));
                }
            }
            "stats" => {
                let session = session.borrow();
                let s = &session.stats;
                post(
                    &session.scope,
                    &object(&[
                        ("t", "stats".into()),
                        ("pdus", (s.pdus as f64).into()),
                        ("bytes", (s.bytes as f64).into()),
                        ("painted", (s.painted_pdus as f64).into()),
                        ("pixels", (s.pixels as f64).into()),
                        ("decodeMs", s.decode_ms.into()),
                        ("paintMs", s.paint_ms.into()),
                    ]),
                );
            }
            "close" => {
                if let Some(socket) = &session.borrow().socket {
                    let _ = socket.close_with_code_and_reason(1000, "closed by the person");
                }
            }
            _ => {}
        }
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
        } else if let Some(text) = character.filter(|c| c.chars().count() == 1) {
            for unit in text.encode_utf16() {
                send(
                    session,
                    desktop_client_message::Message::Unicode(DesktopUnicode { code_unit: u32::from(unit), down }),
                );
            }
        }
    }

    fn open(session: &Shared, url: &str, canvas: OffscreenCanvas) {
        let context = canvas
            .get_context_with_context_options("2d", &object(&[("alpha", false.into())]))
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<OffscreenCanvasRenderingContext2d>().ok());
        let socket = match WebSocket::new(url) {
            Ok(socket) => socket,
            Err(_) => {
                let scope = session.borrow().scope.clone();
                post(
                    &scope,
                    &object(&[
                        ("t", "closed".into()),
                        ("code", 0.into()),
                        ("reason", "The address of the desktop is not valid.".into()),
                    ]),
                );
                return;
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
                post(
                    &scope,
                    &object(&[("t", "closed".into()), ("code", event.code().into()), ("reason", reason.into())]),
                );
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
                    &object(&[("t", "activated".into()), ("width", width.into()), ("height", height.into())]),
                );
            }
            desktop_server_message::Message::FastPath(pdu) => fast_path(session, &pdu),
            // Slow-path PDUs are handled by the proxy's session; nothing to draw here.
            desktop_server_message::Message::X224(_) => {}
            desktop_server_message::Message::Closed(closed) => session.borrow_mut().closed_reason = Some(closed.reason),
            desktop_server_message::Message::Clipboard(text) => {
                let scope = session.borrow().scope.clone();
                post(&scope, &object(&[("t", "clipboard".into()), ("text", text.into())]));
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
            post(&s.scope, &object(&[("t", "painted".into()), ("at", epoch.into())]));
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
        let message = match pointer {
            Pointer::Default => object(&[("t", "cursor".into()), ("kind", "default".into())]),
            Pointer::Hidden => object(&[("t", "cursor".into()), ("kind", "hidden".into())]),
            Pointer::Shape { width, height, hot_x, hot_y, rgba } => object(&[
                ("t", "cursor".into()),
                ("kind", "shape".into()),
                ("width", width.into()),
                ("height", height.into()),
                ("hotX", hot_x.into()),
                ("hotY", hot_y.into()),
                ("rgba", Uint8Array::from(rgba.as_slice()).into()),
            ]),
        };
        post(scope, &message);
    }
}
