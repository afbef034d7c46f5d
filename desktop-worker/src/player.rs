//! The worker's player mode: a desktop recording on the canvas. The page sends `play-open`
//! {base, canvas}, then `play` {speed}, `pause`, `seek` {ms}; the worker answers
//! `loaded` {width, height}, `position` {ms, playing} about ten times a second, `ended`,
//! and `error` {message}.
//!
//! A seek paints the keyframe before the target (a whole decoded screen the proxy made)
//! and decodes only the updates between it and the target; playing fetches the
//! recording ahead in Range pieces, so a long recording starts as fast as a short one.

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse_desktop::decoder::Rect;
use gatehouse_desktop::playback::Playback;
use gatehouse_proto::pb::recording_event::Event;
use gatehouse_proto::pb::{DesktopActivated, Keyframe};
use gatehouse_proto::recording::{Item, Reader};
use gloo_timers::callback::Interval;
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DedicatedWorkerGlobalScope, Headers, ImageData, OffscreenCanvas, OffscreenCanvasRenderingContext2d,
    RequestCredentials, RequestInit, Response,
};

/// Bytes fetched per Range request, and the most kept decoded-ahead.
const CHUNK: u64 = 1 << 20;
const AHEAD: usize = 512 * 1024;

struct Player {
    scope: DedicatedWorkerGlobalScope,
    base: String,
    context: OffscreenCanvasRenderingContext2d,
    canvas: OffscreenCanvas,
    index: Vec<Keyframe>,
    activated: Option<DesktopActivated>,
    playback: Option<Playback>,
    /// Bumped by every seek: answers to an older seek's fetches are dropped.
    generation: u64,
    fetching: bool,
    /// The whole file has been fetched.
    eof: bool,
    seeking: bool,
    playing: bool,
    speed: f64,
    clock_ms: f64,
    last_tick: f64,
    last_posted: f64,
    /// A seek asked for before the recording's start was read; done once it is.
    pending_seek: Option<f64>,
}

type Shared = Rc<RefCell<Player>>;

thread_local! {
    static PLAYER: RefCell<Option<Shared>> = const { RefCell::new(None) };
    /// The player's clock: it ticks while it is kept here, that is for the worker's life.
    static CLOCK: RefCell<Option<Interval>> = const { RefCell::new(None) };
}

