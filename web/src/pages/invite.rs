use gatehouse_proto::api::{
    AcceptInvite, InviteDetails, InvitePasskey, InviteToken, NewPasskey, RegistrationChallenge,
};
use leptos::prelude::*;

use crate::api;
use crate::components::alert::ErrorAlert;
use crate::components::spinner::Loading;

/// The invite token, from the link's fragment (`#token=…`), which no server ever sees.
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
    Loading,
    Invalid(String),
    Enrol(InviteDetails),
    Done(String),
}

/// First visit: choose a password and enrol an authenticator app.
#[component]
pub fn InvitePage() -> impl IntoView {
    let token = token_from_fragment();
    let stage = RwSignal::new(Stage::Loading);

    match token.clone() {
        None => {
            stage.set(Stage::Invalid("This link has no invite in it. Open the whole link your admin sent you.".into()))
        }
        Some(token) => leptos::task::spawn_local(async move {
            let request = InviteToken { token };
            match api::post::<_, InviteDetails>("/api/v1/invites/inspect", &request, api::PRE_SESSION_CSRF).await {
                Ok(details) => stage.set(Stage::Enrol(details)),
                Err(failure) => stage.set(Stage::Invalid(failure.message)),
            }
        }),
    }

    view! {
        <section class="auth-page">
            <div class="card auth-card auth-card-wide">
                {move || match stage.get() {
                    Stage::Loading => view! { <Loading label="Opening your invite…"/> }.into_any(),
                    Stage::Invalid(message) => view! {
                        <h1>"Invite not usable"</h1>
                        <div class="alert alert-error" role="alert" data-testid="error">{message}</div>
                        <a class="button" href="/signin">"Go to sign-in"</a>
                    }.into_any(),
                    Stage::Enrol(details) => view! {
                        <Enrol details=details token=token.clone().unwrap_or_default() stage=stage/>
                    }.into_any(),
                    Stage::Done(username) => view! {
                        <div class="done" data-testid="invite-done">
                            <div class="done-mark" aria-hidden="true">"✓"</div>
                            <h1>"You're all set"</h1>
                            <p class="lede">"Your password and authenticator app are ready. Sign in to continue."</p>
                            <a class="button button-primary button-block" href=format!("/signin?user={}", js_sys::encode_uri_component(&username))
                                data-testid="go-sign-in">"Sign in"</a>
                        </div>
                    }.into_any(),
                }}
            </div>
        </section>
    }
}

