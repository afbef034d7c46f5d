use gatehouse_proto::api::{SessionInfo, SignInRequest};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::components::alert::ErrorAlert;
use crate::session::use_auth;

/// User name, password and the code from the authenticator app.
#[component]
pub fn SignInPage() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let query = use_query_map();
    crate::ssh::pin::adopt_from_fragment();
    let username = RwSignal::new(query.with_untracked(|q| q.get("user").unwrap_or_default()));
    let password = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    // Someone already signed in has nothing to do here.
    let to_home = navigate.clone();
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

    view! {
        <section class="auth-page">
            <div class="card auth-card">
                <h1>"Sign in"</h1>
                <p class="lede">"Use your password and the 6-digit code from your authenticator app."</p>
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
                </form>
                <p class="hint">"New here? Open the invite link your admin sent you."</p>
            </div>
        </section>
    }
}