fn object(fields: &[(&str, JsValue)]) -> Object {
    let object = Object::new();
    for (key, value) in fields {
        let _ = Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object
}

fn post(scope: &DedicatedWorkerGlobalScope, fields: &[(&str, JsValue)]) {
    let _ = scope.post_message(&object(fields));
}

fn now(scope: &DedicatedWorkerGlobalScope) -> f64 {
    scope.performance().map(|p| p.now()).unwrap_or(0.0)
}

/// Handles the page's player messages; false if `kind` is not one.
pub fn on_message(scope: &DedicatedWorkerGlobalScope, kind: &str, data: &JsValue) -> bool {
    let get = |name: &str| Reflect::get(data, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
    match kind {
        "play-open" => {
            let canvas: OffscreenCanvas = get("canvas").unchecked_into();
            let Some(context) = canvas
                .get_context_with_context_options("2d", &object(&[("alpha", false.into())]))
                .ok()
                .flatten()
                .and_then(|c| c.dyn_into::<OffscreenCanvasRenderingContext2d>().ok())
            else {
                post(scope, &[("t", "error".into()), ("message", "This browser cannot draw the desktop.".into())]);
                return true;
            };
            let player = Rc::new(RefCell::new(Player {
                scope: scope.clone(),
                base: get("base").as_string().unwrap_or_default(),
                context,
                canvas,
                index: Vec::new(),
                activated: None,
                playback: None,
                generation: 0,
                fetching: false,
                eof: false,
                seeking: true,
                playing: false,
                speed: 1.0,
                clock_ms: 0.0,
                last_tick: 0.0,
                last_posted: 0.0,
                pending_seek: None,
            }));
            PLAYER.with(|p| *p.borrow_mut() = Some(player.clone()));
            start_clock(player.clone());
            wasm_bindgen_futures::spawn_local(open(player));
        }
        "play" | "pause" | "seek" | "speed" => {
            let Some(player) = PLAYER.with(|p| p.borrow().clone()) else { return true };
            match kind {
                "play" => {
                    let mut p = player.borrow_mut();
                    p.playing = true;
                    p.last_tick = now(&p.scope);
                    if p.playback.as_ref().is_some_and(Playback::ended) {
                        drop(p);
                        wasm_bindgen_futures::spawn_local(seek(player.clone(), 0.0));
                    }
                }
                "pause" => player.borrow_mut().playing = false,
                "speed" => player.borrow_mut().speed = get("speed").as_f64().unwrap_or(1.0).clamp(0.1, 64.0),
                _ => {
                    wasm_bindgen_futures::spawn_local(seek(player.clone(), get("ms").as_f64().unwrap_or(0.0).max(0.0)))
                }
            }
        }
        _ => return false,
    }
    true
}

async fn get_range(base: &str, part: &str, start: u64, end: u64) -> Result<(Vec<u8>, bool), String> {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let headers = Headers::new().map_err(|_| "headers".to_string())?;
    let _ = headers.set("range", &format!("bytes={start}-{end}"));
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_credentials(RequestCredentials::SameOrigin);
    init.set_headers(&headers);
    let unreachable = || "Gatehouse cannot be reached; check your network and reload.".to_string();
    let response = JsFuture::from(scope.fetch_with_str_and_init(&format!("{base}/data/{part}"), &init))
        .await
        .map_err(|_| unreachable())?;
    let response: Response = response.dyn_into().map_err(|_| unreachable())?;
    if response.status() == 416 {
        return Ok((Vec::new(), true));
    }
    if !response.ok() {
        return Err(format!("The recording could not be read (the server answered {}).", response.status()));
    }
    let total: Option<u64> = response
        .headers()
        .get("content-range")
        .ok()
        .flatten()
        .and_then(|v| v.rsplit('/').next().and_then(|n| n.parse().ok()));
    let buffer =
        JsFuture::from(response.array_buffer().map_err(|_| unreachable())?).await.map_err(|_| unreachable())?;
    let bytes = Uint8Array::new(&buffer).to_vec();
    let done = total.is_none_or(|total| start + bytes.len() as u64 >= total);
    Ok((bytes, done))
}

async fn open(player: Shared) {
    let (scope, base) = {
        let p = player.borrow();
        (p.scope.clone(), p.base.clone())
    };
    let fail = |message: String| post(&scope, &[("t", "error".into()), ("message", message.into())]);
    let index = match get_range(&base, "index", 0, u64::MAX - 1).await {
        Ok((bytes, _)) => gatehouse_proto::recording::read_index(&bytes).map(|(index, _)| index).unwrap_or_default(),
        Err(err) => return fail(err),
    };
    // The session's decoder parameters: the first DesktopActivated, near the start.
    let head = match get_range(&base, "recording", 0, 64 * 1024 - 1).await {
        Ok((bytes, _)) => bytes,
        Err(err) => return fail(err),
    };
    let mut reader = Reader::new();
    reader.push(&head);
    let mut activated = None;
    while let Ok(Some(item)) = reader.next_item() {
        if let Item::Event {
            event: gatehouse_proto::pb::RecordingEvent { event: Some(Event::DesktopActivated(a)), .. },
            ..
        } = item
        {
            activated = Some(a);
            break;
        }
    }
    let Some(activated) = activated else {
        return fail("This recording has no desktop in it (the session ended before the desktop was ready).".into());
    };
    {
        let mut p = player.borrow_mut();
        p.canvas.set_width(activated.width);
        p.canvas.set_height(activated.height);
        p.index = index;
        p.activated = Some(activated);
    }
    post(&scope, &[("t", "loaded".into()), ("width", activated.width.into()), ("height", activated.height.into())]);
    let target = player.borrow_mut().pending_seek.take().unwrap_or(0.0);
    seek(player, target).await;
}

fn paint(context: &OffscreenCanvasRenderingContext2d, playback: &mut Playback, dirty: &[Rect]) {
    let Some(decoder) = playback.decoder_mut() else { return };
    for rect in dirty {
        let pixels = decoder.rect_pixels(*rect);
        if let Ok(image) =
            ImageData::new_with_u8_clamped_array_and_sh(Clamped(pixels), u32::from(rect.width), u32::from(rect.height))
        {
            let _ = context.put_image_data(&image, f64::from(rect.x), f64::from(rect.y));
        }
    }
}

fn clear(context: &OffscreenCanvasRenderingContext2d, width: u32, height: u32) {
    context.set_fill_style_str("#000");
    context.fill_rect(0.0, 0.0, f64::from(width), f64::from(height));
}

/// Shows the moment `ms`: the keyframe before it, then the updates up to it.
async fn seek(player: Shared, ms: f64) {
    let (generation, base, keyframe, activated, scope) = {
        let mut p = player.borrow_mut();
        p.generation += 1;
        p.seeking = true;
        let keyframe = p.index.iter().rev().find(|k| (k.offset_ms as f64) <= ms).cloned();
        (p.generation, p.base.clone(), keyframe, p.activated, p.scope.clone())
    };
    let Some(activated) = activated else {
        player.borrow_mut().pending_seek = Some(ms);
        return;
    };
    let playback = match &keyframe {
        Some(keyframe) => {
            let end = keyframe.screen_at + u64::from(keyframe.screen_len).max(1) - 1;
            let compressed = match get_range(&base, "keyframes", keyframe.screen_at, end).await {
                Ok((bytes, _)) => bytes,
                Err(err) => {
                    player.borrow_mut().seeking = false;
                    return post(&scope, &[("t", "error".into()), ("message", err.into())]);
                }
            };
            let rgba = miniz_oxide::inflate::decompress_to_vec_zlib(&compressed).unwrap_or_default();
            let p = player.borrow();
            if p.generation != generation {
                return;
            }
            if rgba.len() as u64 == u64::from(keyframe.cols) * u64::from(keyframe.rows) * 4 {
                if let Ok(image) =
                    ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), keyframe.cols, keyframe.rows)
                {
                    let _ = p.context.put_image_data(&image, 0.0, 0.0);
                }
            } else {
                clear(&p.context, activated.width, activated.height);
            }
            // The decoder starts from the keyframe too: repaints of merged areas copy
            // from it, so anything not redrawn since must be the keyframe's, not black.
            Playback::from_keyframe(&activated, &rgba, keyframe.byte_offset, keyframe.offset_ms)
        }
        None => {
            clear(&player.borrow().context, activated.width, activated.height);
            Playback::from_start()
        }
    };
    {
        let mut p = player.borrow_mut();
        p.playback = Some(playback);
        p.eof = false;
        p.fetching = false;
    }
    // Fetch until the target moment is covered, decoding as we go.
    loop {
        let (covered, next) = {
            let p = player.borrow();
            if p.generation != generation {
                return;
            }
            let playback = p.playback.as_ref().expect("set above");
            (p.eof || playback.next_event_ms().is_some_and(|t| t as f64 > ms), playback.next_byte())
        };
        {
            let p = &mut *player.borrow_mut();
            let playback = p.playback.as_mut().expect("set above");
            let advance = playback.advance(ms as u64);
            paint(&p.context, playback, &advance.dirty);
        }
        if covered {
            break;
        }
        match get_range(&base, "recording", next, next + CHUNK - 1).await {
            Ok((bytes, done)) => {
                let p = &mut *player.borrow_mut();
                if p.generation != generation {
                    return;
                }
                if let Some(playback) = p.playback.as_mut()
                    && playback.push(&bytes).is_err()
                {
                    p.eof = true;
                }
                p.eof |= done || bytes.is_empty();
            }
            Err(err) => {
                player.borrow_mut().seeking = false;
                return post(&scope, &[("t", "error".into()), ("message", err.into())]);
            }
        }
    }
    let mut p = player.borrow_mut();
    p.clock_ms = ms;
    p.seeking = false;
    p.last_tick = now(&p.scope);
    p.last_posted = 0.0;
    let playing = p.playing;
    post(
        &p.scope,
        &[("t", "position".into()), ("ms", ms.into()), ("playing", playing.into()), ("seeked", true.into())],
    );
}