#[component]
fn Enrol(details: InviteDetails, token: String, stage: RwSignal<Stage>) -> impl IntoView {
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let min = details.min_password_length;
    let username = details.username.clone();
    let grouped: String = details
        .totp_secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");

    // The second factor: an authenticator app (TOTP) or a passkey.
    let use_passkey = RwSignal::new(false);
    let passkey_name = RwSignal::new(String::new());
    let checked_password = move || -> Option<String> {
        let (pw, again) = (password.get_untracked(), confirm.get_untracked());
        if pw.chars().count() < min {
            error.set(Some(format!("Choose a password of at least {min} characters.")));
            return None;
        }
        if pw != again {
            error.set(Some("The two passwords differ. Type the same password twice.".into()));
            return None;
        }
        Some(pw)
    };
    let passkey_token = token.clone();
    let passkey_user = username.clone();
    let with_passkey = move |_| {
        if busy.get_untracked() {
            return;
        }
        let Some(pw) = checked_password() else { return };
        let name = passkey_name.get_untracked().trim().to_string();
        let name = if name.is_empty() { "First passkey".to_string() } else { name };
        let (token, username) = (passkey_token.clone(), passkey_user.clone());
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let outcome = async {
                let request = InviteToken { token: token.clone() };
                let challenge: RegistrationChallenge =
                    api::post("/api/v1/invites/passkey/start", &request, api::PRE_SESSION_CSRF)
                        .await
                        .map_err(|f| f.message)?;
                let challenge_id = challenge.challenge_id.clone();
                let credential = crate::passkey::create(challenge).await?;
                let finish =
                    InvitePasskey { token, password: pw, passkey: NewPasskey { challenge_id, name, credential } };
                api::post_empty("/api/v1/invites/passkey/finish", &finish, api::PRE_SESSION_CSRF)
                    .await
                    .map_err(|f| f.message)
            };
            match outcome.await {
                Ok(()) => stage.set(Stage::Done(username)),
                Err(message) => error.set(Some(message)),
            }
            busy.set(false);
        });
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() || use_passkey.get_untracked() {
            return;
        }
        let Some(pw) = checked_password() else { return };
        let request =
            AcceptInvite { token: token.clone(), password: pw, totp_code: code.get_untracked().replace(' ', "") };
        let username = username.clone();
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::post_empty("/api/v1/invites/accept", &request, api::PRE_SESSION_CSRF).await {
                Ok(()) => stage.set(Stage::Done(username)),
                Err(failure) => error.set(Some(failure.message)),
            }
            busy.set(false);
        });
    };

    view! {
        <h1>"Welcome, " <span data-testid="invite-user">{details.username.clone()}</span></h1>
        <p class="lede">"Set up how you sign in to Gatehouse. It takes a minute."</p>
        <ErrorAlert message=error/>
        <form class="form" on:submit=submit novalidate>
            <fieldset class="step">
                <legend><span class="step-number">"1"</span>"Choose a password"</legend>
                <input type="text" name="username" autocomplete="username" value=details.username.clone() hidden/>
                <label class="field">
                    <span>"Password"</span>
                    <input type="password" autocomplete="new-password" required bind:value=password
                        data-testid="new-password"/>
                    <small>{format!("At least {min} characters. A few unrelated words make a strong one.")}</small>
                </label>
                <label class="field">
                    <span>"Password again"</span>
                    <input type="password" autocomplete="new-password" required bind:value=confirm
                        data-testid="confirm-password"/>
                </label>
            </fieldset>
            <div class="choice" role="group" aria-label="Second factor">
                <button type="button" class="button button-small" class:button-primary=move || !use_passkey.get()
                    on:click=move |_| use_passkey.set(false) data-testid="choose-totp">"Authenticator app"</button>
                <button type="button" class="button button-small" class:button-primary=move || use_passkey.get()
                    on:click=move |_| use_passkey.set(true) data-testid="choose-passkey">"Passkey"</button>
            </div>
            <fieldset class="step" class:hidden=move || !use_passkey.get()>
                <legend><span class="step-number">"2"</span>"Create a passkey"</legend>
                <p>"Your device's screen lock (Touch ID, Windows Hello, a phone) or a security key proves it is you. You can add more passkeys later."</p>
                <label class="field">
                    <span>"Name for this passkey"</span>
                    <input type="text" maxlength="64" placeholder="e.g. work laptop" bind:value=passkey_name data-testid="invite-passkey-name"/>
                </label>
                <button class="button button-primary button-block" type="button" on:click=with_passkey
                    disabled=move || busy.get() data-testid="finish-invite-passkey">
                    {move || if busy.get() { "Waiting for the passkey…" } else { "Create the passkey and finish" }}
                </button>
            </fieldset>
            <fieldset class="step" class:hidden=move || use_passkey.get()>
                <legend><span class="step-number">"2"</span>"Add Gatehouse to your authenticator app"</legend>
                <div class="totp-setup">
                    <div class="qr" inner_html=details.qr_svg.clone() aria-label="QR code for your authenticator app"
                        role="img" data-testid="totp-qr"></div>
                    <div class="totp-manual">
                        <p>"Scan the code with an app such as Google Authenticator, 1Password or Aegis. Or type this key:"</p>
                        <code class="secret" data-testid="totp-secret" data-secret=details.totp_secret.clone()>{grouped}</code>
                        <p class="hint">"Time-based, 6 digits, every 30 seconds."</p>
                    </div>
                </div>
                <label class="field">
                    <span>"Code from the app"</span>
                    <input type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="7"
                        placeholder="123456" required bind:value=code data-testid="enrol-code"/>
                </label>
            </fieldset>
            <button class="button button-primary button-block" type="submit" disabled=move || busy.get()
                class:hidden=move || use_passkey.get() data-testid="finish-invite">
                {move || if busy.get() { "Saving…" } else { "Finish set-up" }}
            </button>
        </form>
    }
}
