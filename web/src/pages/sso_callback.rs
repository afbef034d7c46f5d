//! `/sso/callback/{connector}`: where an identity provider sends the browser back. The page posts
//! what the provider said to the proxy (which checks it against the flow this browser
//! started), then, if the proxy asks, a passkey: one of the account's, or its first.

use gatehouse_proto::api::{NewPasskey, SessionInfo, SsoCallback, SsoEnrol, SsoFinish};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::api;
use crate::components::alert::ErrorAlert;
use crate::session::use_auth;

#[derive(Clone)]
enum Stage {
    Checking,
    /// The account's own passkey is being asked.
    Passkey,
    /// The account needs its first passkey.
    Enrol {
        token: String,
        challenge: gatehouse_proto::api::RegistrationChallenge,
    },
    Failed,
}

#[component]
pub fn SsoCallbackPage() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let query = use_query_map();
    let stage = RwSignal::new(Stage::Checking);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let passkey_name = RwSignal::new("This device".to_string());

    let connector = use_params_map().with_untracked(|p| p.get("connector").unwrap_or_default());
    let callback = query.with_untracked(|q| SsoCallback {
        connector: connector.clone(),
        iss: q.get("iss"),
        state: q.get("state").unwrap_or_default(),
        code: q.get("code"),
        error: q.get("error"),
        error_description: q.get("error_description"),
    });
    // The code stays out of the history: a reload asks nothing twice.
    if let Some(window) = web_sys::window()
        && let Ok(history) = window.history()
    {
        let path = format!("/sso/callback/{connector}");
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path));
    }

    let signed_in = {
        let navigate = navigate.clone();
        move |session: SessionInfo| {
            auth.session.set(Some(session));
            navigate("/", Default::default());
        }
    };

    let on_finish = signed_in.clone();
    leptos::task::spawn_local(async move {
        let outcome = api::post::<_, SsoFinish>("/api/v1/sso/finish", &callback, api::PRE_SESSION_CSRF).await;
        match outcome {
            Ok(SsoFinish::SignedIn { session }) => on_finish(session),
            Ok(SsoFinish::Passkey { challenge }) => {
                stage.set(Stage::Passkey);
                let answer = async {
                    let assertion = crate::passkey::get(challenge).await?;
                    api::post::<_, SessionInfo>("/api/v1/sso/passkey/finish", &assertion, api::PRE_SESSION_CSRF)
                        .await
                        .map_err(|f| f.message)
                };
                match answer.await {
                    Ok(session) => on_finish(session),
                    Err(message) => {
                        error.set(Some(message));
                        stage.set(Stage::Failed);
                    }
                }
            }
            Ok(SsoFinish::Enrol { token, challenge }) => stage.set(Stage::Enrol { token, challenge }),
            Err(failure) => {
                error.set(Some(failure.message));
                stage.set(Stage::Failed);
            }
        }
    });

    let enrol = move |_| {
        let Stage::Enrol { token, challenge } = stage.get_untracked() else { return };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let name = passkey_name.get_untracked().trim().to_string();
        let signed_in = signed_in.clone();
        leptos::task::spawn_local(async move {
            let outcome = async {
                let challenge_id = challenge.challenge_id.clone();
                let credential = crate::passkey::create(challenge).await?;
                let request = SsoEnrol { token, passkey: NewPasskey { challenge_id, name, credential } };
                api::post::<_, SsoFinish>("/api/v1/sso/enrol/finish", &request, api::PRE_SESSION_CSRF)
                    .await
                    .map_err(|f| f.message)
            };
            match outcome.await {
                Ok(SsoFinish::SignedIn { session }) => signed_in(session),
                Ok(_) => error.set(Some("Gatehouse asked for another step it should not have. Start again.".into())),
                Err(message) => error.set(Some(message)),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="auth-page">
            <div class="card auth-card" data-testid="sso-callback">
                <h1>"Single sign-on"</h1>
                {move || match stage.get() {
                    Stage::Checking => view! { <p class="lede">"Checking what your provider said…"</p> }.into_any(),
                    Stage::Passkey => view! {
                        <p class="lede">"Your provider signed you in. Now use one of your Gatehouse passkeys."</p>
                    }.into_any(),
                    Stage::Enrol { .. } => view! {
                        <p class="lede">
                            "Your provider signed you in. Your roles also need a Gatehouse passkey, and your account has none yet: add one now."
                        </p>
                        <div class="form">
                            <label class="field">
                                <span>"Passkey name"</span>
                                <input type="text" bind:value=passkey_name maxlength="64" data-testid="sso-passkey-name"/>
                            </label>
                            <button class="button button-primary button-block" type="button" on:click=enrol.clone()
                                disabled=move || busy.get() data-testid="sso-enrol">
                                "Add a passkey and sign in"
                            </button>
                        </div>
                    }.into_any(),
                    Stage::Failed => view! {
                        <p class="lede">"You are not signed in."</p>
                    }.into_any(),
                }}
                <ErrorAlert message=error/>
                <p class="hint"><A href="/signin">"Back to the sign-in page"</A></p>
            </div>
        </section>
    }
}
