//! A desktop recording in the player: the same worker as a live desktop decodes it
//! (IronRDP in wasm) onto an `OffscreenCanvas`; this page holds the controls. The worker
//! seeks from the proxy's keyframes (whole decoded screens) and streams the recording
//! in Range pieces.

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse_proto::api::RecordingInfo;
use gloo_events::EventListener;
use js_sys::{Object, Reflect};
use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, MessageEvent, Worker};

use super::recordings::{clock, when};
use crate::listen::listen;

const SPEEDS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

fn message(fields: &[(&str, wasm_bindgen::JsValue)]) -> Object {
    let object = Object::new();
    for (key, value) in fields {
        let _ = Reflect::set(&object, &(*key).into(), value);
    }
    object
}

#[derive(Default)]
struct Engine {
    worker: Option<Worker>,
    pending: Option<(Object, web_sys::OffscreenCanvas)>,
    /// The worker's message listener, kept as long as the worker.
    _on_message: Option<EventListener>,
}

#[component]
pub fn DesktopPlayer(info: RecordingInfo) -> impl IntoView {
    let stage = NodeRef::<html::Div>::new();
    let position = RwSignal::new(0u64);
    let duration = info.duration_ms.unwrap_or(0);
    let playing = RwSignal::new(false);
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let speed = RwSignal::new(1.0f64);
    let size = RwSignal::new((0u32, 0u32));
    let engine: Rc<RefCell<Engine>> = Rc::default();
    let engine_store = StoredValue::new_local(engine.clone());
    let base = format!("/api/v1/recordings/{}", js_sys::encode_uri_component(&info.id));

    let post = move |fields: &[(&str, wasm_bindgen::JsValue)]| {
        if let Some(worker) = &engine_store.get_value().borrow().worker {
            let _ = worker.post_message(&message(fields));
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
        let Ok(worker) = Worker::new("/desktop_worker_loader.js") else {
            error.set(Some("The desktop worker could not start; reload the page.".into()));
            return true;
        };
        let on_message = {
            let engine = engine.clone();
            let canvas = canvas.clone();
            listen(&worker, "message", move |event: &MessageEvent| {
                let data = event.data();
                let get = |key: &str| Reflect::get(&data, &key.into()).unwrap_or_default();
                match get("t").as_string().as_deref() {
                    Some("ready") => {
                        let e = &mut *engine.borrow_mut();
                        if let (Some(worker), Some((open, offscreen))) = (&e.worker, e.pending.take()) {
                            let _ = worker.post_message_with_transfer(&open, &js_sys::Array::of1(&offscreen));
                        }
                    }
                    Some("loaded") => {
                        let (w, h) =
                            (get("width").as_f64().unwrap_or(0.0) as u32, get("height").as_f64().unwrap_or(0.0) as u32);
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
                        loaded.set(true);
                    }
                    Some("position") => {
                        position.set(get("ms").as_f64().unwrap_or(0.0).min(duration as f64) as u64);
                        let _ = canvas.set_attribute("data-position", &position.get_untracked().to_string());
                        if get("seeked").as_bool() == Some(true) {
                            let _ = canvas.set_attribute("data-seeked", &position.get_untracked().to_string());
                        }
                    }
                    Some("ended") => {
                        playing.set(false);
                        position.set(duration);
                    }
                    Some("error") => {
                        playing.set(false);
                        error.set(get("message").as_string());
                    }
                    _ => {}
                }
            })
        };
        let open =
            message(&[("t", "play-open".into()), ("base", base.clone().into()), ("canvas", offscreen.clone().into())]);
        let mut e = engine.borrow_mut();
        e.worker = Some(worker);
        e.pending = Some((open, offscreen));
        e._on_message = Some(on_message);
        true
    });
    on_cleanup(move || {
        if let Some(worker) = engine_store.get_value().borrow_mut().worker.take() {
            worker.terminate();
        }
    });

    let toggle = move |_| {
        if playing.get_untracked() {
            playing.set(false);
            post(&[("t", "pause".into())]);
        } else {
            playing.set(true);
            post(&[("t", "play".into())]);
        }
    };
    let seek_to = move |ms: u64| {
        position.set(ms);
        post(&[("t", "seek".into()), ("ms", (ms as f64).into())]);
    };
    let on_timeline = move |event: web_sys::Event| {
        let value = event.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()).map(|i| i.value());
        if let Some(ms) = value.and_then(|v| v.parse::<f64>().ok()) {
            seek_to(ms as u64);
        }
    };
    let on_speed = move |event: web_sys::Event| {
        let value = event.target().and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok()).map(|s| s.value());
        if let Some(value) = value.and_then(|v| v.parse::<f64>().ok()) {
            speed.set(value);
            post(&[("t", "speed".into()), ("speed", value.into())]);
        }
    };
    let title = format!("{} on {} as {}", info.user, info.target, info.login);
    view! {
        <div class="player desktop-player" data-testid="player" data-kind="desktop">
            <div class="player-head">
                <h1 data-testid="player-title">{title}</h1>
                <span class="muted">{when(info.started_at)}</span>
            </div>
            {move || error.get().map(|message| view! {
                <div class="alert alert-error" role="alert" data-testid="player-error"><span>{message}</span></div>
            })}
            <div class="desktop-stage desktop-player-stage" node_ref=stage></div>
            <div class="player-controls">
                <button class="button button-small" data-testid="play-pause" on:click=toggle disabled=move || !loaded.get()>
                    {move || if playing.get() { "Pause" } else { "Play" }}
                </button>
                <input type="range" class="timeline" data-testid="timeline" min="0" max=duration.to_string() step="100"
                    prop:value=move || position.get().to_string() on:change=on_timeline aria-label="Position in the recording"
                    disabled=move || !loaded.get()/>
                <span class="player-time" data-testid="player-time">{move || format!("{} / {}", clock(position.get()), clock(duration))}</span>
                <select data-testid="speed" on:change=on_speed aria-label="Speed">
                    {SPEEDS.iter().map(|s| view! { <option value=s.to_string() selected=*s == 1.0>{format!("{s}×")}</option> }).collect_view()}
                </select>
                <span class="muted">{move || { let (w, h) = size.get(); if w > 0 { format!("{w}×{h}") } else { String::new() } }}</span>
            </div>
        </div>
    }
}
