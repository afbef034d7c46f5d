use gatehouse_proto::api::{AssertionChallenge, PasswordCheck, SessionInfo, SignInRequest};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::components::alert::ErrorAlert;
use crate::session::use_auth;

/// User name, password and the code from the authenticator app.
#[component]
pub fn SignInPage(
    /// The page is the sign-in app's (`crate::app::SignInApp`): once signed in, the whole
    /// app is loaded rather than routed to.
    #[prop(optional)]
    standalone: bool,
) -> impl IntoView {
    let auth = use_auth();
    let router_navigate = use_navigate();
    let navigate = move |path: &str, options: leptos_router::NavigateOptions| {
        if standalone {
            crate::app::load_whole_app(path);
        } else {
            router_navigate(path, options);
        }
    };
    let query = use_query_map();
    let username = RwSignal::new(query.with_untracked(|q| q.get("user").unwrap_or_default()));
    let password = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    // Someone already signed in has nothing to do here.
    let to_home = navigate.clone();
    let passkey_navigate = navigate.clone();
    Effect::new(move |_| {
        if auth.session.with(Option::is_some) {
            to_home("/", Default::default());
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let request = SignInRequest {
            username: username.get_untracked().trim().to_string(),
            password: password.get_untracked(),
            totp_code: code.get_untracked().replace(' ', ""),
        };
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match api::post::<_, SessionInfo>("/api/v1/session", &request, api::PRE_SESSION_CSRF).await {
                Ok(session) => {
                    auth.session.set(Some(session));
                    navigate("/", Default::default());
                }
                Err(failure) => {
                    password.set(String::new());
                    code.set(String::new());
                    error.set(Some(failure.message));
                }
            }
            busy.set(false);
        });
    };

    // Both passkey sign-ins: a challenge from `flow`'s start (with `body`), the passkey's
    // answer to its finish, and the session. `flow` is `passkey` (after the password) or
    // `discoverable` (the passkey alone: the authenticator offers the accounts it holds).
    let passkey_sign_in = move |flow: &'static str, body: serde_json::Value| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let navigate = passkey_navigate.clone();
        leptos::task::spawn_local(async move {
            let outcome = async {
                let start = format!("/api/v1/session/{flow}/start");
                let challenge: AssertionChallenge =
                    api::post(&start, &body, api::PRE_SESSION_CSRF).await.map_err(|f| f.message)?;
                let assertion = crate::passkey::get(challenge).await?;
                let finish = format!("/api/v1/session/{flow}/finish");
                api::post::<_, SessionInfo>(&finish, &assertion, api::PRE_SESSION_CSRF).await.map_err(|f| f.message)
            };
            match outcome.await {
                Ok(session) => {
                    auth.session.set(Some(session));
                    navigate("/", Default::default());
                }
                Err(message) => {
                    password.set(String::new());
                    error.set(Some(message));
                }
            }
            busy.set(false);
        });
    };
    let second_factor = passkey_sign_in.clone();
    let with_passkey = move |_| {
        let check =
            PasswordCheck { username: username.get_untracked().trim().to_string(), password: password.get_untracked() };
        second_factor("passkey", serde_json::to_value(check).unwrap_or_default());
    };
    let passwordless = move |_| passkey_sign_in("discoverable", serde_json::json!({}));

    // The sign-in app fetches the whole app while the person signs in.
    let prefetched = StoredValue::new(!standalone);
    let prefetch = move |_: leptos::ev::FocusEvent| {
        if !prefetched.get_value() {
            prefetched.set_value(true);
            crate::app::prefetch_whole_app();
        }
    };

    view! {
        <section class="auth-page" on:focusin=prefetch>
            <div class="card auth-card">
                <h1>"Sign in"</h1>
                <p class="lede">"Use your password and the 6-digit code from your authenticator app, or a passkey."</p>
                <ErrorAlert message=error/>
                <form class="form" on:submit=submit novalidate>
                    <label class="field">
                        <span>"User name"</span>
                        <input type="text" name="username" autocomplete="username" autocapitalize="none"
                            spellcheck="false" required bind:value=username data-testid="username"/>
                    </label>
                    <label class="field">
                        <span>"Password"</span>
                        <input type="password" name="password" autocomplete="current-password" required
                            bind:value=password data-testid="password"/>
                    </label>
                    <label class="field">
                        <span>"Authentication code"</span>
                        <input type="text" name="totp" inputmode="numeric" autocomplete="one-time-code"
                            maxlength="7" placeholder="123456" required bind:value=code data-testid="totp"/>
                    </label>
                    <button class="button button-primary button-block" type="submit"
                        disabled=move || busy.get() data-testid="sign-in">
                        {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                    </button>
                    <button class="button button-block" type="button" on:click=with_passkey
                        disabled=move || busy.get() data-testid="sign-in-passkey-second"
                        title="Type your user name and password, then use a passkey instead of the code">
                        "Use a passkey instead of the code"
                    </button>
                </form>
                <div class="divider"><span>"or"</span></div>
                <button class="button button-block" type="button" on:click=passwordless
                    disabled=move || busy.get() data-testid="sign-in-passkey">
                    "Sign in with a passkey"
                </button>
                <crate::components::sso_buttons::SsoButtons error=error busy=busy/>
                <p class="hint">"New here? Open the invite link your admin sent you."</p>
            </div>
        </section>
    }
}
