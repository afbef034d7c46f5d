//! The worker's player mode: a desktop recording on the canvas. The page sends
//! `PlayOpen` (after the canvas), then `Play`, `Pause`, `Seek`, `Speed`; the worker
//! answers `Loaded`, `Position` about ten times a second, `Ended`, and `Error`.
//!
//! A seek paints the keyframe before the target (a whole decoded screen the proxy made)
//! and decodes only the updates between it and the target; playing fetches the
//! recording ahead in Range pieces, so a long recording starts as fast as a short one.
//! Which pieces, and the clock, are [`gatehouse_recording::player`]'s, as in the
//! terminal player.

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse_desktop::decoder::Rect;
use gatehouse_desktop::playback::Playback;
use gatehouse_proto::pb::DesktopActivated;
use gatehouse_proto::pb::DesktopSize;
use gatehouse_proto::pb::recording_event::Event;
use gatehouse_proto::worker::{FromWorker, ToWorker, WorkerPosition};
use gatehouse_recording::player::{Clock, DEFAULT_IDLE_LIMIT_MS, Planner, Request, whole_length};
use gatehouse_recording::{Item, Reader};
use gloo_timers::callback::Interval;
use js_sys::Uint8Array;
use wasm_bindgen::{Clamped, JsCast};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DedicatedWorkerGlobalScope, Headers, ImageData, OffscreenCanvas, OffscreenCanvasRenderingContext2d,
    RequestCredentials, RequestInit, Response,
};

use crate::page::context_2d;

/// Bytes fetched per Range request, and the most kept decoded-ahead.
const CHUNK: u64 = 1 << 20;
const AHEAD: usize = 512 * 1024;

struct Player {
    scope: DedicatedWorkerGlobalScope,
    base: String,
    context: OffscreenCanvasRenderingContext2d,
    canvas: OffscreenCanvas,
    /// What to fetch; it drops answers to an older seek's fetches.
    planner: Planner,
    activated: Option<DesktopActivated>,
    playback: Option<Playback>,
    /// The whole file has been fetched.
    eof: bool,
    seeking: bool,
    clock: Clock,
    last_posted: f64,
    /// A seek asked for before the recording's start was read; done once it is.
    pending_seek: Option<u64>,
}

type Shared = Rc<RefCell<Player>>;

thread_local! {
    static PLAYER: RefCell<Option<Shared>> = const { RefCell::new(None) };
    /// The player's clock: it ticks while it is kept here, that is for the worker's life.
    static CLOCK: RefCell<Option<Interval>> = const { RefCell::new(None) };
}

fn post(scope: &DedicatedWorkerGlobalScope, message: FromWorker) {
    crate::page::post(scope, message);
}

fn fail(scope: &DedicatedWorkerGlobalScope, message: String) {
    post(scope, FromWorker::Error(message));
}

fn now(scope: &DedicatedWorkerGlobalScope) -> f64 {
    scope.performance().map(|p| p.now()).unwrap_or(0.0)
}

/// Handles the page's player messages (`PlayOpen` draws on the canvas `given` takes);
/// false if `message` is not one.
pub fn on_message(
    scope: &DedicatedWorkerGlobalScope,
    message: &ToWorker,
    given: impl FnOnce() -> Option<OffscreenCanvas>,
) -> bool {
    match message {
        ToWorker::PlayOpen(base) => {
            let Some((canvas, context)) = given().and_then(|canvas| Some((canvas.clone(), context_2d(&canvas)?)))
            else {
                fail(scope, "This browser cannot draw the desktop.".into());
                return true;
            };
            let player = Rc::new(RefCell::new(Player {
                scope: scope.clone(),
                base: base.clone(),
                context,
                canvas,
                planner: Planner::new(Vec::new(), CHUNK),
                activated: None,
                playback: None,
                eof: false,
                seeking: true,
                clock: {
                    let mut clock = Clock::new();
                    clock.set_idle_limit(DEFAULT_IDLE_LIMIT_MS);
                    clock
                },
                last_posted: 0.0,
                pending_seek: None,
            }));
            PLAYER.with(|p| *p.borrow_mut() = Some(player.clone()));
            start_clock(player.clone());
            wasm_bindgen_futures::spawn_local(open(player));
        }
        ToWorker::Play(_)
        | ToWorker::Pause(_)
        | ToWorker::SeekMs(_)
        | ToWorker::Speed(_)
        | ToWorker::IdleLimitMs(_) => {
            let Some(player) = PLAYER.with(|p| p.borrow().clone()) else { return true };
            match *message {
                ToWorker::Play(_) => {
                    let mut p = player.borrow_mut();
                    let t = now(&p.scope);
                    p.clock.play(t);
                    if p.playback.as_ref().is_some_and(Playback::ended) {
                        drop(p);
                        wasm_bindgen_futures::spawn_local(seek(player.clone(), 0));
                    }
                }
                ToWorker::Pause(_) => player.borrow_mut().clock.pause(),
                ToWorker::Speed(speed) => player.borrow_mut().clock.set_speed(speed),
                ToWorker::IdleLimitMs(ms) => player.borrow_mut().clock.set_idle_limit(ms),
                ToWorker::SeekMs(ms) => wasm_bindgen_futures::spawn_local(seek(player.clone(), ms)),
                _ => {}
            }
        }
        _ => return false,
    }
    true
}

