use gatehouse_proto::api::Resources;
use leptos::prelude::*;

use crate::api;
use crate::components::require_session::RequireSession;
use crate::components::spinner::Loading;
use crate::session::use_auth;

#[derive(Clone)]
enum Load {
    Loading,
    Failed(String),
    Ready(Resources),
}

/// The nodes, desktops and web apps the signed-in person may open.
#[component]
pub fn ResourcesPage() -> impl IntoView {
    view! {
        <RequireSession>
            <ResourceList/>
        </RequireSession>
    }
}

/// The host CA this browser trusts for SSH, and a way to forget it.
#[component]
fn PinPanel() -> impl IntoView {
    let reset = move |_| crate::ssh::pin::forget();
    view! {
        <section class="pin-panel" data-testid="pin-panel">
            <h2 class="section-title">"Host CA pin"</h2>
            {move || match crate::ssh::pin::watched() {
                Some(fingerprint) => view! {
                    <p>
                        "SSH connections from this browser trust only nodes whose host certificate is signed by "
                        <code data-testid="pinned-fingerprint">{fingerprint}</code>"."
                    </p>
                    <button class="button button-small" type="button" on:click=reset data-testid="reset-pin">
                        "Reset pin"
                    </button>
                    <small>"Reset only when your admin tells you the host CA changed."</small>
                }.into_any(),
                None => view! {
                    <p data-testid="pin-unset">"Not pinned yet: the first SSH connection pins the host CA this Gatehouse names."</p>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn ResourceList() -> impl IntoView {
    let auth = use_auth();
    let load = RwSignal::new(Load::Loading);
    let filter = RwSignal::new(String::new());

    let fetch = move || {
        load.set(Load::Loading);
        leptos::task::spawn_local(async move {
            match api::get::<Resources>("/api/v1/resources").await {
                Ok(resources) => load.set(Load::Ready(resources)),
                Err(failure) if failure.is_unauthorized() => auth.session.set(None),
                Err(failure) => load.set(Load::Failed(failure.message)),
            }
        });
    };
    fetch();
    // Asked again every two seconds while this person has access requests to follow (a
    // role they may ask for, or requests of theirs), so a role gained through one, or
    // lost when it ends, shows without a reload; the list is redrawn only when it
    // changed. A failure stops it (a session that ended goes back to sign-in).
    let follow = RwSignal::new(false);
    leptos::task::spawn_local(async move {
        if let Ok(requests) = api::get::<gatehouse_proto::api::AccessRequests>("/api/v1/requests").await {
            follow.set(!requests.requestable.is_empty() || !requests.mine.is_empty());
        }
    });
    let refresh = move || {
        if !follow.get_untracked() {
            return;
        }
        leptos::task::spawn_local(async move {
            match api::get::<Resources>("/api/v1/resources").await {
                Ok(resources) => {
                    let changed = load.with_untracked(|l| !matches!(l, Load::Ready(now) if *now == resources));
                    if changed && !matches!(load.get_untracked(), Load::Loading) {
                        load.set(Load::Ready(resources));
                    }
                }
                Err(failure) => {
                    follow.set(false);
                    if failure.is_unauthorized() {
                        auth.session.set(None);
                    }
                }
            }
        });
    };
    StoredValue::new_local(gloo_timers::callback::Interval::new(2_000, refresh));

    let expires = move || {
        auth.session.with(|s| {
            s.as_ref().map(|s| {
                let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(s.expires_at as f64 * 1000.0));
                let options = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&options, &"hour".into(), &"2-digit".into());
                let _ = js_sys::Reflect::set(&options, &"minute".into(), &"2-digit".into());
                String::from(date.to_locale_time_string_with_options("default", &options))
            })
        })
    };

    view! {
        <div class="page-head">
            <div>
                <h1>"Resources"</h1>
                <p class="lede">
                    "Servers, desktops and apps your roles let you open. Your session ends at "
                    <strong data-testid="session-expiry">{expires}</strong> "."
                </p>
            </div>
            <label class="search">
                <span class="visually-hidden">"Filter resources"</span>
                <input type="search" placeholder="Filter by name or label" bind:value=filter data-testid="filter"/>
            </label>
        </div>
        {move || match load.get() {
            Load::Loading => view! { <Loading label="Loading your resources…"/> }.into_any(),
            Load::Failed(message) => view! {
                <div class="alert alert-error" role="alert" data-testid="error">
                    <span>{message}</span>
                    <button class="button" type="button" on:click=move |_| fetch()>"Try again"</button>
                </div>
            }.into_any(),
            Load::Ready(resources) if resources.nodes.is_empty() && resources.desktops.is_empty() && resources.apps.is_empty() => view! {
                <div class="empty" data-testid="resources-empty">
                    <svg class="empty-art" viewBox="0 0 64 64" aria-hidden="true">
                        <rect x="8" y="12" width="48" height="14" rx="3"/>
                        <rect x="8" y="32" width="48" height="14" rx="3"/>
                        <circle cx="16" cy="19" r="2"/><circle cx="16" cy="39" r="2"/>
                        <path d="M24 54h16"/>
                    </svg>
                    <h2>"Nothing to open yet"</h2>
                    <p>"Your roles do not give you any nodes, desktops or apps yet. Ask an admin to add one, or to give you a role that can reach one."</p>
                </div>
            }.into_any(),
            Load::Ready(resources) => {
                let needle = filter.get().to_lowercase();
                let has_nodes = !resources.nodes.is_empty();
                let needs_device = resources.nodes.iter().any(|n| n.needs_device)
                    || resources.desktops.iter().any(|d| d.needs_device);
                let has_desktops = !resources.desktops.is_empty();
                let has_apps = !resources.apps.is_empty();
                let apps = resources.apps.into_iter()
                    .filter(|a| needle.is_empty() || a.name.to_lowercase().contains(&needle)
                        || a.labels.iter().any(|(k, v)| format!("{k}={v}").to_lowercase().contains(&needle)))
                    .map(|app| view! {
                        <li class="resource" data-testid="app" data-app=app.name.clone()>
                            <span class="resource-icon" aria-hidden="true">
                                <svg viewBox="0 0 24 24"><rect x="2" y="4" width="20" height="16" rx="2"/><path d="M2 9h20M6 6.5h.01M9 6.5h.01"/></svg>
                            </span>
                            <div class="resource-main">
                                <span class="resource-name">{app.name.clone()}</span>
                                <span class="resource-addr">{app.url.clone()}</span>
                            </div>
                            <span class="labels">
                                {app.labels.iter().map(|(k, v)| view! { <span class="label">{format!("{k}={v}")}</span> }).collect_view()}
                            </span>
                            {match app.locked.clone() {
                                Some(reason) => view! { <Locked reason=reason/> }.into_any(),
                                None => view! {
                                    <a class="button button-small button-primary" data-testid="launch-app"
                                        href=format!("{}/", app.url) target="_blank" rel="noopener">"Launch"</a>
                                }.into_any(),
                            }}
                            <span class="badge" title="Each request carries your signed identity">"Web app"</span>
                        </li>
                    })
                    .collect_view();
                let rows = resources.nodes.into_iter()
                    .filter(|n| needle.is_empty() || n.name.to_lowercase().contains(&needle)
                        || n.labels.iter().any(|(k, v)| format!("{k}={v}").to_lowercase().contains(&needle)))
                    .map(|node| {
                        let logins = format!("as {}", node.logins.join(", "));
                        view! {
                            <li class="resource" data-testid="node" data-node=node.name.clone()>
                                <span class="resource-icon" aria-hidden="true">
                                    <svg viewBox="0 0 24 24"><rect x="3" y="4" width="18" height="16" rx="2"/><path d="M7 9l3 3-3 3M12 15h5"/></svg>
                                </span>
                                <div class="resource-main">
                                    <span class="resource-name">{node.name.clone()}</span>
                                    <span class="resource-addr">{node.addr.clone()}</span>
                                </div>
                                <span class="labels">
                                    {node.labels.iter().map(|(k, v)| view! { <span class="label">{format!("{k}={v}")}</span> }).collect_view()}
                                </span>
                                <span class="resource-logins" title="Logins your roles allow">{logins}</span>
                                {match node.locked.clone() {
                                    Some(reason) => view! { <Locked reason=reason/> }.into_any(),
                                    None => view! { <ConnectButton node=node.name.clone() logins=node.logins.clone()/> }.into_any(),
                                }}
                                {node.needs_device.then(|| view! { <DeviceBadge/> })}
                                {if node.recorded {
                                    view! { <span class="badge" title="The proxy records this session">"Recorded"</span> }.into_any()
                                } else {
                                    view! { <span class="badge badge-warn" title="Direct mode: the proxy only relays, nothing is recorded">"Not recorded"</span> }.into_any()
                                }}
                            </li>
                        }
                    })
                    .collect_view();
                let desktops = resources.desktops.into_iter()
                    .filter(|d| needle.is_empty() || d.name.to_lowercase().contains(&needle)
                        || d.labels.iter().any(|(k, v)| format!("{k}={v}").to_lowercase().contains(&needle)))
                    .map(|desktop| view! {
                        <li class="resource" data-testid="desktop" data-desktop=desktop.name.clone()>
                            <span class="resource-icon" aria-hidden="true">
                                <svg viewBox="0 0 24 24"><rect x="2" y="3" width="20" height="14" rx="2"/><path d="M8 21h8M12 17v4"/></svg>
                            </span>
                            <div class="resource-main">
                                <span class="resource-name">{desktop.name.clone()}</span>
                            </div>
                            <span class="labels">
                                {desktop.labels.iter().map(|(k, v)| view! { <span class="label">{format!("{k}={v}")}</span> }).collect_view()}
                            </span>
                            {match desktop.locked.clone() {
                                Some(reason) => view! { <Locked reason=reason/> }.into_any(),
                                None => view! {
                                    <a class="button button-small button-primary" data-testid="open-desktop"
                                        href=format!("/desktops/{}", js_sys::encode_uri_component(&desktop.name))>"Open"</a>
                                }.into_any(),
                            }}
                            {desktop.needs_device.then(|| view! { <DeviceBadge/> })}
                            <span class="badge" title="The proxy records this session">"Recorded"</span>
                        </li>
                    })
                    .collect_view();
                view! {
                    {has_nodes.then(|| view! { <h2 class="section-title">"Nodes"</h2> })}
                    <ul class="resource-list" data-testid="nodes">{rows}</ul>
                    {has_desktops.then(|| view! { <h2 class="section-title">"Desktops"</h2> })}
                    <ul class="resource-list" data-testid="desktops">{desktops}</ul>
                    {has_apps.then(|| view! { <h2 class="section-title">"Apps"</h2> })}
                    <ul class="resource-list" data-testid="apps">{apps}</ul>
                    {needs_device.then(|| view! {
                        <p class="device-hint" data-testid="device-hint">
                            "Marked “Trusted device”: opening it asks for a check from a device enrolled for you (your browser shows its passkey prompt). "
                            "No device enrolled yet? Ask an admin to register this one ("<code>"gatehouse devices add NAME --owner YOU"</code>
                            ") and open the link it prints here, signed in. Your devices are listed on "<a href="/account">"your account"</a>"."
                        </p>
                    })}
                }.into_any()
            }
        }}
        <PinPanel/>
    }
}

/// Opening this needs a check from one of the user's trusted devices.
#[component]
fn DeviceBadge() -> impl IntoView {
    view! {
        <span class="badge badge-device" data-testid="needs-device"
            title="Opening this needs a check from a device enrolled for you">"Trusted device"</span>
    }
}

/// In place of Connect or Open while an admin's lock holds: the reason is its title.
#[component]
fn Locked(reason: String) -> impl IntoView {
    view! { <span class="badge badge-locked" data-testid="locked" title=reason.clone() aria-label=reason>"Locked"</span> }
}

/// Opens an SSH session to `node`, as the chosen login.
#[component]
fn ConnectButton(node: String, logins: Vec<String>) -> impl IntoView {
    let chosen = RwSignal::new(logins.first().cloned().unwrap_or_default());
    let picker = (logins.len() > 1).then(|| {
        let options = logins
            .iter()
            .map(|login| view! { <option value=login.clone()>{login.clone()}</option> })
            .collect_view();
        view! {
            <select class="login-picker" aria-label="Login" bind:value=chosen data-testid="login-picker">{options}</select>
        }
    });
    let href = move || format!("/ssh/{node}?login={}", chosen.get());
    view! {
        {picker}
        <a class="button button-primary button-small" href=href data-testid="connect">"Connect"</a>
    }
}
