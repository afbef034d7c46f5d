//! SSH sessions: the tab strip and one panel per open session. A panel shows its
//! session's state; each connect and Reconnect is one `ssh::connect::attempt`.

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse_terminal::Terminal;
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate, use_params_map, use_query_map};
use tokio::sync::mpsc;

use crate::components::files_panel::{FileQueue, FilesPanel, file_list};
use crate::components::require_session::RequireSession;
use crate::components::session_share::SessionShare;
use crate::components::spinner::Loading;
use crate::components::term_search::TermSearch;
use crate::components::terminal_view::TerminalView;
use crate::session::use_auth;
use crate::ssh::connect::{self, Target};
use crate::ssh::key::KeyKind;
use crate::ssh::session::{Command, End, Event};
use crate::workspace::use_workspace;

const SCROLLBACK: usize = 10_000;

#[derive(Clone, PartialEq)]
enum Status {
    Preparing,
    Connecting,
    /// Waiting for the passkey check the roles ask for before this session.
    Confirming,
    Connected {
        recorded: bool,
    },
    Ended(String),
    PinMismatch(String),
}

impl From<End> for Status {
    fn from(end: End) -> Status {
        match end {
            End::Closed(reason) => Status::Ended(reason),
            End::PinMismatch(reason) => Status::PinMismatch(reason),
        }
    }
}

/// `/ssh/{node}?login=…`: opens a session tab, then shows the sessions (`/ssh`).
#[component]
pub fn OpenSession() -> impl IntoView {
    view! { <RequireSession><OpenTab/></RequireSession> }
}

/// `/ssh`: the sessions themselves are drawn by [`SessionTabs`]; this route only makes
/// sure someone is signed in.
#[component]
pub fn SessionsRoute() -> impl IntoView {
    view! { <RequireSession><span></span></RequireSession> }
}

#[component]
fn OpenTab() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let workspace = use_workspace();
    let navigate = use_navigate();
    let node = params.with_untracked(|p| p.get("node").unwrap_or_default());
    let login = query.with_untracked(|q| q.get("login").unwrap_or_default());
    Effect::new(move |_| {
        workspace.open(node.clone(), login.clone());
        navigate("/ssh", leptos_router::NavigateOptions { replace: true, ..Default::default() });
    });
}

/// The tabs and their sessions. Mounted for the app's whole life (outside the routes),
/// shown on `/ssh`, so sessions survive visits to other pages.
#[component]
pub fn SessionTabs() -> impl IntoView {
    let auth = use_auth();
    let workspace = use_workspace();
    let location = use_location();
    let shown = move || location.pathname.get() == "/ssh" && auth.session.with(Option::is_some);
    view! {
        <div class="ssh-workspace" class:hidden=move || !shown()>
            <div class="tab-strip" role="tablist" data-testid="tab-strip">
                <For each=move || workspace.tabs.get() key=|tab| tab.id let:tab>
                    <TabButton tab=tab/>
                </For>
                <a class="tab-new" href="/" title="Open another session from your resources" data-testid="new-tab">"+"</a>
            </div>
            <Show when=move || workspace.tabs.with(Vec::is_empty)>
                <div class="empty" data-testid="no-sessions">
                    <h2>"No sessions open"</h2>
                    <p>"Open one from your resources."</p>
                    <a class="button button-primary" href="/">"Resources"</a>
                </div>
            </Show>
            <For each=move || workspace.tabs.get() key=|tab| tab.id let:tab>
                <div class="ssh-panel" data-testid="ssh-panel"
                    class:hidden=move || workspace.active.get() != Some(tab.id)
                    data-active=move || (workspace.active.get() == Some(tab.id)).to_string()>
                    <SshSession node=tab.node.clone() login=tab.login.clone()/>
                </div>
            </For>
        </div>
    }
}

#[component]
fn TabButton(tab: crate::workspace::Tab) -> impl IntoView {
    let workspace = use_workspace();
    let id = tab.id;
    let title = tab.title;
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(String::new());
    // Swapping the button and the input removes the element whose handler is running;
    // doing it from a microtask lets the handler return first.
    let set_editing = move |on: bool| leptos::prelude::queue_microtask(move || editing.set(on));
    let commit = move || {
        let name = draft.get_untracked().trim().to_string();
        if !name.is_empty() {
            title.set(name);
        }
        set_editing(false);
    };
    view! {
        <div class="tab" role="tab" class:active=move || workspace.active.get() == Some(id)
            aria-selected=move || (workspace.active.get() == Some(id)).to_string() data-testid="tab">
            <Show
                when=move || editing.get()
                fallback=move || view! {
                    <button class="tab-title" type="button" on:click=move |_| workspace.active.set(Some(id))
                        on:dblclick=move |_| {
                            draft.set(title.get_untracked());
                            set_editing(true);
                        }
                        title="Double-click to rename">{move || title.get()}</button>
                }
            >
                <input class="tab-rename" type="text" aria-label="Tab name" bind:value=draft autofocus
                    data-testid="tab-rename"
                    on:keydown=move |ev: web_sys::KeyboardEvent| match ev.key().as_str() {
                        "Enter" => commit(),
                        "Escape" => set_editing(false),
                        _ => {}
                    }
                    on:blur=move |_| commit()/>
            </Show>
            <button class="tab-close" type="button" aria-label="Close this session"
                on:click=move |_| workspace.close(id) data-testid="close-tab">"×"</button>
        </div>
    }
}

