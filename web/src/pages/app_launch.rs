//! `/apps/{name}/launch#state=…&path=…`: the middle step of launching a web app. The
//! app's origin sent the browser here with the state it set in a cookie of its own; the
//! signed-in page asks the proxy for a one-time launch token bound to that state and
//! takes it back to the app's origin. A refusal (no role, a lock) is shown here.

use gatehouse_proto::api::{AppLaunch, AppLaunched};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api;
use crate::components::alert::ErrorAlert;
use crate::components::require_session::RequireSession;
use crate::components::spinner::Loading;
use crate::session::use_auth;

#[component]
pub fn AppLaunchPage() -> impl IntoView {
    view! { <RequireSession><Launch/></RequireSession> }
}

/// `state` and `path` from the fragment (which no server or log sees).
fn fragment() -> (String, String) {
    let hash = web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default();
    let get = |name: &str| {
        hash.trim_start_matches('#')
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| js_sys::decode_uri_component(&value.replace('+', " ")).ok())
            .map(String::from)
            .unwrap_or_default()
    };
    (get("state"), get("path"))
}

#[component]
fn Launch() -> impl IntoView {
    let auth = use_auth();
    let name = use_params_map().with_untracked(|p| p.get("name").unwrap_or_default());
    let error = RwSignal::new(None::<String>);
    let (state, path) = fragment();
    let app = name.clone();
    leptos::task::spawn_local(async move {
        if state.is_empty() {
            error.set(Some(format!(
                "This launch did not come from the app's address. Open {app} from the resources page."
            )));
            return;
        }
        let body = AppLaunch { state, path };
        let url = format!("/api/v1/apps/{}/launch", js_sys::encode_uri_component(&app));
        match api::post::<_, AppLaunched>(&url, &body, &auth.csrf()).await {
            Ok(launched) => {
                if let Some(window) = web_sys::window() {
                    // Replace: Back from the app does not land on a spent launch.
                    let _ = window.location().replace(&launched.url);
                }
            }
            Err(failure) => error.set(Some(failure.message)),
        }
    });
    view! {
        <div class="page-head"><div><h1>{format!("Opening {name}")}</h1></div></div>
        <Show when=move || error.with(Option::is_none)>
            <Loading label="Checking your access to the app…"/>
        </Show>
        <ErrorAlert message=error/>
        <Show when=move || error.with(Option::is_some)>
            <p><a href="/">"Back to your resources"</a></p>
        </Show>
    }
}
