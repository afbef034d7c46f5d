//! `/recordings/{id}`: the player. The same terminal model and canvas renderer as a
//! live tab, read-only. It reads the small index whole, then the recording in Range
//! pieces as playback needs them, so it starts at once however long the recording is;
//! a seek starts from the nearest keyframe before the target. What to fetch and when,
//! and the clock, are [`gatehouse_recording::player`]'s; this page does the fetching,
//! the painting and the controls.

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse_proto::api::{RecordingInfo, RecordingKind, SearchHit, SearchHits};
use gatehouse_recording::player::terminal::Playback;
use gatehouse_recording::player::{Clock, DEFAULT_IDLE_LIMIT_MS, Generation, Planner};
use leptos::html;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::recordings::{clock, size, when};
use crate::api;
use crate::components::player_controls::{PlayState as State, PlayerControls, PlayerHelp, Transport};
use crate::components::require_session::RequireSession;
use crate::components::term_renderer::Renderer;
use crate::components::terminal_view::fixed_renderer;
use crate::term_prefs::use_term_prefs;

/// The clock's per-frame callback, kept so each frame can ask for the next.
type AnimationFrame = Closure<dyn FnMut(f64)>;

/// Bytes of the recording fetched per Range request.
const CHUNK: u64 = 512 * 1024;
/// Animation frames stop while the tab is hidden: coming back counts as one frame.
const LONGEST_FRAME_MS: f64 = 250.0;

/// How long a live recording's player waits for its index to reach this proxy (another
/// proxy uploads it every couple of seconds) before it says it cannot play it.
const LIVE_INDEX_WAIT_MS: u32 = 15_000;