#[component]
fn SshSession(node: String, login: String) -> impl IntoView {
    let auth = use_auth();
    let status = RwSignal::new(Status::Preparing);
    let key_kind = RwSignal::new(None::<KeyKind>);
    let (output, set_output) = signal(0u64);
    let terminal = Rc::new(RefCell::new(Terminal::new(24, 80, SCROLLBACK)));
    // Local (not Send) storage: Callbacks must be Send, and a handle to this is.
    let commands = StoredValue::new_local(None::<mpsc::UnboundedSender<Command>>);
    let attempt = RwSignal::new(0u32);
    // The Files panel: shown once the SFTP channel answers (never when the roles allow
    // no file transfer, as then it is not opened).
    let files = FileQueue::new();
    let files_shown = RwSignal::new(false);
    // A fresh name for each tab, so its bar finds this session among the live ones.
    let tab_name = StoredValue::new(format!("{:x}", (js_sys::Math::random() * 1e15) as u64));

    // Each connect and Reconnect: a certificate for this node and login, then the socket.
    let connect = {
        let (terminal, node, login) = (terminal.clone(), node.clone(), login.clone());
        move || {
            let (tx, rx) = mpsc::unbounded_channel();
            commands.set_value(Some(tx));
            status.set(Status::Preparing);
            files.set_remote(None);
            let target = Target { node: node.clone(), login: login.clone(), tab: tab_name.get_value() };
            let size = {
                let terminal = terminal.clone();
                move || terminal.borrow().size()
            };
            let sink = terminal.clone();
            let on_event = move |event: Event| match event {
                Event::Key(kind) => key_kind.set(Some(kind)),
                Event::Confirming => status.set(Status::Confirming),
                Event::Connecting => status.set(Status::Connecting),
                Event::Connected { recorded } => status.set(Status::Connected { recorded }),
                Event::Files(remote) => {
                    files_shown.set(true);
                    files.set_remote(Some(remote));
                }
                Event::Output(bytes) => {
                    let replies = {
                        let mut terminal = sink.borrow_mut();
                        terminal.feed(&bytes);
                        terminal.take_replies()
                    };
                    // The program asked the terminal something (its cursor position, what
                    // it is): the answer goes back as input, as a native terminal's would.
                    if !replies.is_empty() {
                        commands.with_value(|tx| {
                            if let Some(tx) = tx {
                                let _ = tx.send(Command::Input(replies));
                            }
                        });
                    }
                    set_output.update(|n| *n += 1);
                }
            };
            leptos::task::spawn_local(async move {
                let end = connect::attempt(&auth.csrf(), &target, size, rx, on_event).await;
                commands.set_value(None);
                status.set(end.into());
            });
        }
    };
    Effect::new(move |_| {
        attempt.track();
        connect();
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
    let searching = RwSignal::new(false);
    let on_search = Callback::new(move |()| searching.set(true));

    view! {
        <div class="ssh-page">
            <div class="ssh-bar">
                <span class="ssh-title" data-testid="ssh-title">{title}</span>
                <SessionStatus status=status key_kind=key_kind/>
                <button class="button button-small" type="button" data-testid="search-open"
                    title="Search the scrollback (Ctrl+Shift+F)" on:click=move |_| searching.update(|s| *s = !*s)>"Search"</button>
                <TerminalControls/>
                <a class="button button-small" href="/" data-testid="to-resources">"Resources"</a>
            </div>
            <SessionShare tab=tab_name.get_value() connected=Signal::derive(move || matches!(status.get(), Status::Connected { recorded: true }))/>
            <TermSearch terminal=terminal.clone() open=searching repaint=set_output/>
            <div class="ssh-body" data-testid="ssh-body"
                on:dragover=move |ev: web_sys::DragEvent| if files_shown.get_untracked() { ev.prevent_default() }
                on:drop=move |ev: web_sys::DragEvent| {
                    if files_shown.get_untracked() {
                        ev.prevent_default();
                        files.upload(file_list(ev.data_transfer().and_then(|d| d.files())));
                    }
                }>
                <div class="ssh-screen">
                    <TerminalView terminal=terminal output=output on_input=on_input on_resize=on_resize on_search=on_search/>
                    <SessionOverlay status=status on_reconnect=Callback::new(move |()| attempt.update(|n| *n += 1))/>
                </div>
                <Show when=move || files_shown.get()>
                    <FilesPanel queue=files/>
                </Show>
            </div>
        </div>
    }
}

/// The state of a session in its bar: words, which key signs (`data-key-kind`), and
/// whether it is recorded.
#[component]
fn SessionStatus(status: RwSignal<Status>, key_kind: RwSignal<Option<KeyKind>>) -> impl IntoView {
    view! {
        <span class="ssh-status" data-testid="ssh-status"
            data-key-kind=move || key_kind.get().map(KeyKind::as_str)
            title=move || key_kind.get().map(|kind| match kind {
                KeyKind::WebCrypto => "Signs in with a key this browser keeps and will not hand out, not even to this page",
                KeyKind::Memory => "Signs in with a key kept in this page's memory until it is closed or reloaded",
            })
            data-state=move || match status.get() {
                Status::Preparing | Status::Connecting => "connecting",
                Status::Confirming => "confirming",
                Status::Connected { .. } => "connected",
                Status::Ended(_) => "ended",
                Status::PinMismatch(_) => "pin-mismatch",
            }>
            {move || match status.get() {
                Status::Preparing => "Getting a certificate…",
                Status::Connecting => "Connecting…",
                Status::Confirming => "Confirm with your passkey…",
                Status::Connected { .. } => "Connected",
                Status::Ended(_) => "Disconnected",
                Status::PinMismatch(_) => "Stopped",
            }}
        </span>
        {move || match status.get() {
            Status::Connected { recorded: true } => Some(view! {
                <span class="badge" data-testid="ssh-recorded" data-recorded="true"
                    title="The proxy records this session; authorised auditors can replay it">"Recorded"</span>
            }.into_any()),
            Status::Connected { recorded: false } => Some(view! {
                <span class="badge badge-warn" data-testid="ssh-recorded" data-recorded="false"
                    title="Direct mode: your SSH runs end to end to the node and nothing is recorded">"Not recorded"</span>
            }.into_any()),
            _ => None,
        }}
    }
}

/// What covers the terminal while the session is not running.
#[component]
fn SessionOverlay(status: RwSignal<Status>, on_reconnect: Callback<()>) -> impl IntoView {
    move || {
        match status.get() {
        Status::Preparing | Status::Connecting => Some(view! {
            <div class="ssh-overlay"><Loading label="Opening the session…"/></div>
        }.into_any()),
        Status::Confirming => Some(view! {
            <div class="ssh-overlay" data-testid="ssh-confirming"><Loading label="This node asks for your passkey before each session…"/></div>
        }.into_any()),
        Status::Ended(reason) => Some(view! {
            <div class="ssh-overlay" role="alert">
                <div class="card ssh-message" data-testid="ssh-ended">
                    <h2>"Session closed"</h2>
                    <p>{reason}</p>
                    <button class="button button-primary" type="button" data-testid="reconnect"
                        on:click=move |_| on_reconnect.run(())>"Reconnect"</button>
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
        Status::Connected { .. } => None,
    }
    }
}

/// Theme and font size for every terminal.
#[component]
fn TerminalControls() -> impl IntoView {
    use crate::term_prefs::{MAX_FONT, MIN_FONT, TermTheme, use_term_prefs};
    let prefs = use_term_prefs();
    let theme_id = RwSignal::new(prefs.theme.get_untracked().id().to_string());
    Effect::new(move |_| {
        if let Some(theme) = TermTheme::from_id(&theme_id.get()) {
            prefs.theme.set(theme);
        }
    });
    let options =
        TermTheme::ALL.into_iter().map(|t| view! { <option value=t.id()>{t.label()}</option> }).collect_view();
    view! {
        <select class="login-picker" aria-label="Terminal colours" bind:value=theme_id data-testid="term-theme">{options}</select>
        <div class="font-size" role="group" aria-label="Font size">
            <button class="button button-small" type="button" aria-label="Smaller text" data-testid="font-smaller"
                disabled=move || { prefs.font_px.get() <= MIN_FONT }
                on:click=move |_| prefs.font_px.update(|px| *px = (*px - 1).max(MIN_FONT))>"A−"</button>
            <button class="button button-small" type="button" aria-label="Larger text" data-testid="font-larger"
                disabled=move || { prefs.font_px.get() >= MAX_FONT }
                on:click=move |_| prefs.font_px.update(|px| *px = (*px + 1).min(MAX_FONT))>"A+"</button>
        </div>
    }
}