/// Bytes `start..=end` of one of the recording's files, and the file's whole length.
async fn get_range(base: &str, part: &str, start: u64, end: u64) -> Result<(Vec<u8>, u64), String> {
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
    let total =
        || -> Option<u64> { response.headers().get("content-range").ok().flatten().and_then(|v| whole_length(&v)) };
    if response.status() == 416 {
        // Asked from the end of the file: nothing more, yet.
        return Ok((Vec::new(), total().unwrap_or(start)));
    }
    if !response.ok() {
        return Err(format!("The recording could not be read (the server answered {}).", response.status()));
    }
    let total = total();
    let buffer =
        JsFuture::from(response.array_buffer().map_err(|_| unreachable())?).await.map_err(|_| unreachable())?;
    let bytes = Uint8Array::new(&buffer).to_vec();
    // "bytes a-b/len" for 206; a 200 is the whole file.
    let len = total.unwrap_or(bytes.len() as u64);
    Ok((bytes, len))
}

async fn open(player: Shared) {
    let (scope, base) = {
        let p = player.borrow();
        (p.scope.clone(), p.base.clone())
    };
    let fail = |message: String| self::fail(&scope, message);
    let index = match get_range(&base, "index", 0, u64::MAX - 1).await {
        Ok((bytes, _)) => gatehouse_recording::read_index(&bytes).map(|(index, _)| index).unwrap_or_default(),
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
        p.planner = Planner::new(index, CHUNK);
        p.activated = Some(activated);
    }
    post(&scope, FromWorker::Loaded(DesktopSize { width: activated.width, height: activated.height }));
    let target = player.borrow_mut().pending_seek.take().unwrap_or(0);
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

/// The canvas at `width`×`height`, and the page told, when that is a change.
fn resize_canvas(p: &Player, scope: &DedicatedWorkerGlobalScope, width: u32, height: u32) {
    if p.canvas.width() != width || p.canvas.height() != height {
        p.canvas.set_width(width);
        p.canvas.set_height(height);
        post(scope, FromWorker::Loaded(DesktopSize { width, height }));
    }
}

/// The session activated again (at a new size) in the recording: the canvas follows.
fn follow_activation(
    canvas: &OffscreenCanvas,
    context: &OffscreenCanvasRenderingContext2d,
    scope: &DedicatedWorkerGlobalScope,
    advance: &gatehouse_desktop::playback::Advance,
) {
    let Some((width, height)) = advance.activated else { return };
    let (width, height) = (u32::from(width), u32::from(height));
    if canvas.width() != width || canvas.height() != height {
        canvas.set_width(width);
        canvas.set_height(height);
        post(scope, FromWorker::Loaded(DesktopSize { width, height }));
    }
    clear(context, width, height);
}

fn clear(context: &OffscreenCanvasRenderingContext2d, width: u32, height: u32) {
    context.set_fill_style_str("#000");
    context.fill_rect(0.0, 0.0, f64::from(width), f64::from(height));
}

/// Shows the moment `ms`: the keyframe before it, then the updates up to it.
async fn seek(player: Shared, ms: u64) {
    let (plan, base, activated, scope) = {
        let mut p = player.borrow_mut();
        p.seeking = true;
        let plan = p.planner.seek(ms);
        (plan, p.base.clone(), p.activated, p.scope.clone())
    };
    let Some(activated) = activated else {
        player.borrow_mut().pending_seek = Some(ms);
        return;
    };
    let playback = match &plan.keyframe {
        Some(keyframe) => {
            let compressed = match plan.screen {
                Some(range) => match get_range(&base, "keyframes", range.first, range.last).await {
                    Ok((bytes, _)) => bytes,
                    Err(err) => {
                        player.borrow_mut().seeking = false;
                        return fail(&scope, err);
                    }
                },
                None => Vec::new(),
            };
            let rgba = miniz_oxide::inflate::decompress_to_vec_zlib(&compressed).unwrap_or_default();
            let p = player.borrow();
            if !p.planner.is_current(plan.generation) {
                return;
            }
            // The keyframe is the screen at its own size (a session that changed size
            // has keyframes of each).
            let at_keyframe = DesktopActivated { width: keyframe.cols, height: keyframe.rows, ..activated };
            resize_canvas(&p, &scope, at_keyframe.width, at_keyframe.height);
            if rgba.len() as u64 == u64::from(keyframe.cols) * u64::from(keyframe.rows) * 4 {
                if let Ok(image) =
                    ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), keyframe.cols, keyframe.rows)
                {
                    let _ = p.context.put_image_data(&image, 0.0, 0.0);
                }
            } else {
                clear(&p.context, at_keyframe.width, at_keyframe.height);
            }
            // The decoder starts from the keyframe too: repaints of merged areas copy
            // from it, so anything not redrawn since must be the keyframe's, not black.
            Playback::from_keyframe(&at_keyframe, &rgba, keyframe.byte_offset, keyframe.offset_ms)
        }
        None => {
            let p = player.borrow();
            resize_canvas(&p, &scope, activated.width, activated.height);
            clear(&p.context, activated.width, activated.height);
            Playback::from_start()
        }
    };
    {
        let mut p = player.borrow_mut();
        p.playback = Some(playback);
        p.eof = false;
    }
    // Fetch until the target moment is covered, decoding as we go: first the recording
    // up to the next keyframe, then piece by piece.
    let mut request = plan.events;
    loop {
        let (covered, next) = {
            let p = player.borrow();
            if !p.planner.is_current(plan.generation) {
                return;
            }
            let playback = p.playback.as_ref().expect("set above");
            (p.eof || playback.next_event_ms().is_some_and(|t| t > ms), playback.next_byte())
        };
        {
            let p = &mut *player.borrow_mut();
            let playback = p.playback.as_mut().expect("set above");
            let advance = playback.advance(ms);
            follow_activation(&p.canvas, &p.context, &p.scope, &advance);
            paint(&p.context, playback, &advance.dirty);
        }
        if covered {
            break;
        }
        if request.offset() != next {
            request = player.borrow().planner.request(next);
        }
        let range = request.range();
        match get_range(&base, "recording", range.first, range.last).await {
            Ok((bytes, len)) => {
                let p = &mut *player.borrow_mut();
                let Some(answer) = p.planner.answer(&request, &bytes, len) else { return };
                take(p, answer.bytes, answer.reaches_end());
            }
            Err(err) => {
                player.borrow_mut().seeking = false;
                return fail(&scope, err);
            }
        }
    }
    let mut p = player.borrow_mut();
    let t = now(&p.scope);
    p.clock.seek(ms);
    p.clock.wait(t);
    p.seeking = false;
    p.last_posted = 0.0;
    post(&p.scope, FromWorker::Position(WorkerPosition { ms, playing: p.clock.playing(), seeked: true }));
}

