//! A desktop recording in the player: the same worker as a live desktop decodes it
//! (IronRDP in wasm) onto an `OffscreenCanvas`; this page holds the controls. The worker
//! seeks from the proxy's keyframes (whole decoded screens) and streams the recording
//! in Range pieces.

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse_proto::api::{Mark, Marks, RecordingInfo};
use gatehouse_proto::worker::{FromWorker, Nothing, ToWorker};
use gloo_events::EventListener;
use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, MessageEvent, Worker};

use super::recordings::when;
use crate::api;
use crate::components::player_controls::{PlayState, PlayerControls, PlayerHelp, Transport};
use crate::components::video_export::VideoExportButton;
use crate::desktop_worker;
use crate::listen::listen;

#[derive(Default)]
struct Engine {
    worker: Option<Worker>,
    pending: Option<(ToWorker, web_sys::OffscreenCanvas)>,
    /// The worker's message listener, kept as long as the worker.
    _on_message: Option<EventListener>,
}

#[component]
pub fn DesktopPlayer(info: RecordingInfo) -> impl IntoView {
    let stage = NodeRef::<html::Div>::new();
    let position = RwSignal::new(0u64);
    let duration = info.duration_ms.unwrap_or(0);
    let state = RwSignal::new(PlayState::Loading);
    let error = RwSignal::new(None::<String>);
    let marks = RwSignal::new(Vec::<Mark>::new());
    let size = RwSignal::new((0u32, 0u32));
    let engine: Rc<RefCell<Engine>> = Rc::default();
    let engine_store = StoredValue::new_local(engine.clone());
    let base = format!("/api/v1/recordings/{}", js_sys::encode_uri_component(&info.id));
    let marks_url = format!("{base}/marks");
    let video_base = base.clone();

    let post = move |message: ToWorker| {
        if let Some(worker) = &engine_store.get_value().borrow().worker {
            desktop_worker::post(worker, message);
        }
    };

    Effect::new(move |done: Option<bool>| {
        if done == Some(true) {
            return true;
        }
        let Some(stage) = stage.get() else { return false };
        let document = web_sys::window().and_then(|w| w.document()).expect("a document");
        let canvas: HtmlCanvasElement = document.create_element("canvas").expect("canvas").unchecked_into();
        canvas.set_class_name("desktop-canvas");
        let _ = canvas.set_attribute("data-testid", "player-canvas");
        let _ = stage.append_child(&canvas);
        let Ok(offscreen) = canvas.transfer_control_to_offscreen() else {
            error.set(Some("This browser cannot draw a desktop in the background (no OffscreenCanvas).".into()));
            return true;
        };
        let Some(worker) = desktop_worker::start() else {
            error.set(Some("The desktop worker could not start; reload the page.".into()));
            return true;
        };
        let on_message = {
            let engine = engine.clone();
            let canvas = canvas.clone();
            listen(&worker, "message", move |event: &MessageEvent| {
                let Some(message) = desktop_worker::read(&event.data()) else { return };
                match message {
                    FromWorker::Ready(_) => {
                        let e = &mut *engine.borrow_mut();
                        if let (Some(worker), Some((open, offscreen))) = (&e.worker, e.pending.take()) {
                            desktop_worker::open(worker, &offscreen, open);
                        }
                    }
                    FromWorker::Loaded(desktop) => {
                        let (w, h) = (desktop.width, desktop.height);
                        size.set((w, h));
                        // One recorded pixel per CSS pixel when it fits, smaller when not.
                        let style = web_sys::HtmlElement::style(&canvas);
                        let _ = style.set_property("width", &format!("{w}px"));
                        let _ = style.set_property("max-width", "100%");
                        let _ = style.set_property("height", "auto");
                        let _ = style.set_property("aspect-ratio", &format!("{w} / {h}"));
                        // Snap to whole pixels: text above can leave the canvas half a
                        // pixel down, which would resample (blur) every frame.
                        let rect = canvas.get_bounding_client_rect();
                        let (dx, dy) = (rect.left().ceil() - rect.left(), rect.top().ceil() - rect.top());
                        let _ = style.set_property("margin", &format!("{dy}px 0 0 {dx}px"));
                        state.set(PlayState::Paused);
                    }
                    FromWorker::Position(at) => {
                        position.set(at.ms.min(duration));
                        let _ = canvas.set_attribute("data-position", &position.get_untracked().to_string());
                        if at.seeked {
                            let _ = canvas.set_attribute("data-seeked", &position.get_untracked().to_string());
                        }
                    }
                    FromWorker::EndedMs(_) => {
                        state.set(PlayState::Ended);
                        position.set(duration);
                    }
                    FromWorker::Error(message) => {
                        if state.get_untracked().running() {
                            state.set(PlayState::Paused);
                        }
                        error.set(Some(message));
                    }
                    // A live desktop's; a recording sends none of these.
                    FromWorker::Activated(_)
                    | FromWorker::LiveResize(_)
                    | FromWorker::Cursor(_)
                    | FromWorker::Closed(_)
                    | FromWorker::Clipboard(_)
                    | FromWorker::PaintedAt(_)
                    | FromWorker::Stats(_)
                    | FromWorker::ClipboardReady(_) => {}
                }
            })
        };
        let mut e = engine.borrow_mut();
        e.worker = Some(worker);
        e.pending = Some((ToWorker::PlayOpen(base.clone()), offscreen));
        e._on_message = Some(on_message);
        true
    });
    on_cleanup(move || {
        if let Some(worker) = engine_store.get_value().borrow_mut().worker.take() {
            worker.terminate();
        }
    });

    {
        leptos::task::spawn_local(async move {
            if let Ok(found) = api::get::<Marks>(&marks_url).await {
                marks.set(found.marks);
            }
        });
    }
    let seek = move |ms: u64| {
        position.set(ms);
        if state.get_untracked() == PlayState::Ended {
            state.set(PlayState::Paused);
        }
        post(ToWorker::SeekMs(ms));
    };
    let transport = Transport {
        state: state.into(),
        position: position.into(),
        duration: Signal::stored(duration),
        toggle: Callback::new(move |()| match state.get_untracked() {
            PlayState::Loading => {}
            s if s.running() => {
                state.set(PlayState::Paused);
                post(ToWorker::Pause(Nothing {}));
            }
            // From the end, the worker plays again from the start.
            _ => {
                state.set(PlayState::Playing);
                post(ToWorker::Play(Nothing {}));
            }
        }),
        seek: Callback::new(seek),
        set_speed: Callback::new(move |speed| post(ToWorker::Speed(speed))),
        set_idle_limit: Callback::new(move |limit| post(ToWorker::IdleLimitMs(limit))),
    };
    let title = format!("{} on {} as {}", info.user, info.target, info.login);
    view! {
        <section class="page player-page desktop-player" tabindex="0" data-testid="player" data-kind="desktop"
            on:keydown=move |ev| transport.on_key(&ev) data-state=move || state.get().id()
            data-position=move || position.get().to_string() data-duration=duration.to_string()>
            <div class="player-head">
                <a class="button button-small" href="/recordings">"← Recordings"</a>
                <h1 class="player-title" data-testid="player-title">{title}</h1>
                <span class="muted">{when(info.started_at)}</span>
                <span class="muted" data-testid="player-size">
                    {move || { let (w, h) = size.get(); if w > 0 { format!("{w}×{h}") } else { String::new() } }}
                </span>
                <VideoExportButton base=video_base/>
            </div>
            {move || error.get().map(|message| view! {
                <div class="alert alert-error" role="alert" data-testid="player-error"><span>{message}</span></div>
            })}
            <div class="desktop-stage desktop-player-stage" node_ref=stage></div>
            <PlayerControls transport=transport marks=marks/>
            <PlayerHelp/>
        </section>
    }
}
