//! `/device#token=…`: the one-time link an admin's `gatehouse devices add` prints. The
//! owner opens it signed in, on the device being registered, and enrols a credential
//! bound to it (the proxy asks for attestation and checks its `[device_trust]` policy).
//! The token stays in the fragment, which no server log sees.

use gatehouse_proto::api::{DeviceEnrolment, DeviceEnrolmentFinish, DeviceInfo, DeviceToken, RegistrationChallenge};
use leptos::prelude::*;

use crate::api;
use crate::components::alert::ErrorAlert;
use crate::components::spinner::Loading;
use crate::session::use_auth;

fn token_from_fragment() -> Option<String> {
    let hash = web_sys::window()?.location().hash().ok()?;
    hash.trim_start_matches('#')
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .filter(|t| !t.is_empty())
        .map(String::from)
}

#[derive(Clone)]
enum Stage {
    Checking,
    SignInFirst,
    Invalid(String),
    Ready(String),
    Done(DeviceInfo),
}

#[component]
pub fn DevicePage() -> impl IntoView {
    let auth = use_auth();
    let token = token_from_fragment();
    let stage = RwSignal::new(Stage::Checking);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let looked = StoredValue::new(false);
    {
        let token = token.clone();
        Effect::new(move |_| {
            if !auth.checked.get() || looked.get_value() {
                return;
            }
            looked.set_value(true);
            if auth.session.with(Option::is_none) {
                stage.set(Stage::SignInFirst);
                return;
            }
            let Some(token) = token.clone() else {
                stage.set(Stage::Invalid(
                    "This link has no enrolment in it. Open the whole link your admin sent you.".into(),
                ));
                return;
            };
            let csrf = auth.csrf();
            leptos::task::spawn_local(async move {
                let request = DeviceToken { token };
                match api::post::<_, DeviceEnrolment>("/api/v1/devices/enrol/start", &request, &csrf).await {
                    Ok(found) => stage.set(Stage::Ready(found.name)),
                    Err(failure) => stage.set(Stage::Invalid(failure.message)),
                }
            });
        });
    }
    let enrol = move |_| {
        let Some(token) = token.clone() else { return };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let csrf = auth.csrf();
        leptos::task::spawn_local(async move {
            match enrol_here(token, &csrf).await {
                Ok(info) => stage.set(Stage::Done(info)),
                Err(message) => error.set(Some(message)),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="auth-page">
            <div class="card auth-card auth-card-wide" data-testid="device-enrolment">
                {move || match stage.get() {
                    Stage::Checking => view! { <Loading label="Opening the enrolment…"/> }.into_any(),
                    Stage::SignInFirst => view! {
                        <h1>"Sign in first"</h1>
                        <p class="lede">"Sign in on this device as the device's owner, then open the enrolment link again."</p>
                        <a class="button button-primary" href="/signin">"Sign in"</a>
                    }.into_any(),
                    Stage::Invalid(message) => view! {
                        <h1>"Enrolment not usable"</h1>
                        <div class="alert alert-error" role="alert" data-testid="error">{message}</div>
                        <a class="button" href="/">"Go to your resources"</a>
                    }.into_any(),
                    Stage::Ready(name) => view! {
                        <h1>"Enrol this device"</h1>
                        <p class="lede">"Your admin registered "<strong data-testid="device-name">{name}</strong>
                            " as a trusted device for you. Enrol it on the device itself: your browser asks for its screen lock or security key, and Gatehouse keeps a credential that stays on it."</p>
                        <ErrorAlert message=error/>
                        <button class="button button-primary button-block" type="button" on:click=enrol.clone()
                            disabled=move || busy.get() data-testid="enrol-device">
                            {move || if busy.get() { "Waiting for the authenticator…" } else { "Enrol this device" }}
                        </button>
                    }.into_any(),
                    Stage::Done(info) => view! {
                        <div class="done" data-testid="device-enrolled">
                            <div class="done-mark" aria-hidden="true">"✓"</div>
                            <h1>"Device enrolled"</h1>
                            <p class="lede">{format!("{} is now a trusted device. Nodes that need one ask it for a check when you connect.", info.name)}</p>
                            <p class="device-meta" data-testid="device-attestation">{describe(&info)}</p>
                            <a class="button button-primary button-block" href="/">"Go to your resources"</a>
                        </div>
                    }.into_any(),
                }}
            </div>
        </section>
    }
}

/// A fresh challenge, the authenticator's credential, and the proxy's verdict.
async fn enrol_here(token: String, csrf: &str) -> Result<DeviceInfo, String> {
    let request = DeviceToken { token: token.clone() };
    let started: DeviceEnrolment =
        api::post("/api/v1/devices/enrol/start", &request, csrf).await.map_err(|f| f.message)?;
    let challenge = RegistrationChallenge { challenge_id: started.challenge_id, options: started.options };
    let challenge_id = challenge.challenge_id.clone();
    let credential = crate::passkey::create(challenge).await?;
    let finish = DeviceEnrolmentFinish { token, challenge_id, credential };
    api::post("/api/v1/devices/enrol/finish", &finish, csrf).await.map_err(|f| f.message)
}

/// What the attestation said, in a line: format, model, binding.
pub fn describe(info: &DeviceInfo) -> String {
    let Some(format) = &info.attestation_format else {
        return "Waiting for its owner to enrol it from the link.".into();
    };
    let signed = if info.attestation_certified { "certificate-signed" } else { "uncertified" };
    let model = info.aaguid.as_deref().map_or_else(|| "no model named".to_string(), |a| format!("AAGUID {a}"));
    let binding = if info.hardware_bound { "hardware-bound" } else { "may be synced to other devices" };
    if format == "none" {
        format!("No attestation · {model} · {binding}")
    } else {
        format!("Attestation {format} ({signed}) · {model} · {binding}")
    }
}
