//! `/account`: the signed-in person's passkeys: add one (named), see when each was last
//! used, remove one (never the last second factor). When the proxy asks for a fresh
//! check of a factor first, the confirm panel shows, and the change is tried again once
//! the check passes. Below, the trusted devices an admin registered for them, with what
//! each one's attestation said.

use gatehouse_proto::api::{DeviceList, PasskeyList};
use leptos::prelude::*;

use super::recordings::when;
use crate::api;
use crate::components::alert::ErrorAlert;
use crate::components::confirm_factor::ConfirmFactor;
use crate::components::require_session::RequireSession;
use crate::components::spinner::Loading;
use crate::factors::{self, Change, Refusal};
use crate::session::use_auth;

#[component]
pub fn AccountPage() -> impl IntoView {
    view! { <RequireSession><Passkeys/><Devices/></RequireSession> }
}

#[component]
fn Passkeys() -> impl IntoView {
    let auth = use_auth();
    let list = RwSignal::new(None::<PasskeyList>);
    let error = RwSignal::new(None::<String>);
    let name = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            match api::get::<PasskeyList>("/api/v1/account/passkeys").await {
                Ok(found) => list.set(Some(found)),
                Err(failure) => error.set(Some(failure.message)),
            }
        });
    });
    // A change waiting for the confirm panel.
    let pending = RwSignal::new(None::<Change>);
    let run = move |change: Change| {
        busy.set(true);
        error.set(None);
        let csrf = auth.csrf();
        leptos::task::spawn_local(async move {
            match factors::apply(&change, &csrf).await {
                Ok(updated) => {
                    list.set(Some(updated));
                    if matches!(change, Change::Add { .. }) {
                        name.set(String::new());
                    }
                }
                Err(Refusal::ConfirmFirst) => pending.set(Some(change)),
                Err(Refusal::Said(message)) => error.set(Some(message)),
            }
            busy.set(false);
        });
    };
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let chosen = name.get_untracked().trim().to_string();
        if chosen.is_empty() {
            error.set(Some("Give the passkey a name, such as the device it is on.".into()));
            return;
        }
        run(Change::Add { name: chosen });
    };
    let remove = move |id: i64| {
        if !busy.get_untracked() {
            run(Change::Remove { id });
        }
    };
    // Confirmed: the change that needed it, again.
    let retry = Callback::new(move |()| {
        if let Some(change) = pending.get_untracked() {
            pending.set(None);
            run(change);
        }
    });
    let cancel = Callback::new(move |()| pending.set(None));
    let known_factors = move || {
        list.with_untracked(|found| found.as_ref().map(|f| (f.has_totp, !f.passkeys.is_empty())).unwrap_or_default())
    };

    view! {
        <section class="page account-page">
            <h1>"Your account"</h1>
            <h2 class="section-title">"Passkeys"</h2>
            <p class="lede">"A passkey signs you in with your device's screen lock or a security key: instead of the authenticator code, or with no password at all."</p>
            <ErrorAlert message=error/>
            <Show when=move || pending.with(Option::is_some)>
                {move || {
                    let (has_totp, has_passkeys) = known_factors();
                    view! { <ConfirmFactor has_totp=has_totp has_passkeys=has_passkeys on_confirmed=retry on_cancel=cancel/> }
                }}
            </Show>
            {move || match list.get() {
                None => view! { <Loading label="Loading your passkeys…"/> }.into_any(),
                Some(found) => {
                    let only_factor = !found.has_totp && found.passkeys.len() == 1;
                    view! {
                        {found.passkeys.is_empty().then(|| view! { <p data-testid="no-passkeys">"No passkeys yet."</p> })}
                        <ul class="passkeys" data-testid="passkeys">
                            {found.passkeys.into_iter().map(|p| {
                                let used = p.last_used_at.map(|t| format!("last used {}", when(t))).unwrap_or_else(|| "never used".into());
                                let id = p.id;
                                view! {
                                    <li class="passkey" data-testid="passkey" data-id=id.to_string()>
                                        <span class="passkey-name">{p.name.clone()}</span>
                                        <span class="passkey-meta">{format!("added {} · {used}", when(p.created_at))}</span>
                                        <button class="button button-small" type="button" data-testid="remove-passkey"
                                            disabled=only_factor
                                            title=if only_factor { "Your only second factor: add another first" } else { "Remove this passkey" }
                                            on:click=move |_| remove(id)>"Remove"</button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }
            }}
            <form class="add-passkey" on:submit=add>
                <input type="text" placeholder="Name, e.g. work laptop" aria-label="Passkey name" maxlength="64"
                    bind:value=name data-testid="passkey-name"/>
                <button class="button button-primary" type="submit" disabled=move || busy.get() data-testid="add-passkey">
                    {move || if busy.get() { "Waiting for the passkey…" } else { "Add a passkey" }}
                </button>
            </form>
        </section>
    }
}

/// The user's trusted devices: registered by an admin, enrolled from its link.
#[component]
fn Devices() -> impl IntoView {
    let list = RwSignal::new(None::<DeviceList>);
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            match api::get::<DeviceList>("/api/v1/account/devices").await {
                Ok(found) => list.set(Some(found)),
                Err(failure) => error.set(Some(failure.message)),
            }
        });
    });
    view! {
        <section class="page account-page account-devices" data-testid="devices-section">
            <h2 class="section-title">"Trusted devices"</h2>
            <p class="lede">"Some nodes and desktops open only from a device an admin registered for you. An admin runs "
                <code>"gatehouse devices add NAME --owner YOU"</code>" and sends you the link it prints; open it, signed in, on that device."</p>
            <ErrorAlert message=error/>
            {move || match list.get() {
                None => view! { <Loading label="Loading your devices…"/> }.into_any(),
                Some(found) if found.devices.is_empty() => view! { <p data-testid="no-devices">"No trusted devices yet."</p> }.into_any(),
                Some(found) => view! {
                    <ul class="devices" data-testid="devices">
                        {found.devices.into_iter().map(|d| {
                            let state = match d.enrolled_at {
                                Some(at) => format!("enrolled {}", when(at)),
                                None => "waiting for enrolment".to_string(),
                            };
                            let used = d.last_used_at.map(|t| format!(" · last used {}", when(t))).unwrap_or_default();
                            view! {
                                <li class="device" data-testid="device" data-id=d.id.to_string()
                                    data-hardware-bound=d.hardware_bound.to_string()>
                                    <span class="device-name">{d.name.clone()}</span>
                                    <span class="device-meta">{format!("{state}{used}")}</span>
                                    <span class="device-meta" data-testid="device-attestation">{super::device::describe(&d)}</span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
        </section>
    }
}
