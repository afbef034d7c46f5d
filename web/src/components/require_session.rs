use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::components::spinner::Loading;
use crate::session::use_auth;

/// Shows its children to a signed-in person; sends everyone else to the sign-in page.
#[component]
pub fn RequireSession(children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if auth.checked.get() && auth.session.with(Option::is_none) {
            navigate("/signin", Default::default());
        }
    });
    view! {
        <Show
            when=move || auth.session.with(Option::is_some)
            fallback=|| view! { <Loading label="Checking your session…"/> }
        >
            {children()}
        </Show>
    }
}
