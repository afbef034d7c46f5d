//! An SSH session to one node, in this browser tab.

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse_terminal::Terminal;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use tokio::sync::mpsc;

use crate::components::require_session::RequireSession;
use crate::components::spinner::Loading;
use crate::components::terminal_view::TerminalView;
use crate::session::use_auth;
use crate::ssh::identity::{self, Identity};
use crate::ssh::pin;
use crate::ssh::session::{self, Command, Event, Target};

const SCROLLBACK: usize = 10_000;

#[derive(Clone, PartialEq)]
enum Status {
    Preparing,
    Connecting,
    Connected,
    Ended(String),
    PinMismatch(String),
}

#[component]
pub fn SshPage() -> impl IntoView {
    view! {
        <RequireSession>
            <SshSession/>
        </RequireSession>
    }
}

#[component]
fn SshSession() -> impl IntoView {
    let auth = use_auth();
    let params = use_params_map();
    let query = use_query_map();
    let node = params.with_untracked(|p| p.get("node").unwrap_or_default());
    let login = query.with_untracked(|q| q.get("login").unwrap_or_default());
    let status = RwSignal::new(Status::Preparing);
    let (output, set_output) = signal(0u64);
    let terminal = Rc::new(RefCell::new(Terminal::new(24, 80, SCROLLBACK)));
    // Local (not Send) storage: Callbacks must be Send, and a handle to this is.
    let commands = StoredValue::new_local(None::<mpsc::UnboundedSender<Command>>);
    let attempt = RwSignal::new(0u32);

    let connect = {
        let (terminal, node, login) = (terminal.clone(), node.clone(), login.clone());
        move || {
            let (terminal, node, login) = (terminal.clone(), node.clone(), login.clone());
            status.set(Status::Preparing);
            leptos::task::spawn_local(async move {
                let identity: Identity = match identity::obtain(&auth.csrf()).await {
                    Ok(identity) => identity,
                    Err(failure) => return status.set(Status::Ended(failure.message)),
                };
                // First use: trust the CA our own proxy names, over its TLS connection.
                let pinned = pin::pinned().unwrap_or_else(|| {
                    pin::remember(&identity.info.host_ca_fingerprint);
                    identity.info.host_ca_fingerprint.clone()
                });
                let (tx, rx) = mpsc::unbounded_channel();
                commands.set_value(Some(tx));
                status.set(Status::Connecting);
                let (rows, cols) = terminal.borrow().size();
                let target = Target { node, login, cols, rows };
                let sink = terminal.clone();
                session::run(identity, pinned, target, rx, move |event| match event {
                    Event::Connected => status.set(Status::Connected),
                    Event::Output(bytes) => {
                        sink.borrow_mut().feed(&bytes);
                        set_output.update(|n| *n += 1);
                    }
                    Event::Ended(reason) => status.set(Status::Ended(reason)),
                    Event::PinMismatch(reason) => status.set(Status::PinMismatch(reason)),
                })
                .await;
                commands.set_value(None);
            });
        }
    };
    let first = connect.clone();
    Effect::new(move |_| {
        attempt.track();
        first();
    });

    let send = move |command: Command| {
        commands.with_value(|tx| {
            if let Some(tx) = tx {
                let _ = tx.send(command);
            }
        });
    };
    let input_send = send;
    let on_input = Callback::new(move |bytes: Vec<u8>| input_send(Command::Input(bytes)));
    let on_resize = Callback::new(move |(rows, cols): (u16, u16)| send(Command::Resize { cols, rows }));
    let title = format!("{login}@{node}");

    view! {
        <div class="ssh-page">
            <div class="ssh-bar">
                <span class="ssh-title" data-testid="ssh-title">{title}</span>
                <span class="ssh-status" data-testid="ssh-status" data-state=move || match status.get() {
                    Status::Preparing | Status::Connecting => "connecting",
                    Status::Connected => "connected",
                    Status::Ended(_) => "ended",
                    Status::PinMismatch(_) => "pin-mismatch",
                }>
                    {move || match status.get() {
                        Status::Preparing => "Getting a certificate…".to_string(),
                        Status::Connecting => "Connecting…".to_string(),
                        Status::Connected => "Connected".to_string(),
                        Status::Ended(_) => "Disconnected".to_string(),
                        Status::PinMismatch(_) => "Stopped".to_string(),
                    }}
                </span>
                <a class="button button-small" href="/">"Resources"</a>
            </div>
            <div class="ssh-screen">
                <TerminalView terminal=terminal output=output on_input=on_input on_resize=on_resize/>
                {move || match status.get() {
                    Status::Preparing | Status::Connecting => Some(view! {
                        <div class="ssh-overlay"><Loading label="Opening the session…"/></div>
                    }.into_any()),
                    Status::Ended(reason) => Some(view! {
                        <div class="ssh-overlay" role="alert">
                            <div class="card ssh-message" data-testid="ssh-ended">
                                <h2>"Session closed"</h2>
                                <p>{reason}</p>
                                <button class="button button-primary" type="button" data-testid="reconnect"
                                    on:click=move |_| attempt.update(|n| *n += 1)>"Reconnect"</button>
                            </div>
                        </div>
                    }.into_any()),
                    Status::PinMismatch(reason) => Some(view! {
                        <div class="ssh-overlay ssh-overlay-danger" role="alert">
                            <div class="card ssh-message" data-testid="pin-mismatch">
                                <h2>"Connection stopped: the node could not prove who it is"</h2>
                                <p>{reason}</p>
                                <p>"Something between you and the node may be intercepting the connection, or the node was set up with another certificate authority. Nothing was sent to it. Tell your admin; do not reset the pin unless they ask you to."</p>
                            </div>
                        </div>
                    }.into_any()),
                    Status::Connected => None,
                }}
            </div>
        </div>
    }
}