/// Reads ahead while playing.
async fn fetch_ahead(player: Shared) {
    let (generation, base, next) = {
        let mut p = player.borrow_mut();
        p.fetching = true;
        (p.generation, p.base.clone(), p.playback.as_ref().map_or(0, Playback::next_byte))
    };
    let result = get_range(&base, "recording", next, next + CHUNK - 1).await;
    let p = &mut *player.borrow_mut();
    if p.generation != generation {
        return;
    }
    p.fetching = false;
    match result {
        Ok((bytes, done)) => {
            if let Some(playback) = p.playback.as_mut()
                && playback.push(&bytes).is_err()
            {
                p.eof = true;
            }
            p.eof |= done || bytes.is_empty();
        }
        Err(err) => {
            p.playing = false;
            post(&p.scope, &[("t", "error".into()), ("message", err.into())]);
        }
    }
}

fn start_clock(player: Shared) {
    let tick = move || {
        let fetch;
        {
            let p = &mut *player.borrow_mut();
            if p.seeking || p.playback.is_none() {
                return;
            }
            let t = now(&p.scope);
            let playback = p.playback.as_mut().expect("checked");
            let waiting = playback.next_event_ms().is_none() && !p.eof;
            if p.playing && !waiting {
                p.clock_ms += (t - p.last_tick) * p.speed;
            }
            p.last_tick = t;
            let advance = playback.advance(p.clock_ms as u64);
            paint(&p.context, playback, &advance.dirty);
            let finished = advance.ended || (p.eof && playback.next_event_ms().is_none());
            if finished && p.playing {
                p.playing = false;
                post(&p.scope, &[("t", "ended".into()), ("ms", p.clock_ms.into())]);
            }
            fetch = !p.eof && !p.fetching && playback.queued_bytes() < AHEAD;
            if t - p.last_posted > 100.0 {
                p.last_posted = t;
                post(&p.scope, &[("t", "position".into()), ("ms", p.clock_ms.into()), ("playing", p.playing.into())]);
            }
        }
        if fetch {
            wasm_bindgen_futures::spawn_local(fetch_ahead(player.clone()));
        }
    };
    CLOCK.with(|clock| *clock.borrow_mut() = Some(Interval::new(16, tick)));
}
