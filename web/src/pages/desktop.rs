//! `/desktops/{name}`: a remote desktop in the page. The page owns only the canvas
//! element and the person's input; a Web Worker (`desktop-worker/`) owns the WebSocket,
//! decodes the desktop's updates with IronRDP and paints through an `OffscreenCanvas`,
//! so a busy desktop never stalls the page. Input goes to the worker as key positions
//! (`KeyboardEvent.code`), desktop-pixel pointer positions and wheel units; text with no
//! key position (an input method's commit, dictation, an on-screen keyboard) arrives in
//! a transparent `<textarea>` over the desktop, which holds the focus for the canvas,
//! and goes as text (Unicode keyboard events on the desktop).

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse_proto::layout::KeyboardLayout;
use gatehouse_proto::pb::{DesktopButton, DesktopLocks, DesktopPointer, DesktopSize, DesktopWheel};
use gatehouse_proto::worker::{CursorShape, FromWorker, Nothing, ToWorker, WorkerKey, WorkerKeys};
use gatehouse_terminal::{TextInput, key_is_text_input};
use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use leptos::html;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{
    CompositionEvent, Event, HtmlCanvasElement, HtmlTextAreaElement, InputEvent, KeyboardEvent, MessageEvent,
    MouseEvent, WheelEvent, Worker,
};

use crate::components::require_session::RequireSession;
use crate::desktop_worker;
use crate::listen::listen;

#[component]
pub fn DesktopPage() -> impl IntoView {
    let params = use_params_map();
    let name = params.with_untracked(|p| p.get("name").unwrap_or_default());
    view! { <RequireSession><DesktopView name=name.clone()/></RequireSession> }
}

#[derive(Clone, PartialEq)]
enum Status {
    Connecting,
    Connected { width: u32, height: u32 },
    Closed(String),
}

/// The live parts of one connection; a reconnect replaces them all (a canvas can hand
/// its drawing to only one worker, once).
#[derive(Default)]
struct Connection {
    worker: Option<Worker>,
    canvas: Option<HtmlCanvasElement>,
    /// Where keys and text are typed (the canvas hands it its focus).
    typing: Option<HtmlTextAreaElement>,
    /// The desktop's size in its own pixels, once activated.
    size: (u32, u32),
    /// The size asked for, to tell a desktop that follows the window from one that does not.
    requested: (u32, u32),
    /// The desktop changes size live (it said so): a resize asks it, without reconnecting.
    live_resize: bool,
    locks: Option<(bool, bool, bool)>,
    /// The clipboard text last exchanged with the desktop, to send only changes.
    clipboard: Option<String>,
    /// The `Open` message and its canvas, posted once the worker says it is ready (a
    /// message sent before its wasm has started would be lost).
    pending_open: Option<(ToWorker, web_sys::OffscreenCanvas)>,
    /// The worker's message listener; dropping it stops the page hearing the worker.
    on_message: Option<EventListener>,
    /// The canvas's input listeners, removed when dropped.
    input: Vec<EventListener>,
}

type Shared = Rc<RefCell<Connection>>;

fn post(conn: &Shared, message: ToWorker) {
    if let Some(worker) = &conn.borrow().worker {
        desktop_worker::post(worker, message);
    }
}

/// Where the person's choice of keyboard layout is kept (a preference, not a secret).
const LAYOUT_KEY: &str = "gatehouse.desktop_layout";

/// The layout chosen before, else a guess from the browser's language.
fn initial_layout() -> KeyboardLayout {
    let window = web_sys::window();
    let stored = window.as_ref().and_then(|w| w.local_storage().ok()?).and_then(|s| s.get_item(LAYOUT_KEY).ok()?);
    stored.and_then(|tag| KeyboardLayout::parse(&tag).ok()).unwrap_or_else(|| {
        KeyboardLayout::for_language(&window.and_then(|w| w.navigator().language()).unwrap_or_default())
    })
}

fn device_pixel_ratio() -> f64 {
    web_sys::window().map_or(1.0, |w| w.device_pixel_ratio()).max(1.0)
}

