//! The player's controls, one component for both kinds of recording: play and pause
//! (Replay at the end), the time, the timeline with its marks and the time under the
//! pointer, speed, idle skip, and the keyboard shortcuts. The page owns playback (the
//! terminal's on the page, a desktop's in its worker) and hands the controls a
//! [`Transport`]: what to show and what to call.

use gatehouse_proto::api::Mark;
use gatehouse_recording::player::{DEFAULT_IDLE_LIMIT_MS, SPEEDS};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::timeline_marks::TimelineMarks;
use crate::pages::recordings::clock;

/// Where playback is, as the controls and the tests (`data-state`) see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlayState {
    Loading,
    Paused,
    Playing,
    /// Playing, but waiting for bytes.
    Buffering,
    /// Caught up with a session that is still running: following it as it is written.
    Live,
    Ended,
}

impl PlayState {
    pub fn id(self) -> &'static str {
        match self {
            PlayState::Loading => "loading",
            PlayState::Paused => "paused",
            PlayState::Playing => "playing",
            PlayState::Buffering => "buffering",
            PlayState::Live => "live",
            PlayState::Ended => "ended",
        }
    }

    /// The clock is running (Pause is what the button offers).
    pub fn running(self) -> bool {
        matches!(self, PlayState::Playing | PlayState::Buffering | PlayState::Live)
    }
}

/// What the controls show and what they ask the page to do. Copy, so every closure and
/// the page's key handler can hold it.
#[derive(Clone, Copy)]
pub struct Transport {
    pub state: Signal<PlayState>,
    pub position: Signal<u64>,
    pub duration: Signal<u64>,
    /// Play, pause, or replay from the start, as the state says.
    pub toggle: Callback<()>,
    /// Go to this many milliseconds in.
    pub seek: Callback<u64>,
    pub set_speed: Callback<f64>,
    /// Pauses longer than this many milliseconds are shortened to it (0: off).
    pub set_idle_limit: Callback<u64>,
}

impl Transport {
    /// The shortcuts, for the page's `keydown`: Space or K plays and pauses, ← and →
    /// move 5 s, a digit jumps to that tenth. Keys typed into a field are the field's.
    pub fn on_key(self, ev: &web_sys::KeyboardEvent) {
        let in_field = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA" | "BUTTON"));
        if in_field || ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
            return;
        }
        let position = self.position.get_untracked();
        let duration = self.duration.get_untracked();
        match ev.key().as_str() {
            " " | "k" => self.toggle.run(()),
            "ArrowLeft" => self.seek.run(position.saturating_sub(5000)),
            "ArrowRight" => self.seek.run((position + 5000).min(duration)),
            digit if digit.len() == 1 && digit.as_bytes()[0].is_ascii_digit() => {
                let tenth = u64::from(digit.as_bytes()[0] - b'0');
                self.seek.run(duration * tenth / 10);
            }
            _ => return,
        }
        ev.prevent_default();
    }
}

#[component]
pub fn PlayerControls(transport: Transport, marks: RwSignal<Vec<Mark>>) -> impl IntoView {
    let Transport { state, position, duration, toggle, seek, set_speed, set_idle_limit } = transport;
    let hover = RwSignal::new(None::<(f64, u64)>);
    let ready = move || state.get() != PlayState::Loading;
    view! {
        <div class="player-controls" data-testid="player-controls">
            <button class="button button-primary" type="button" data-testid="play-pause" on:click=move |_| toggle.run(())
                title="Play or pause (Space)" disabled=move || !ready()>
                {move || match state.get() { s if s.running() => "Pause", PlayState::Ended => "Replay", _ => "Play" }}
            </button>
            {move || (state.get() == PlayState::Live).then(|| view! {
                <span class="badge badge-live" data-testid="live-badge" title="This session is running: you see it as it is recorded">"Live"</span>
            })}
            <span class="player-time" data-testid="player-time">
                {move || format!("{} / {}", clock(position.get()), clock(duration.get()))}
            </span>
            <div class="timeline">
                <input type="range" min="0" step="1" aria-label="Position"
                    prop:max=move || duration.get().max(1).to_string()
                    prop:value=move || position.get().to_string()
                    disabled=move || !ready()
                    data-testid="timeline"
                    on:input=move |ev| {
                        if let Ok(ms) = event_target_value(&ev).parse::<u64>() {
                            seek.run(ms.min(duration.get_untracked()));
                        }
                    }
                    on:mousemove=move |ev: web_sys::MouseEvent| {
                        let Some(target) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) else { return };
                        let width = f64::from(target.client_width()).max(1.0);
                        let x = f64::from(ev.offset_x()).clamp(0.0, width);
                        hover.set(Some((x, (x / width * duration.get_untracked() as f64) as u64)));
                    }
                    on:mouseleave=move |_| hover.set(None)/>
                <TimelineMarks marks=marks duration_ms=duration on_seek=seek/>
                {move || hover.get().map(|(x, ms)| view! {
                    <span class="hover-time" data-testid="hover-time" data-x=x.to_string()
                        style:left=format!("{x}px")>{clock(ms)}</span>
                })}
            </div>
            <label class="player-option">"Speed "
                <select data-testid="speed" on:change=move |ev| {
                    if let Ok(speed) = event_target_value(&ev).parse::<f64>() {
                        set_speed.run(speed);
                    }
                }>
                    {SPEEDS.iter().map(|s| view! { <option value=s.to_string() selected=*s == 1.0>{format!("{s}×")}</option> }).collect_view()}
                </select>
            </label>
            <label class="player-option" title="Pauses longer than this are shortened to it">"Skip idle "
                <select data-testid="idle-limit" on:change=move |ev| {
                    if let Ok(limit) = event_target_value(&ev).parse::<u64>() {
                        set_idle_limit.run(limit);
                    }
                }>
                    {[(0, "off"), (1000, "over 1 s"), (2000, "over 2 s"), (5000, "over 5 s")].into_iter().map(|(ms, label)| view! {
                        <option value=ms.to_string() selected=ms == DEFAULT_IDLE_LIMIT_MS>{label}</option>
                    }).collect_view()}
                </select>
            </label>
        </div>
    }
}

/// The line under a player that says what the keys do.
#[component]
pub fn PlayerHelp() -> impl IntoView {
    view! {
        <p class="player-help">"Space plays and pauses; ← and → move 5 s; 0–9 jump to that tenth of the recording."</p>
    }
}
