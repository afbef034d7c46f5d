//! One button per single sign-on connector the proxy has; nothing when it has none.

use gatehouse_proto::api::{SsoConnectors, SsoStart};
use leptos::prelude::*;

use crate::api;

#[component]
pub fn SsoButtons(error: RwSignal<Option<String>>, busy: RwSignal<bool>) -> impl IntoView {
    let connectors = LocalResource::new(|| async {
        api::get::<SsoConnectors>("/api/v1/sso").await.map(|list| list.connectors).unwrap_or_default()
    });
    let leave = move |name: String| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let path = format!("/api/v1/sso/{name}/start");
            match api::post::<_, SsoStart>(&path, &serde_json::json!({}), api::PRE_SESSION_CSRF).await {
                Ok(start) => {
                    // The provider's own page; it sends the browser back to /sso/callback.
                    if let Some(window) = web_sys::window()
                        && window.location().assign(&start.url).is_ok()
                    {
                        return;
                    }
                    error.set(Some("The browser did not go to the sign-in provider. Try again.".into()));
                }
                Err(failure) => error.set(Some(failure.message)),
            }
            busy.set(false);
        });
    };
    move || {
        let list = connectors.get().unwrap_or_default();
        (!list.is_empty()).then(|| {
            let buttons = list
                .into_iter()
                .map(|connector| {
                    let name = connector.name.clone();
                    view! {
                        <button class="button button-block" type="button"
                            on:click=move |_| leave(name.clone())
                            disabled=move || busy.get() data-testid=format!("sso-{}", connector.name)>
                            {format!("Sign in with {}", connector.display_name)}
                        </button>
                    }
                })
                .collect_view();
            view! {
                <div class="divider"><span>"or"</span></div>
                <div class="sso-buttons">{buttons}</div>
            }
        })
    }
}