/// Bytes of the recording that arrived, in order; `last` when they reach the end of
/// the file.
fn take(p: &mut Player, bytes: &[u8], last: bool) {
    if let Some(playback) = p.playback.as_mut()
        && playback.push(bytes).is_err()
    {
        p.eof = true;
    }
    p.eof |= last || bytes.is_empty();
}

/// Reads ahead while playing.
async fn fetch_ahead(player: Shared, request: Request) {
    let base = player.borrow().base.clone();
    let range = request.range();
    let result = get_range(&base, "recording", range.first, range.last).await;
    let p = &mut *player.borrow_mut();
    match result {
        Ok((bytes, len)) => {
            let Some(answer) = p.planner.answer(&request, &bytes, len) else { return };
            take(p, answer.bytes, answer.reaches_end());
        }
        Err(err) => {
            if p.planner.failed(&request) {
                p.clock.pause();
                fail(&p.scope, err);
            }
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
            // Nothing to play until more of the file arrives: the clock waits.
            let waiting = playback.next_event_ms().is_none() && !p.eof;
            let position = if waiting {
                p.clock.wait(t);
                p.clock.position_ms()
            } else {
                // The next event's time lets the clock shorten a long pause to the limit.
                let next = playback.next_event_ms();
                p.clock.tick(t, next)
            };
            let advance = playback.advance(position);
            follow_activation(&p.canvas, &p.context, &p.scope, &advance);
            paint(&p.context, playback, &advance.dirty);
            let finished = advance.ended || (p.eof && playback.next_event_ms().is_none());
            if finished && p.clock.playing() {
                p.clock.pause();
                post(&p.scope, FromWorker::EndedMs(position));
            }
            let hungry = !p.eof && playback.queued_bytes() < AHEAD;
            let next = playback.next_byte();
            fetch = if hungry { p.planner.ahead(next) } else { None };
            if t - p.last_posted > 100.0 {
                p.last_posted = t;
                post(
                    &p.scope,
                    FromWorker::Position(WorkerPosition {
                        ms: p.clock.position_ms(),
                        playing: p.clock.playing(),
                        seeked: false,
                    }),
                );
            }
        }
        if let Some(request) = fetch {
            wasm_bindgen_futures::spawn_local(fetch_ahead(player.clone(), request));
        }
    };
    CLOCK.with(|clock| *clock.borrow_mut() = Some(Interval::new(16, tick)));
}
