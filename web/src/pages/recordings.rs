//! `/recordings`: the sessions a person may replay, newest first, with filters.

use gatehouse_proto::api::{RecordingInfo, RecordingList};
use leptos::prelude::*;

use crate::api;
use crate::components::require_session::RequireSession;
use crate::components::spinner::Loading;

#[component]
pub fn RecordingsPage() -> impl IntoView {
    view! { <RequireSession><RecordingTable/></RequireSession> }
}

/// `2026-11-21 14:05`, in the browser's time zone.
pub fn when(unix_seconds: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix_seconds as f64 * 1000.0));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date(),
        date.get_hours(),
        date.get_minutes()
    )
}

/// `1:02:03` or `4:05`.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn length(r: &RecordingInfo) -> String {
    match (r.live, r.ended_at) {
        (true, _) => "running".to_string(),
        (false, Some(end)) => clock(end.saturating_sub(r.started_at) * 1000),
        (false, None) => "—".to_string(),
    }
}

/// A date field's value (`YYYY-MM-DD`) as Unix seconds at local midnight.
fn day_start(value: &str) -> Option<u64> {
    let mut parts = value.split('-').map(|p| p.parse::<i32>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    let date = js_sys::Date::new_with_year_month_day(year as u32, month - 1, day);
    let ms = date.get_time();
    (ms.is_finite() && ms >= 0.0).then(|| (ms / 1000.0) as u64)
}

fn query_string(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", js_sys::encode_uri_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[derive(Clone)]
enum Load {
    Loading,
    Failed(String),
    Ready(RecordingList),
}

#[component]
fn RecordingTable() -> impl IntoView {
    let (user, target, login, from, to, text) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let page = RwSignal::new(1u32);
    let load = RwSignal::new(Load::Loading);
    let fetch = move || {
        let to_value = to.get_untracked();
        let query = query_string(&[
            ("user", user.get_untracked()),
            ("target", target.get_untracked()),
            ("login", login.get_untracked()),
            ("from", day_start(&from.get_untracked()).map(|s| s.to_string()).unwrap_or_default()),
            // "To" is inclusive: up to the end of that day.
            ("to", day_start(&to_value).map(|s| (s + 86_400).to_string()).unwrap_or_default()),
            ("q", text.get_untracked()),
            ("page", page.get_untracked().to_string()),
            ("per_page", "25".to_string()),
        ]);
        load.set(Load::Loading);
        leptos::task::spawn_local(async move {
            match api::get::<RecordingList>(&format!("/api/v1/recordings?{query}")).await {
                Ok(list) => load.set(Load::Ready(list)),
                Err(failure) => load.set(Load::Failed(failure.message)),
            }
        });
    };
    Effect::new(move |_| fetch());
    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        page.set(1);
        fetch();
    };
    let turn = move |delta: i32| {
        page.update(|p| *p = (*p as i32 + delta).max(1) as u32);
        fetch();
    };
    let field = |label: &'static str, signal: RwSignal<String>, kind: &'static str, test: &'static str| {
        view! {
            <label class="filter">
                <span>{label}</span>
                <input type=kind bind:value=signal data-testid=test/>
            </label>
        }
    };

    view! {
        <section class="page recordings-page">
            <h1>"Recordings"</h1>
            <form class="filters" on:submit=search data-testid="recording-filters">
                {field("User", user, "text", "filter-user")}
                {field("Node", target, "text", "filter-target")}
                {field("Login", login, "text", "filter-login")}
                {field("From", from, "date", "filter-from")}
                {field("To", to, "date", "filter-to")}
                {field("Text on screen", text, "search", "filter-text")}
                <button class="button button-primary" type="submit" data-testid="filter-apply">"Search"</button>
            </form>
            {move || match load.get() {
                Load::Loading => view! { <Loading label="Loading recordings…"/> }.into_any(),
                Load::Failed(message) => view! {
                    <div class="alert alert-error" role="alert" data-testid="recordings-error">{message}</div>
                }.into_any(),
                Load::Ready(list) if list.items.is_empty() => view! {
                    <p class="empty" data-testid="no-recordings">"No recordings match."</p>
                }.into_any(),
                Load::Ready(list) => {
                    let pages = list.total.div_ceil(u64::from(list.per_page.max(1)));
                    let showing = format!("{} recording{} · page {} of {}", list.total, if list.total == 1 { "" } else { "s" }, list.page, pages.max(1));
                    let last_page = u64::from(list.page) >= pages;
                    let first_page = list.page <= 1;
                    view! {
                        <div class="table-wrap">
                            <table class="recordings" data-testid="recordings-table">
                                <thead><tr>
                                    <th>"Who"</th><th>"Where"</th><th>"When"</th><th>"Length"</th><th>"Size"</th><th></th>
                                </tr></thead>
                                <tbody>
                                    {list.items.into_iter().map(|r| {
                                        let href = format!("/recordings/{}", r.id);
                                        let place = if r.login.is_empty() { r.target.clone() } else { format!("{}@{}", r.login, r.target) };
                                        view! {
                                            <tr data-testid="recording-row" data-id=r.id.clone()>
                                                <td>{r.user.clone()}</td>
                                                <td class="mono">{place}</td>
                                                <td>{when(r.started_at)}</td>
                                                <td>{length(&r)}{r.cut_short.then(|| view! { <span class="badge badge-warn" title="The proxy stopped during this session">"cut short"</span> })}</td>
                                                <td>{size(r.bytes)}</td>
                                                <td><a class="button button-small" href=href data-testid="play">{if r.live { "Watch" } else { "Play" }}</a></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        <div class="pager">
                            <span data-testid="recordings-count">{showing}</span>
                            <button class="button button-small" type="button" disabled=first_page on:click=move |_| turn(-1)>"Newer"</button>
                            <button class="button button-small" type="button" disabled=last_page on:click=move |_| turn(1)>"Older"</button>
                        </div>
                    }.into_any()
                }
            }}
        </section>
    }
}