#[component]
pub fn PlayerPage() -> impl IntoView {
    let params = use_params_map();
    let id = params.with_untracked(|p| p.get("id").unwrap_or_default());
    // Desktop recordings have their own player; the kind is in the metadata.
    let kind = RwSignal::new(None::<Result<RecordingInfo, String>>);
    {
        let id = id.clone();
        leptos::task::spawn_local(async move {
            let base = format!("/api/v1/recordings/{}", js_sys::encode_uri_component(&id));
            kind.set(Some(api::get::<RecordingInfo>(&base).await.map_err(|f| f.message)));
        });
    }
    view! {
        <RequireSession>
            {
                let id = id.clone();
                move || match kind.get() {
                    None => view! { <crate::components::spinner::Loading label="Opening the recording…"/> }.into_any(),
                    Some(Ok(info)) if info.kind == RecordingKind::Desktop => view! { <super::desktop_player::DesktopPlayer info=info/> }.into_any(),
                    Some(_) => view! { <Player id=id.clone()/> }.into_any(),
                }
            }
        </RequireSession>
    }
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Everything playback needs that is not a signal: the fetch plan (which drops answers
/// to an older seek's fetches), the clock, the playback itself, the renderer.
struct Engine {
    base: String,
    planner: Planner,
    clock: Clock,
    playback: Option<Playback>,
    renderer: Option<Renderer>,
    canvas: Option<web_sys::HtmlCanvasElement>,
    mirror: Option<web_sys::HtmlElement>,
    grid: (u16, u16),
    width: f64,
}

impl Engine {
    fn new(base: String) -> Engine {
        let mut clock = Clock::new().with_longest_step(LONGEST_FRAME_MS);
        clock.set_idle_limit(DEFAULT_IDLE_LIMIT_MS);
        Engine {
            base,
            planner: Planner::new(Vec::new(), CHUNK),
            clock,
            playback: None,
            renderer: None,
            canvas: None,
            mirror: None,
            grid: (0, 0),
            width: 0.0,
        }
    }
}

type Shared = Rc<RefCell<Engine>>;

/// Signals the page shows; Copy, so every closure can hold them.
#[derive(Clone, Copy)]
struct Ui {
    state: RwSignal<State>,
    position: RwSignal<u64>,
    duration: RwSignal<u64>,
    notice: RwSignal<Option<String>>,
    error: RwSignal<Option<String>>,
    /// A seek is fetching or replaying; the screen shows its target once this is false.
    seeking: RwSignal<bool>,
    /// The session was running when the player opened.
    live: RwSignal<bool>,
}

/// Paints the playback's screen, sizing the canvas to the recording's terminal (and the
/// font to the page's width) when that changes.
fn paint(engine: &mut Engine, palette: &'static crate::term_prefs::Palette) {
    let Engine { playback, renderer, canvas, mirror, grid, width, .. } = engine;
    let (Some(playback), Some(canvas)) = (playback.as_mut(), canvas.as_ref()) else { return };
    let size = playback.terminal().size();
    if renderer.is_none() || *grid != size {
        let (rows, cols) = size;
        let font = (*width / (f64::from(cols) * 0.61)).floor().clamp(6.0, 16.0);
        *renderer = fixed_renderer(canvas, rows, cols, font, palette);
        *grid = size;
        playback.terminal().repaint_all();
    }
    if let Some(renderer) = renderer.as_mut() {
        renderer.paint(playback.terminal(), mirror.as_ref());
    }
}

/// Fetches what the playback wants next, then calls `then`. One fetch at a time.
fn pump(engine: Shared, ui: Ui, then: Rc<dyn Fn()>) {
    let (request, url) = {
        let mut e = engine.borrow_mut();
        let Some(offset) = e.playback.as_ref().and_then(Playback::wants) else { return };
        let Some(request) = e.planner.ahead(offset) else { return };
        (request, format!("{}/data/recording", e.base))
    };
    leptos::task::spawn_local(async move {
        let range = request.range();
        let answer = api::get_range(&url, range.first, range.last).await;
        {
            let e = &mut *engine.borrow_mut();
            match answer {
                Ok((bytes, len)) => {
                    // A seek since has its own fetches; this answer is not for it.
                    let Some(answer) = e.planner.answer(&request, &bytes, len) else { return };
                    if let Some(playback) = e.playback.as_mut() {
                        playback.push(answer.offset, answer.bytes, answer.file_len);
                    }
                }
                Err(failure) => {
                    if !e.planner.failed(&request) {
                        return;
                    }
                    // Stop, rather than ask again every frame (an ended session, a
                    // restarted proxy): the message says what happened.
                    ui.error.set(Some(failure.message));
                    ui.state.set(State::Paused);
                    return;
                }
            }
        }
        then();
    });
}

/// Jumps to `target_ms`: the keyframe before it, then the events up to it.
fn seek(engine: Shared, ui: Ui, target_ms: u64, palette: &'static crate::term_prefs::Palette) {
    let (plan, base) = {
        let mut e = engine.borrow_mut();
        let plan = e.planner.seek(target_ms);
        if plan.keyframe.is_none() {
            return;
        }
        e.clock.seek(target_ms);
        (plan, e.base.clone())
    };
    ui.position.set(target_ms);
    ui.seeking.set(true);
    leptos::task::spawn_local(async move {
        // The keyframe's screen and the recording after it, at once.
        let screen = async {
            let Some(range) = plan.screen else { return Ok(Vec::new()) };
            api::get_range(&format!("{base}/data/keyframes"), range.first, range.last).await.map(|(bytes, _)| bytes)
        };
        let (recording_url, events_range) = (format!("{base}/data/recording"), plan.events.range());
        let events = api::get_range(&recording_url, events_range.first, events_range.last);
        let (screen, events) = futures_util::future::join(screen, events).await;
        let screen = match screen {
            Ok(bytes) => bytes,
            Err(failure) => return ui.error.set(Some(failure.message)),
        };
        {
            let e = &mut *engine.borrow_mut();
            let Some(keyframe) = plan.keyframe.as_ref().filter(|_| e.planner.is_current(plan.generation)) else {
                return;
            };
            let mut playback = Playback::from_keyframe(keyframe, &screen, 1000);
            if let Ok((bytes, len)) = events
                && let Some(answer) = e.planner.answer(&plan.events, &bytes, len)
            {
                playback.push(answer.offset, answer.bytes, answer.file_len);
            }
            e.playback = Some(playback);
        }
        settle(engine, ui, target_ms, plan.generation, palette);
    });
}

/// After a seek: fetch until the events up to `target_ms` are here, play them, paint.
fn settle(
    engine: Shared,
    ui: Ui,
    target_ms: u64,
    generation: Generation,
    palette: &'static crate::term_prefs::Palette,
) {
    let starved = {
        let mut e = engine.borrow_mut();
        if !e.planner.is_current(generation) {
            return;
        }
        let Some(playback) = e.playback.as_mut() else { return };
        playback.advance_to(target_ms);
        let starved = playback.starved(target_ms);
        if !starved {
            paint(&mut e, palette);
            report(&e, ui);
            ui.seeking.set(false);
        }
        starved
    };
    if starved {
        let again = engine.clone();
        pump(engine, ui, Rc::new(move || settle(again.clone(), ui, target_ms, generation, palette)));
    } else if ui.state.get_untracked() == State::Loading {
        ui.state.set(State::Paused);
    }
}

/// Ending, damage and the like, for the line under the screen.
fn report(e: &Engine, ui: Ui) {
    if let Some(playback) = e.playback.as_ref() {
        if let Some(damage) = playback.damaged() {
            ui.notice.set(Some(damage.to_string()));
        } else if let Some(end) = playback.ended() {
            let status = end.exit_status.map(|s| format!(" (exit status {s})")).unwrap_or_default();
            ui.notice.set(Some(format!("The session ended: {}{status}.", end.reason)));
        }
    }
}

#[component]
fn Player(id: String) -> impl IntoView {
    let prefs = use_term_prefs();
    let palette = prefs.theme.get_untracked().palette();
    let info = RwSignal::new(None::<RecordingInfo>);
    let ui = Ui {
        state: RwSignal::new(State::Loading),
        position: RwSignal::new(0),
        duration: RwSignal::new(0),
        notice: RwSignal::new(None),
        error: RwSignal::new(None),
        seeking: RwSignal::new(false),
        live: RwSignal::new(false),
    };
    let hits = RwSignal::new(None::<Vec<SearchHit>>);
    let marks = RwSignal::new(Vec::<gatehouse_proto::api::Mark>::new());
    let query = RwSignal::new(String::new());
    let canvas_ref = NodeRef::<html::Canvas>::new();
    let mirror_ref = NodeRef::<html::Pre>::new();
    let screen_ref = NodeRef::<html::Div>::new();
    let base = format!("/api/v1/recordings/{}", js_sys::encode_uri_component(&id));
    let engine: Shared = Rc::new(RefCell::new(Engine::new(base.clone())));
    let engine_store = StoredValue::new_local(engine.clone());

    // Load: metadata, then the index, then the first frame.
    {
        let engine = engine.clone();
        let base = base.clone();
        Effect::new(move |_| {
            let (Some(canvas), Some(mirror), Some(screen)) = (canvas_ref.get(), mirror_ref.get(), screen_ref.get())
            else {
                return;
            };
            {
                let mut e = engine.borrow_mut();
                e.canvas = Some(canvas.clone());
                e.mirror = Some(mirror.unchecked_ref::<web_sys::HtmlElement>().clone());
                e.width = f64::from(screen.client_width()).max(320.0);
            }
            let (engine, base) = (engine.clone(), base.clone());
            leptos::task::spawn_local(async move {
                let meta = match api::get::<RecordingInfo>(&base).await {
                    Ok(meta) => meta,
                    Err(failure) => return ui.error.set(Some(failure.message)),
                };
                ui.duration.set(meta.duration_ms.unwrap_or(0));
                ui.live.set(meta.live);
                {
                    let url = format!("{base}/marks");
                    leptos::task::spawn_local(async move {
                        if let Ok(found) = api::get::<gatehouse_proto::api::Marks>(&url).await {
                            marks.set(found.marks);
                        }
                    });
                }
                if meta.cut_short {
                    ui.notice.set(Some("This recording was cut short: the proxy stopped during the session. It plays up to that moment.".into()));
                }
                let live = meta.live;
                info.set(Some(meta));
                // A session that has only just started on another proxy has uploaded no
                // index yet (it goes up every couple of seconds): wait for it a while.
                let mut waited_ms = 0;
                let keyframes = loop {
                    let answer = api::get_range(&format!("{base}/data/index"), 0, u64::MAX - 1).await;
                    let refused = match answer {
                        Ok((bytes, _)) => match gatehouse_recording::read_index(&bytes) {
                            Ok((keyframes, _)) if !keyframes.is_empty() => break keyframes,
                            _ => "This recording has no usable index, so it cannot be played.".to_string(),
                        },
                        Err(failure) => failure.message,
                    };
                    if !live || waited_ms >= LIVE_INDEX_WAIT_MS {
                        ui.notice.set(None);
                        return ui.error.set(Some(refused));
                    }
                    ui.notice.set(Some(
                        "This session has only just started: waiting for its first moments to reach this proxy…".into(),
                    ));
                    gloo_timers::future::TimeoutFuture::new(500).await;
                    waited_ms += 500;
                };
                if waited_ms > 0 {
                    ui.notice.set(None);
                }
                engine.borrow_mut().planner = Planner::new(keyframes, CHUNK);
                seek(engine, ui, 0, palette);
            });
        });
    }

    // While playing, each animation frame asks the clock where playback should be (the
    // time that passed times the speed, idle gaps shortened) and plays up to there.
    let frame_engine = engine.clone();
    let tick: Rc<RefCell<Option<AnimationFrame>>> = Rc::default();
    let last_poll = std::cell::Cell::new(0.0f64);
    {
        let tick_self = tick.clone();
        *tick.borrow_mut() = Some(Closure::new(move |_: f64| {
            let state = ui.state.get_untracked();
            if !matches!(state, State::Playing | State::Buffering | State::Live) {
                return;
            }
            let next_frame = || {
                if let (Some(window), Some(closure)) = (web_sys::window(), tick_self.borrow().as_ref()) {
                    let _ = window.request_animation_frame(closure.as_ref().unchecked_ref());
                }
            };
            let now = now_ms();
            // A seek (or a replay from the start) is fetching: the clock waits for it
            // rather than play on the old position.
            if ui.seeking.get_untracked() {
                frame_engine.borrow_mut().clock.wait(now);
                return next_frame();
            }
            let need_bytes;
            {
                let mut e = frame_engine.borrow_mut();
                let Engine { playback, clock, .. } = &mut *e;
                let Some(playback) = playback.as_mut() else { return };
                let target = clock.tick(now, playback.next_event_ms());
                let advance = playback.advance_to(target);
                // Short of the target (waiting for bytes, or following a running
                // session): the clock goes on from where playback got.
                clock.hold_at(playback.position_ms());
                // A running session whose every event so far has played: follow it, asking
                // each second for what was written since.
                let following = ui.live.get_untracked()
                    && playback.ended().is_none()
                    && playback.damaged().is_none()
                    && playback.next_event_ms().is_none();
                if following && now - last_poll.get() > 1000.0 {
                    last_poll.set(now);
                    playback.expect_more();
                }
                if playback.ended().is_some() {
                    ui.live.set(false);
                }
                let ended = playback.at_end() && !following;
                let position = playback.position_ms();
                let starved = playback.starved(target) && !following;
                need_bytes = playback.wants().is_some() && ui.error.with_untracked(Option::is_none);
                if advance.changed {
                    paint(&mut e, palette);
                    report(&e, ui);
                }
                let duration = ui.duration.get_untracked();
                let (position, next_state) = if following {
                    if position > duration {
                        ui.duration.set(position);
                    }
                    (position, State::Live)
                } else if ended {
                    // The end is the last event (the duration), however far the clock ran.
                    report(&e, ui);
                    (if duration > 0 { duration } else { position }, State::Ended)
                } else {
                    let shown =
                        if duration > 0 && !ui.live.get_untracked() { position.min(duration) } else { position };
                    (shown, if starved { State::Buffering } else { State::Playing })
                };
                // Only what changed: each set re-renders what shows it.
                if ui.position.get_untracked() != position {
                    ui.position.set(position);
                }
                if ui.state.get_untracked() != next_state {
                    ui.state.set(next_state);
                }
            }
            if need_bytes {
                pump(frame_engine.clone(), ui, Rc::new(|| {}));
            }
            if matches!(ui.state.get_untracked(), State::Playing | State::Buffering | State::Live) {
                next_frame();
            }
        }));
    }
    let tick_store = StoredValue::new_local(tick);
    let start_clock = move || {
        engine_store.with_value(|engine| engine.borrow_mut().clock.play(now_ms()));
        tick_store.with_value(|tick| {
            if let (Some(window), Some(closure)) = (web_sys::window(), tick.borrow().as_ref()) {
                let _ = window.request_animation_frame(closure.as_ref().unchecked_ref());
            }
        });
    };
    let start_clock = StoredValue::new_local(start_clock);

    let toggle = move || match ui.state.get_untracked() {
        State::Paused => {
            ui.state.set(State::Playing);
            start_clock.with_value(|start| start());
        }
        State::Ended => {
            // Play again from the start.
            engine_store.with_value(|engine| seek(engine.clone(), ui, 0, palette));
            ui.notice.set(None);
            ui.state.set(State::Playing);
            start_clock.with_value(|start| start());
        }
        State::Playing | State::Buffering | State::Live => {
            ui.state.set(State::Paused);
            engine_store.with_value(|engine| engine.borrow_mut().clock.pause());
        }
        State::Loading => {}
    };
    let jump = move |target: u64| {
        let target = target.min(ui.duration.get_untracked());
        if ui.state.get_untracked() == State::Ended {
            ui.state.set(State::Paused);
            ui.notice.set(None);
        }
        engine_store.with_value(|engine| seek(engine.clone(), ui, target, palette));
    };
    let transport = Transport {
        state: ui.state.into(),
        position: ui.position.into(),
        duration: ui.duration.into(),
        toggle: Callback::new(move |()| toggle()),
        seek: Callback::new(jump),
        set_speed: Callback::new(move |speed| {
            engine_store.with_value(|engine| engine.borrow_mut().clock.set_speed(speed));
        }),
        set_idle_limit: Callback::new(move |limit| {
            engine_store.with_value(|engine| engine.borrow_mut().clock.set_idle_limit(limit));
        }),
    };
    let run_search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let q = query.get_untracked();
        let url = format!(
            "{}/search?q={}",
            engine_store.with_value(|e| e.borrow().base.clone()),
            js_sys::encode_uri_component(&q)
        );
        leptos::task::spawn_local(async move {
            match api::get::<SearchHits>(&url).await {
                Ok(found) => hits.set(Some(found.hits)),
                Err(failure) => ui.error.set(Some(failure.message)),
            }
        });
    };

    let title = move || {
        info.get().map(|r| {
            let place = if r.login.is_empty() { r.target.clone() } else { format!("{}@{}", r.login, r.target) };
            format!("{place} · {} · {} · {}", r.user, when(r.started_at), size(r.bytes))
        })
    };
    let cast_href = format!("{base}/cast");

    view! {
        <section class="page player-page" tabindex="0" on:keydown=move |ev| transport.on_key(&ev) data-testid="player"
            data-state=move || ui.state.get().id() data-position=move || ui.position.get().to_string()
            data-duration=move || ui.duration.get().to_string() data-seeking=move || ui.seeking.get().to_string()>
            <div class="player-head">
                <a class="button button-small" href="/recordings">"← Recordings"</a>
                <h1 class="player-title" data-testid="player-title">{title}</h1>
                <a class="button button-small" href=cast_href download="" data-testid="export-cast"
                    title="Download as an asciicast v2 file (asciinema)">"Export .cast"</a>
            </div>
            {move || ui.error.get().map(|message| view! { <div class="alert alert-error" role="alert" data-testid="player-error">{message}</div> })}
            <div class="player-screen" node_ref=screen_ref>
                <canvas class="terminal-canvas" node_ref=canvas_ref data-testid="player-canvas"></canvas>
                <pre class="visually-hidden" node_ref=mirror_ref data-testid="screen-text" aria-live="off"></pre>
                {move || (ui.state.get() == State::Loading && ui.error.get().is_none()).then(|| view! {
                    <div class="ssh-overlay"><crate::components::spinner::Loading label="Opening the recording…"/></div>
                })}
            </div>
            <PlayerControls transport=transport marks=marks/>
            {move || ui.notice.get().map(|notice| view! { <p class="player-notice" data-testid="player-notice">{notice}</p> })}
            <form class="player-search" on:submit=run_search role="search">
                <input type="search" placeholder="Find text that appeared on screen" aria-label="Find text in the recording"
                    bind:value=query data-testid="player-search-input"/>
                <button class="button button-small" type="submit" data-testid="player-search">"Find"</button>
            </form>
            {move || hits.get().map(|found| if found.is_empty() {
                view! { <p class="empty" data-testid="player-no-hits">"Not found in this recording."</p> }.into_any()
            } else {
                view! {
                    <ol class="hits" data-testid="player-hits">
                        {found.into_iter().map(|hit| {
                            let at = hit.offset_ms;
                            view! {
                                <li><button class="hit" type="button" data-testid="player-hit" data-offset=at.to_string()
                                    on:click=move |_| jump(at)>
                                    <span class="hit-time">{clock(at)}</span>" "<span class="hit-line">{hit.line.clone()}</span>
                                </button></li>
                            }
                        }).collect_view()}
                    </ol>
                }.into_any()
            })}
            <PlayerHelp/>
        </section>
    }
}