#[component]
fn DesktopView(name: String) -> impl IntoView {
    let stage = NodeRef::<html::Div>::new();
    let status = RwSignal::new(Status::Connecting);
    let stats = RwSignal::new(String::new());
    let clipboard = RwSignal::new(ClipboardState::Unknown);
    let conn: Shared = Rc::new(RefCell::new(Connection::default()));
    let conn_store = StoredValue::new_local(conn.clone());
    // The keyboard printed on the person's keys: the desktop maps key positions with it.
    let layout = RwSignal::new(initial_layout());

    // A passed trusted-device check's one-time ticket, for the next socket.
    let ticket = StoredValue::new(None::<String>);
    let connect = {
        let name = name.clone();
        move || {
            let (Some(conn), Some(Some(stage))) = (conn_store.try_get_value(), stage.try_get_untracked()) else {
                return;
            };
            disconnect(&conn);
            status.set(Status::Connecting);
            let dpr = device_pixel_ratio();
            let width = ((f64::from(stage.client_width()) * dpr) as u32).clamp(200, 8192) & !1;
            let height = ((f64::from(stage.client_height()) * dpr) as u32).clamp(200, 8192) & !1;
            let document = web_sys::window().and_then(|w| w.document()).expect("a document");
            let canvas: HtmlCanvasElement = document.create_element("canvas").expect("canvas").unchecked_into();
            canvas.set_class_name("desktop-canvas");
            canvas.set_tab_index(0);
            let _ = canvas.set_attribute("data-testid", "desktop-canvas");
            let _ = canvas.set_attribute("aria-label", &format!("Remote desktop {name}"));
            let _ = stage.append_child(&canvas);
            let typing: HtmlTextAreaElement = document.create_element("textarea").expect("textarea").unchecked_into();
            typing.set_class_name("desktop-input");
            typing.set_tab_index(-1);
            for (name, value) in [
                ("data-testid", "desktop-input"),
                ("aria-label", "Type on the remote desktop"),
                ("autocomplete", "off"),
                ("autocapitalize", "off"),
                ("spellcheck", "false"),
            ] {
                let _ = typing.set_attribute(name, value);
            }
            let _ = stage.append_child(&typing);
            conn.borrow_mut().input = attach_input(&conn, &canvas, &typing);
            conn.borrow_mut().typing = Some(typing);
            let offscreen = match canvas.transfer_control_to_offscreen() {
                Ok(offscreen) => offscreen,
                Err(_) => {
                    status.set(Status::Closed("This browser cannot draw a desktop in the background (no OffscreenCanvas); use a current Chrome, Edge or Firefox.".into()));
                    return;
                }
            };
            let worker = match desktop_worker::start() {
                Some(worker) => worker,
                None => {
                    status.set(Status::Closed("The desktop worker could not start; reload the page.".into()));
                    return;
                }
            };
            let on_message = {
                let conn = conn.clone();
                listen(&worker, "message", move |event: &MessageEvent| {
                    on_worker_message(&conn, Signals { status, stats, clipboard }, &event.data());
                })
            };
            let host = web_sys::window().and_then(|w| w.location().host().ok()).unwrap_or_default();
            let mut url = format!(
                "wss://{host}/api/v1/desktops/{}/connect?width={width}&height={height}&layout={}",
                js_sys::encode_uri_component(&name),
                layout.get_untracked().tag()
            );
            if let Some(ticket) = ticket.try_update_value(Option::take).flatten() {
                url.push_str(&format!("&check={}", js_sys::encode_uri_component(&ticket)));
            }
            let mut c = conn.borrow_mut();
            c.pending_open = Some((ToWorker::Open(url), offscreen));
            c.worker = Some(worker);
            c.canvas = Some(canvas);
            c.requested = (width, height);
            c.on_message = Some(on_message);
        }
    };

    // Each connection first passes the check the desktop's roles ask for (none, or a
    // trusted device's assertion), then opens the socket with its ticket.
    let connect = {
        let name = name.clone();
        let auth = crate::session::use_auth();
        move || {
            let (connect, name) = (connect.clone(), name.clone());
            status.set(Status::Connecting);
            let csrf = auth.csrf();
            leptos::task::spawn_local(async move {
                match device_check(&name, &csrf).await {
                    Ok(passed) => {
                        ticket.set_value(passed);
                        connect();
                    }
                    Err(message) => status.set(Status::Closed(message)),
                }
            });
        }
    };

    // Connect once the stage has its size.
    {
        let connect = connect.clone();
        Effect::new(move |done: Option<bool>| {
            if done == Some(true) || stage.get().is_none() {
                return done.unwrap_or(false);
            }
            let connect = connect.clone();
            leptos::prelude::request_animation_frame(connect);
            true
        });
    }

    // Follow the window once resizing settles: a desktop that changes size live is asked
    // to take the new size; one that took the size asked for is reconnected at it; one
    // that keeps its own size is scaled to fit.
    {
        let connect = connect.clone();
        // The reconnect waiting for resizing to settle.
        let mut pending: Option<Timeout> = None;
        let on_resize = web_sys::window().map(|window| {
            listen(&window, "resize", move |_: &Event| {
                let Some(conn) = conn_store.try_get_value() else { return };
                fit(&conn);
                let follows = {
                    let c = conn.borrow();
                    c.live_resize || (c.size == c.requested && c.size != (0, 0))
                };
                if !follows {
                    return;
                }
                let connect = connect.clone();
                let again = Timeout::new(700, move || {
                    // The page may have gone in the meantime.
                    let (Some(Some(stage)), Some(conn)) = (stage.try_get_untracked(), conn_store.try_get_value())
                    else {
                        return;
                    };
                    let dpr = device_pixel_ratio();
                    let want = (
                        ((f64::from(stage.client_width()) * dpr) as u32) & !1,
                        ((f64::from(stage.client_height()) * dpr) as u32) & !1,
                    );
                    if want == conn.borrow().size {
                        return;
                    }
                    if conn.borrow().live_resize {
                        conn.borrow_mut().requested = want;
                        let (width, height) = want;
                        post(&conn, ToWorker::Resize(DesktopSize { width, height }));
                    } else {
                        connect();
                    }
                });
                // A timeout still waiting is cancelled as it drops.
                drop(pending.replace(again));
            })
        });
        // The page's owner keeps the listener and drops (removes) it with the page.
        StoredValue::new_local(on_resize);
        on_cleanup(move || disconnect(&conn_store.get_value()));
    }

    // Full screen changes the stage's size, with no window resize when the window is
    // the screen's size already (or headless): fit to it again, both ways.
    {
        let on_full_screen = web_sys::window().and_then(|w| w.document()).map(|document| {
            listen(&document, "fullscreenchange", move |_: &Event| {
                if let Some(conn) = conn_store.try_get_value() {
                    fit(&conn);
                }
            })
        });
        StoredValue::new_local(on_full_screen);
    }

    // Ask the worker for its totals once a second (the bar shows them).
    {
        let poll = Interval::new(1000, move || post(&conn_store.get_value(), ToWorker::Stats(Nothing {})));
        // Kept by the page's owner, which drops (stops) it with the page.
        StoredValue::new_local(poll);
    }

    let reconnect = connect.clone();
    let send_ctrl_alt_del = move |_| {
        let codes = ["ControlLeft", "AltLeft", "Delete"].map(String::from).to_vec();
        post(&conn_store.get_value(), ToWorker::Keys(WorkerKeys { codes }));
        focus_canvas(&conn_store.get_value());
    };
    let full_screen = move |_| {
        if let Some(stage) = stage.get_untracked() {
            let _ = stage.request_fullscreen();
        }
        focus_canvas(&conn_store.get_value());
    };
    let disconnect_now = move |_| {
        post(&conn_store.get_value(), ToWorker::Close(Nothing {}));
    };
    let closed = move || matches!(status.get(), Status::Closed(_));
    // A new layout takes a new connection (RDP announces it once, at the start).
    let relayout = connect.clone();
    let on_layout = move |ev: web_sys::Event| {
        let Ok(chosen) = KeyboardLayout::parse(&event_target_value(&ev)) else { return };
        layout.set(chosen);
        if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = storage.set_item(LAYOUT_KEY, chosen.tag());
        }
        relayout();
    };
    view! {
        <div class="desktop-page" data-testid="desktop-page">
            <div class="ssh-bar desktop-bar">
                <span class="ssh-title">{name.clone()}</span>
                <span class="desktop-status" data-testid="desktop-status" data-state=move || match status.get() {
                    Status::Connecting => "connecting",
                    Status::Connected { .. } => "connected",
                    Status::Closed(_) => "closed",
                }>
                    {move || match status.get() {
                        Status::Connecting => "Connecting…".to_string(),
                        Status::Connected { width, height } => format!("Connected, {width}×{height}"),
                        Status::Closed(_) => "Disconnected".to_string(),
                    }}
                </span>
                <span class="badge" title="The proxy records this session">"Recorded"</span>
                {move || match clipboard.get() {
                    ClipboardState::Unknown => None,
                    ClipboardState::Shared => Some(view! {
                        <span class="badge" data-testid="clipboard-state" data-state="shared"
                            title="Text copied here can be pasted on the desktop, and the other way">"Clipboard shared"</span>
                    }),
                    ClipboardState::None => Some(view! {
                        <span class="badge badge-muted" data-testid="clipboard-state" data-state="none"
                            title="This desktop's RDP server offers no clipboard channel: copy and paste stay on each side">"No shared clipboard"</span>
                    }),
                }}
                <span class="desktop-stats" data-testid="desktop-stats" title=move || stats.get()>{move || stats.get()}</span>
                <span class="spacer"></span>
                <button class="button button-small" data-testid="ctrl-alt-del" on:click=send_ctrl_alt_del disabled=closed
                    title="Send Ctrl+Alt+Del to the desktop (your own computer keeps that combination)">"Ctrl+Alt+Del"</button>
                <label class="desktop-layout" title="The layout printed on your keys: the desktop types with it (dead keys and AltGr included)"><span class="desktop-layout-word">"Keyboard"</span>
                    <select data-testid="desktop-layout" aria-label="Keyboard layout" on:change=on_layout>
                        {KeyboardLayout::ALL.iter().map(|l| {
                            let tag = l.tag();
                            view! { <option value=tag selected=move || layout.get().tag() == tag>{l.label()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <button class="button button-small" data-testid="full-screen" on:click=full_screen>"Full screen"</button>
                <Show when=closed fallback=move || view! {
                    <button class="button button-small" data-testid="disconnect" on:click=disconnect_now>"Disconnect"</button>
                }>
                    {
                        let reconnect = reconnect.clone();
                        view! { <button class="button button-small button-primary" data-testid="reconnect" on:click=move |_| reconnect()>"Reconnect"</button> }
                    }
                </Show>
            </div>
            {move || match status.get() {
                Status::Closed(reason) => Some(view! {
                    <div class="alert alert-error desktop-alert" role="alert" data-testid="desktop-error">
                        <span>{reason}</span>
                    </div>
                }),
                _ => None,
            }}
            <div class="desktop-stage" class:desktop-closed=closed node_ref=stage data-testid="desktop-stage"></div>
        </div>
    }
}

fn focus_canvas(conn: &Shared) {
    if let Some(typing) = &conn.borrow().typing {
        let _ = typing.focus();
    }
}

/// The trusted-device check `name` asks for before each session, if any: its ticket.
async fn device_check(name: &str, csrf: &str) -> Result<Option<String>, String> {
    use gatehouse_proto::api::{AssertionChallenge, DesktopCheckGrant};
    let base = format!("/api/v1/desktops/{}/check", js_sys::encode_uri_component(name));
    let started: Option<AssertionChallenge> =
        crate::api::post(&format!("{base}/start"), &(), csrf).await.map_err(|f| f.message)?;
    let Some(challenge) = started else { return Ok(None) };
    let assertion = crate::passkey::get(challenge).await.map_err(|_| {
        format!(
            "{name} opens only from a trusted device enrolled for you, and this browser's authenticator did not answer as one (it holds none of your devices' credentials, or the prompt was cancelled). Connect from your enrolled device, or ask an admin to register this one (`gatehouse devices add`)."
        )
    })?;
    let grant: DesktopCheckGrant =
        crate::api::post(&format!("{base}/finish"), &assertion, csrf).await.map_err(|f| f.message)?;
    Ok(Some(grant.ticket))
}

fn disconnect(conn: &Shared) {
    // Take everything out first: removing the focused canvas fires its blur handler
    // (which posts through `conn`) while we are still here.
    let (worker, canvas, typing, on_message, input) = {
        let mut c = conn.borrow_mut();
        c.size = (0, 0);
        c.live_resize = false;
        c.locks = None;
        c.clipboard = None;
        c.pending_open = None;
        (c.worker.take(), c.canvas.take(), c.typing.take(), c.on_message.take(), std::mem::take(&mut c.input))
    };
    // Nothing the worker says from now on is for this page.
    drop(on_message);
    if let Some(worker) = worker {
        desktop_worker::post(&worker, ToWorker::Close(Nothing {}));
        // Give the worker a moment to close the socket cleanly, then stop it. Not a gloo
        // Timeout: this must outlive the page, and once_into_js frees itself once it ran.
        let stop = Closure::once_into_js(move || worker.terminate());
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(stop.unchecked_ref(), 500);
        }
    }
    if let Some(canvas) = canvas {
        canvas.remove();
    }
    if let Some(typing) = typing {
        typing.remove();
    }
    // After the removal, whose blur still reaches its (now idle) listener.
    drop(input);
}

/// Shows the desktop at one desktop pixel per device pixel when it fits, scaled down to
/// the stage when it does not.
fn fit(conn: &Shared) {
    let c = conn.borrow();
    let (Some(canvas), (width, height)) = (&c.canvas, c.size) else { return };
    if width == 0 {
        return;
    }
    let Some(stage) = canvas.parent_element() else { return };
    let dpr = device_pixel_ratio();
    let (css_w, css_h) = (f64::from(width) / dpr, f64::from(height) / dpr);
    let scale = (f64::from(stage.client_width()) / css_w).min(f64::from(stage.client_height()) / css_h).min(1.0);
    let style = web_sys::HtmlElement::style(canvas);
    let _ = style.set_property("width", &format!("{}px", css_w * scale));
    let _ = style.set_property("height", &format!("{}px", css_h * scale));
    // Centred on whole CSS pixels: a half-pixel offset would resample (blur) it.
    let left = ((f64::from(stage.client_width()) - css_w * scale) / 2.0).max(0.0).floor();
    let top = ((f64::from(stage.client_height()) - css_h * scale) / 2.0).max(0.0).floor();
    let _ = style.set_property("margin", &format!("{top}px 0 0 {left}px"));
}

/// Whether the desktop shares its clipboard: its channel comes up soon after the
/// session starts, or never (the server has none).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClipboardState {
    Unknown,
    Shared,
    None,
}

/// How long after activation a clipboard channel that has not come up counts as none.
const CLIPBOARD_WAIT_MS: u32 = 5000;

/// What the worker's messages change on the page.
#[derive(Clone, Copy)]
struct Signals {
    status: RwSignal<Status>,
    stats: RwSignal<String>,
    clipboard: RwSignal<ClipboardState>,
}

fn on_worker_message(conn: &Shared, signals: Signals, data: &wasm_bindgen::JsValue) {
    let Signals { status, stats, clipboard } = signals;
    let Some(message) = desktop_worker::read(data) else { return };
    match message {
        FromWorker::Ready(_) => {
            let c = &mut *conn.borrow_mut();
            if let (Some(worker), Some((open, canvas))) = (&c.worker, c.pending_open.take()) {
                desktop_worker::open(worker, &canvas, open);
            }
        }
        FromWorker::Activated(size) => {
            let (width, height) = (size.width, size.height);
            conn.borrow_mut().size = (width, height);
            fit(conn);
            focus_canvas(conn);
            if clipboard.get_untracked() == ClipboardState::Unknown {
                gloo_timers::callback::Timeout::new(CLIPBOARD_WAIT_MS, move || {
                    // The page may have gone in the meantime.
                    if clipboard.try_get_untracked() == Some(ClipboardState::Unknown) {
                        clipboard.set(ClipboardState::None);
                    }
                })
                .forget();
            }
            status.set(Status::Connected { width, height });
            if let Some(canvas) = &conn.borrow().canvas {
                let _ = canvas.set_attribute("data-width", &width.to_string());
                let _ = canvas.set_attribute("data-height", &height.to_string());
            }
        }
        FromWorker::Closed(closed) => status.set(Status::Closed(closed.reason)),
        FromWorker::Cursor(cursor) => set_cursor(conn, cursor.shape),
        FromWorker::Clipboard(text) => {
            // Copied on the desktop: onto this computer's clipboard, where the browser
            // allows it (a focused page; some browsers ask first).
            conn.borrow_mut().clipboard = Some(text.clone());
            if let Some(window) = web_sys::window() {
                let _ = window.navigator().clipboard().write_text(&text);
            }
        }
        FromWorker::ClipboardReady(_) => clipboard.set(ClipboardState::Shared),
        FromWorker::PaintedAt(at) => {
            if let Some(canvas) = &conn.borrow().canvas {
                let _ = canvas.set_attribute("data-last-paint", &format!("{at:.3}"));
            }
        }
        FromWorker::Stats(totals) => {
            stats.set(format!("{} frames, {:.1} MB received", totals.painted, totals.bytes as f64 / 1e6));
            // The totals, for anyone measuring (BENCHMARKS.md reads them).
            if let Some(canvas) = &conn.borrow().canvas {
                for (name, value) in [
                    ("data-pdus", totals.pdus as f64),
                    ("data-painted", totals.painted as f64),
                    ("data-pixels", totals.pixels as f64),
                    ("data-bytes", totals.bytes as f64),
                    ("data-decode-ms", totals.decode_ms),
                    ("data-paint-ms", totals.paint_ms),
                ] {
                    let _ = canvas.set_attribute(name, &format!("{value:.3}"));
                }
            }
        }
        // The player's; this page plays nothing.
        FromWorker::LiveResize(_) => conn.borrow_mut().live_resize = true,
        FromWorker::Loaded(_) | FromWorker::Position(_) | FromWorker::EndedMs(_) | FromWorker::Error(_) => {}
    }
}

/// The desktop's pointer shape as the canvas's cursor (CSS, so it moves with the
/// person's mouse at once, with no round trip).
fn set_cursor(conn: &Shared, shape: Option<CursorShape>) {
    let c = conn.borrow();
    let Some(canvas) = &c.canvas else { return };
    let css = match shape {
        Some(CursorShape::Hidden(_)) => "none".to_string(),
        Some(CursorShape::Image(image)) => cursor_url(image.width, image.height, &image.rgba)
            .map(|url| format!("url({url}) {} {}, default", image.hot_x, image.hot_y))
            .unwrap_or_else(|| "default".into()),
        Some(CursorShape::Default(_)) | None => "default".to_string(),
    };
    let _ = web_sys::HtmlElement::style(canvas).set_property("cursor", &css);
}

fn cursor_url(width: u32, height: u32, rgba: &[u8]) -> Option<String> {
    if width == 0 || height == 0 || width > 256 || height > 256 || rgba.len() != (width * height * 4) as usize {
        return None;
    }
    let document = web_sys::window()?.document()?;
    let canvas: HtmlCanvasElement = document.create_element("canvas").ok()?.unchecked_into();
    canvas.set_width(width);
    canvas.set_height(height);
    let context: web_sys::CanvasRenderingContext2d = canvas.get_context("2d").ok()??.unchecked_into();
    let image =
        web_sys::ImageData::new_with_u8_clamped_array_and_sh(wasm_bindgen::Clamped(rgba), width, height).ok()?;
    context.put_image_data(&image, 0.0, 0.0).ok()?;
    canvas.to_data_url().ok()
}

/// The desktop's button for `MouseEvent.button`.
fn button(number: i16) -> DesktopButton {
    match number {
        0 => DesktopButton::Left,
        1 => DesktopButton::Middle,
        2 => DesktopButton::Right,
        3 => DesktopButton::Back,
        4 => DesktopButton::Forward,
        _ => DesktopButton::None,
    }
}

/// Keyboard and text in the textarea, pointer and wheel on the canvas, forwarded to the
/// worker. The listeners stay as long as what they return is kept.
fn attach_input(conn: &Shared, canvas: &HtmlCanvasElement, typing: &HtmlTextAreaElement) -> Vec<EventListener> {
    let on_key = |down: bool| {
        let conn = conn.clone();
        move |event: &KeyboardEvent| {
            // An input method's key: what it types comes as text when committed.
            if key_is_text_input(&event.key(), event.is_composing()) {
                return;
            }
            event.prevent_default();
            event.stop_propagation();
            let locks = (
                event.get_modifier_state("CapsLock"),
                event.get_modifier_state("NumLock"),
                event.get_modifier_state("ScrollLock"),
            );
            if conn.borrow().locks != Some(locks) {
                conn.borrow_mut().locks = Some(locks);
                post(
                    &conn,
                    ToWorker::Locks(DesktopLocks { caps_lock: locks.0, num_lock: locks.1, scroll_lock: locks.2 }),
                );
            }
            post(&conn, ToWorker::Key(WorkerKey { code: event.code(), key: Some(event.key()), down }));
        }
    };
    let position = {
        let conn = conn.clone();
        move |event: &MouseEvent| -> Option<(u32, u32)> {
            let c = conn.borrow();
            let canvas = c.canvas.as_ref()?;
            let (width, height) = c.size;
            let (css_w, css_h) = (f64::from(canvas.client_width()), f64::from(canvas.client_height()));
            if width == 0 || css_w == 0.0 || css_h == 0.0 {
                return None;
            }
            let x = (f64::from(event.offset_x()) * f64::from(width) / css_w).floor().clamp(0.0, f64::from(width - 1));
            let y = (f64::from(event.offset_y()) * f64::from(height) / css_h).floor().clamp(0.0, f64::from(height - 1));
            Some((x as u32, y as u32))
        }
    };
    let on_move = {
        let (conn, position) = (conn.clone(), position.clone());
        move |event: &MouseEvent| {
            if let Some((x, y)) = position(event) {
                let moved = DesktopPointer { x, y, button: DesktopButton::None.into(), down: false };
                post(&conn, ToWorker::Pointer(moved));
            }
        }
    };
    let on_button = |down: bool| {
        let (conn, position, typing) = (conn.clone(), position.clone(), typing.clone());
        move |event: &MouseEvent| {
            event.prevent_default();
            if down {
                // Where the person clicked is where an input method's text shows.
                if let Some(canvas) = event.target().and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) {
                    let style = web_sys::HtmlElement::style(&typing);
                    let _ = style.set_property("left", &format!("{}px", canvas.offset_left() + event.offset_x()));
                    let _ = style.set_property("top", &format!("{}px", canvas.offset_top() + event.offset_y()));
                }
                focus_canvas(&conn);
            }
            if let Some((x, y)) = position(event) {
                post(&conn, ToWorker::Pointer(DesktopPointer { x, y, button: button(event.button()).into(), down }));
            }
        }
    };
    let on_wheel = {
        let conn = conn.clone();
        move |event: &WheelEvent| {
            event.prevent_default();
            // RDP counts 120 units a notch; browsers report about 100 pixels, 3 lines or
            // one page a notch.
            let per = match event.delta_mode() {
                WheelEvent::DOM_DELTA_LINE => 40.0,
                WheelEvent::DOM_DELTA_PAGE => 360.0,
                _ => 1.2,
            };
            let (dx, dy) = (event.delta_x() * per, event.delta_y() * per);
            if dy.abs() >= 1.0 {
                post(&conn, ToWorker::Wheel(DesktopWheel { units: (-dy).round() as i32, horizontal: false }));
            }
            if dx.abs() >= 1.0 {
                post(&conn, ToWorker::Wheel(DesktopWheel { units: dx.round() as i32, horizontal: true }));
            }
        }
    };
    // Coming into the desktop: offer this computer's clipboard text to it (read where
    // the browser allows; a refusal just means no clipboard).
    let on_focus = {
        let conn = conn.clone();
        move |_: &Event| {
            let Some(window) = web_sys::window() else { return };
            let conn = conn.clone();
            let read = window.navigator().clipboard().read_text();
            wasm_bindgen_futures::spawn_local(async move {
                let Ok(text) = wasm_bindgen_futures::JsFuture::from(read).await else { return };
                let Some(text) = text.as_string().filter(|t| !t.is_empty()) else { return };
                if conn.borrow().clipboard.as_deref() == Some(text.as_str()) {
                    return;
                }
                conn.borrow_mut().clipboard = Some(text.clone());
                post(&conn, ToWorker::Clipboard(text));
            });
        }
    };
    let on_blur = {
        let conn = conn.clone();
        move |_: &Event| post(&conn, ToWorker::Release(Nothing {}))
    };
    // Text without key positions: an input method's commit, inserted text.
    let text_input = Rc::new(RefCell::new(TextInput::new()));
    let send_text = {
        let conn = conn.clone();
        move |bytes: Vec<u8>| {
            let Ok(text) = String::from_utf8(bytes) else { return };
            // A line break typed as text is the Return key, by position.
            for (i, line) in text.split('\r').enumerate() {
                if i > 0 {
                    post(&conn, ToWorker::Keys(WorkerKeys { codes: vec!["Enter".to_string()] }));
                }
                if !line.is_empty() {
                    post(&conn, ToWorker::Text(line.to_string()));
                }
            }
        }
    };
    let clear = {
        let typing = typing.clone();
        move || typing.set_value("")
    };
    // While composing, the textarea shows the text being composed, where the person
    // last clicked; it goes back to invisible once committed or cancelled.
    let on_composition_start = {
        let (text_input, typing) = (text_input.clone(), typing.clone());
        move |_: &CompositionEvent| {
            text_input.borrow_mut().composition_start();
            let _ = typing.class_list().add_1("desktop-composing");
        }
    };
    let on_composition_update = {
        let text_input = text_input.clone();
        move |event: &CompositionEvent| text_input.borrow_mut().composition_update(&event.data().unwrap_or_default())
    };
    let on_composition_end = {
        let (text_input, send_text, clear, typing_end) =
            (text_input.clone(), send_text.clone(), clear.clone(), typing.clone());
        move |event: &CompositionEvent| {
            let committed = text_input.borrow_mut().composition_end(&event.data().unwrap_or_default());
            let _ = typing_end.class_list().remove_1("desktop-composing");
            clear();
            if let Some(bytes) = committed {
                send_text(bytes);
            }
        }
    };
    let on_before_input = {
        let (text_input, send_text) = (text_input.clone(), send_text.clone());
        move |event: &InputEvent| {
            let bytes = text_input.borrow_mut().before_input(
                &event.input_type(),
                event.data().as_deref(),
                event.is_composing(),
            );
            if let Some(bytes) = bytes {
                event.prevent_default();
                send_text(bytes);
            }
        }
    };
    let on_input = {
        let text_input = text_input.clone();
        move |_: &Event| {
            if !text_input.borrow().is_composing() {
                clear();
            }
        }
    };
    // The canvas's focus belongs to the textarea, where keys and text are typed.
    let on_canvas_focus = {
        let typing = typing.clone();
        move |_: &Event| {
            let _ = typing.focus();
        }
    };
    vec![
        listen(typing, "keydown", on_key(true)),
        listen(typing, "keyup", on_key(false)),
        listen(typing, "compositionstart", on_composition_start),
        listen(typing, "compositionupdate", on_composition_update),
        listen(typing, "compositionend", on_composition_end),
        listen(typing, "beforeinput", on_before_input),
        listen(typing, "input", on_input),
        listen(typing, "blur", on_blur),
        listen(typing, "focus", on_focus),
        listen(canvas, "focus", on_canvas_focus),
        listen(canvas, "mousemove", on_move),
        listen(canvas, "mousedown", on_button(true)),
        listen(canvas, "mouseup", on_button(false)),
        listen(canvas, "contextmenu", |event: &MouseEvent| event.prevent_default()),
        listen(canvas, "wheel", on_wheel),
    ]
}
