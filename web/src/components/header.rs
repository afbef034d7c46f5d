use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::session::use_auth;
use crate::theme::Theme;

/// The top bar: brand, the signed-in user, theme switch and sign-out.
#[component]
pub fn Header() -> impl IntoView {
    let auth = use_auth();
    let theme = expect_context::<RwSignal<Theme>>();
    let navigate = use_navigate();
    let signing_out = RwSignal::new(false);
    // Requests waiting for this person's review (the badge): asked once per sign-in, and
    // then every few seconds only if they review a role at all; any failure stops it.
    let pending = RwSignal::new(0usize);
    let reviewer = RwSignal::new(false);
    let count_pending = move || {
        leptos::task::spawn_local(async move {
            match crate::api::get::<gatehouse_proto::api::AccessRequests>("/api/v1/requests").await {
                Ok(found) => {
                    reviewer.set(found.reviewer);
                    pending.set(found.pending_reviews);
                }
                Err(_) => {
                    reviewer.set(false);
                    pending.set(0);
                }
            }
        });
    };
    Effect::new(move |_| match auth.session.with(|s| s.as_ref().map(|s| s.username.clone())) {
        Some(_) => count_pending(),
        None => {
            reviewer.set(false);
            pending.set(0);
        }
    });
    StoredValue::new_local(gloo_timers::callback::Interval::new(3_000, move || {
        if reviewer.get_untracked() && auth.session.with_untracked(Option::is_some) {
            count_pending();
        }
    }));

    let sign_out = move |_| {
        let navigate = navigate.clone();
        signing_out.set(true);
        leptos::task::spawn_local(async move {
            // Whatever the server says, this tab forgets the session.
            let _ = crate::api::delete("/api/v1/session", &auth.csrf()).await;
            auth.session.set(None);
            signing_out.set(false);
            navigate("/signin", Default::default());
        });
    };
    let toggle_theme = move |_| {
        let next = theme.get_untracked().other();
        crate::theme::remember(next);
        theme.set(next);
    };

    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <svg class="brand-mark" viewBox="0 0 32 32" aria-hidden="true">
                    <path d="M16 2 4 7v8c0 7.4 5.1 13.6 12 15 6.9-1.4 12-7.6 12-15V7L16 2z" class="brand-shield"/>
                    <path d="M11 14h10v9H11z M13 14v-3a3 3 0 0 1 6 0v3" class="brand-lock"/>
                </svg>
                <span class="brand-name">"Gatehouse"</span>
            </a>
            {move || auth.session.get().map(|_| view! {
                <nav class="topnav" aria-label="Main">
                    <a href="/" data-testid="nav-resources">"Resources"</a>
                    <a href="/ssh" data-testid="nav-sessions">"Sessions"</a>
                    <a href="/live" data-testid="nav-live">"Live"</a>
                    <a href="/recordings" data-testid="nav-recordings">"Recordings"</a>
                    <a href="/requests" data-testid="nav-requests">
                        "Requests"
                        {move || (pending.get() > 0).then(|| view! {
                            <span class="nav-badge" data-testid="pending-badge"
                                title="Access requests waiting for your review">{pending.get().to_string()}</span>
                        })}
                    </a>
                </nav>
            })}
            <div class="topbar-actions">
                <button
                    class="icon-button"
                    type="button"
                    on:click=toggle_theme
                    data-testid="theme-toggle"
                    title=move || match theme.get() { Theme::Light => "Switch to the dark theme", Theme::Dark => "Switch to the light theme" }
                    aria-label=move || match theme.get() { Theme::Light => "Switch to the dark theme", Theme::Dark => "Switch to the light theme" }
                >
                    {move || match theme.get() {
                        Theme::Light => view! {
                            <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z"/></svg>
                        }.into_any(),
                        Theme::Dark => view! {
                            <svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="4.5"/><path d="M12 1.5v3M12 19.5v3M1.5 12h3M19.5 12h3M4.6 4.6l2.1 2.1M17.3 17.3l2.1 2.1M4.6 19.4l2.1-2.1M17.3 6.7l2.1-2.1"/></svg>
                        }.into_any(),
                    }}
                </button>
                {move || auth.session.get().map(|session| {
                    let initial = session.username.chars().next().unwrap_or('?').to_ascii_uppercase();
                    view! {
                        <a class="user-chip" href="/account" data-testid="current-user" title="Your account and passkeys">
                            <span class="avatar" aria-hidden="true">{initial.to_string()}</span>
                            <span class="user-name">{session.username.clone()}</span>
                        </a>
                        <button
                            class="button button-quiet"
                            type="button"
                            on:click=sign_out.clone()
                            disabled=move || signing_out.get()
                            data-testid="sign-out"
                        >
                            "Sign out"
                        </button>
                    }
                })}
            </div>
        </header>
    }
}
