//! `/join/{id}?mode=observer|peer`: someone else's live session, shown as its owner sees
//! it. The proxy's socket sends the terminal's bytes (the current screen first) and, as
//! text, the session's state and who is in it; a peer's keys go back on the same socket.
//! An observer's keys are never sent (and the proxy drops them if they were).

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse_proto::api;
use gatehouse_terminal::Terminal;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::components::require_session::RequireSession;
use crate::components::terminal_view::TerminalView;
use crate::listen::listen;
use crate::session::use_auth;

#[derive(Clone, PartialEq)]
enum Status {
    Connecting,
    Joined,
    Ended(String),
}

#[component]
pub fn JoinPage() -> impl IntoView {
    view! { <RequireSession><Joined/></RequireSession> }
}

#[component]
fn Joined() -> impl IntoView {
    let auth = use_auth();
    let id = use_params_map().with_untracked(|p| p.get("id").unwrap_or_default());
    let mode = use_query_map().with_untracked(|q| q.get("mode").unwrap_or_else(|| "observer".into()));
    let peer = mode == "peer";
    let status = RwSignal::new(Status::Connecting);
    let shared = RwSignal::new(None::<api::LiveShared>);
    let (output, set_output) = signal(0u64);
    let terminal = Rc::new(RefCell::new(Terminal::new(24, 80, 1_000)));
    let socket = StoredValue::new_local(None::<WebSocket>);
    let listeners = StoredValue::new_local(Vec::new());

    let host = web_sys::window().and_then(|w| w.location().host().ok()).unwrap_or_default();
    let url = format!(
        "wss://{host}/api/v1/live/{}/join?mode={}",
        js_sys::encode_uri_component(&id),
        js_sys::encode_uri_component(&mode)
    );
    match WebSocket::new(&url) {
        Err(_) => status.set(Status::Ended("The browser could not open a WebSocket.".into())),
        Ok(ws) => {
            ws.set_binary_type(BinaryType::Arraybuffer);
            let sink = terminal.clone();
            let on_message = listen(&ws, "message", move |event: &MessageEvent| {
                let data = event.data();
                if let Ok(buffer) = data.clone().dyn_into::<js_sys::ArrayBuffer>() {
                    sink.borrow_mut().feed(&js_sys::Uint8Array::new(&buffer).to_vec());
                    // A joiner answers no terminal queries: the owner's terminal does.
                    drop(sink.borrow_mut().take_replies());
                    set_output.update(|n| *n += 1);
                    if status.get_untracked() == Status::Connecting {
                        status.set(Status::Joined);
                    }
                } else if let Some(text) = data.as_string()
                    && let Ok(view) = serde_json::from_str::<api::LiveShared>(&text)
                {
                    shared.set(Some(view));
                }
            });
            let on_close = listen(&ws, "close", move |event: &CloseEvent| {
                let reason = event.reason();
                let reason = if reason.is_empty() { "The connection to Gatehouse closed.".to_string() } else { reason };
                status.set(Status::Ended(reason));
            });
            listeners.set_value(vec![on_message, on_close]);
            socket.set_value(Some(ws));
        }
    }
    on_cleanup(move || {
        socket.with_value(|ws| {
            if let Some(ws) = ws {
                let _ = ws.close();
            }
        });
    });

    let on_input = Callback::new(move |bytes: Vec<u8>| {
        if !peer {
            return;
        }
        socket.with_value(|ws| {
            if let Some(ws) = ws.as_ref().filter(|ws| ws.ready_state() == WebSocket::OPEN) {
                let _ = ws.send_with_u8_array(&bytes);
            }
        });
    });
    let on_resize = Callback::new(|_: (u16, u16)| {});
    let end_error = RwSignal::new(None::<String>);
    let end_session = {
        let id = id.clone();
        move |_| {
            let (id, csrf) = (id.clone(), auth.csrf());
            leptos::task::spawn_local(async move {
                let path = format!("/api/v1/live/{id}/end");
                if let Err(failure) = crate::api::post_empty(&path, &serde_json::json!({}), &csrf).await {
                    end_error.set(Some(failure.message));
                }
            });
        }
    };

    view! {
        <div class="join-page">
            <div class="ssh-bar">
                <span class="ssh-title" data-testid="join-title">{move || shared.get().map(|s| format!(
                    "{}'s session: {}@{} ({})", s.owner, s.login, s.node, if peer { "you may type" } else { "watching" }
                )).unwrap_or_else(|| "Joining…".into())}</span>
                <span class="ssh-status" data-testid="join-status" data-state=move || match status.get() {
                    Status::Connecting => "connecting".to_string(),
                    Status::Joined => shared.get().map_or_else(|| "joined".to_string(), |s| s.state),
                    Status::Ended(_) => "ended".to_string(),
                }>{move || match status.get() {
                    Status::Connecting => "Joining…".to_string(),
                    Status::Joined => match shared.get().map(|s| s.state).as_deref() {
                        Some("waiting") => "Waiting for a moderator".to_string(),
                        Some("paused") => "Paused: no moderator".to_string(),
                        _ => if peer { "Joined as peer".to_string() } else { "Observing".to_string() },
                    },
                    Status::Ended(_) => "Left".to_string(),
                }}</span>
                <ul class="share-people" data-testid="participants">
                    {move || shared.get().map(|s| {
                        let owner = view! { <li data-testid="participant" data-user=s.owner.clone() data-mode="owner">{format!("{} (owner)", s.owner)}</li> };
                        let rest = s.participants.into_iter().map(|p| {
                            let label = format!("{} ({}{})", p.user, p.mode, if p.moderator { ", moderator" } else { "" });
                            view! { <li data-testid="participant" data-user=p.user.clone() data-mode=p.mode.clone()>{label}</li> }
                        }).collect_view();
                        view! { {owner}{rest} }
                    })}
                </ul>
                {move || shared.get().filter(|s| s.moderator && status.get() == Status::Joined).map(|_| view! {
                    <button class="button button-small button-danger" type="button" data-testid="end-session"
                        on:click=end_session.clone()>"End session"</button>
                })}
                {move || end_error.get().map(|e| view! { <span class="share-error" role="alert">{e}</span> })}
                <a class="button button-small" href="/live">"Live sessions"</a>
            </div>
            <div class="ssh-screen">
                <TerminalView terminal=terminal output=output on_input=on_input on_resize=on_resize/>
                {move || match status.get() {
                    Status::Ended(reason) => Some(view! {
                        <div class="ssh-overlay" role="alert">
                            <div class="card ssh-message" data-testid="join-ended">
                                <h2>"Session closed"</h2>
                                <p>{reason}</p>
                                <a class="button button-primary" href="/live">"Live sessions"</a>
                            </div>
                        </div>
                    }),
                    _ => None,
                }}
            </div>
        </div>
    }
}
