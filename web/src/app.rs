//! The app's frame: session check, theme, a host CA pin offered by the address (once,
//! at start, whatever the route), routes. And the sign-in app's, which has one route.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::components::header::Header;
use crate::components::pin_conflict::PinConflict;
use crate::pages::account::AccountPage;
use crate::pages::invite::InvitePage;
use crate::pages::not_found::NotFound;
use crate::pages::player::PlayerPage;
use crate::pages::recordings::RecordingsPage;
use crate::pages::resources::ResourcesPage;
use crate::pages::signin::SignInPage;
use crate::pages::ssh::{OpenSession, SessionTabs, SessionsRoute};
use crate::session::Auth;

#[component]
pub fn App() -> impl IntoView {
    let auth = Auth::new();
    provide_context(auth);
    let theme = crate::theme::provide();
    crate::term_prefs::TermPrefs::provide(theme.get_untracked() == crate::theme::Theme::Dark);
    crate::workspace::Workspace::provide();
    leptos::task::spawn_local(auth.refresh());
    let pin_conflict = RwSignal::new(crate::ssh::pin::offer_from_address());

    view! {
        <Router>
            <div class="shell">
                <Header/>
                <main class="content">
                    <Routes fallback=|| view! { <NotFound/> }>
                        <Route path=path!("/") view=ResourcesPage/>
                        <Route path=path!("/signin") view=|| view! { <SignInPage/> }/>
                        <Route path=path!("/invite") view=InvitePage/>
                        <Route path=path!("/sso/callback/:connector") view=crate::pages::sso_callback::SsoCallbackPage/>
                        <Route path=path!("/device") view=crate::pages::device::DevicePage/>
                        <Route path=path!("/ssh/:node") view=OpenSession/>
                        <Route path=path!("/ssh") view=SessionsRoute/>
                        <Route path=path!("/recordings") view=RecordingsPage/>
                        <Route path=path!("/live") view=crate::pages::live::LivePage/>
                        <Route path=path!("/join/:id") view=crate::pages::join::JoinPage/>
                        <Route path=path!("/account") view=AccountPage/>
                        <Route path=path!("/requests") view=crate::pages::requests::RequestsPage/>
                        <Route path=path!("/recordings/:id") view=PlayerPage/>
                        <Route path=path!("/desktops/:name") view=crate::pages::desktop::DesktopPage/>
                        <Route path=path!("/apps/:name/launch") view=crate::pages::app_launch::AppLaunchPage/>
                    </Routes>
                    <SessionTabs/>
                </main>
                <PinConflict conflict=pin_conflict/>
            </div>
        </Router>
    }
}

/// The sign-in app's frame: the same top bar and sign-in page, and no other route. A
/// link it follows (the brand, say) is not drawn here but loaded, so the proxy answers
/// with the whole app; signing in loads it too. A host CA pin in the address is left
/// there for the whole app to offer.
#[component]
pub fn SignInApp() -> impl IntoView {
    let auth = Auth::new();
    provide_context(auth);
    crate::theme::provide();
    leptos::task::spawn_local(auth.refresh());

    view! {
        <Router>
            <div class="shell">
                <Header/>
                <main class="content">
                    <Routes fallback=|| view! { <LoadWholeApp/> }>
                        <Route path=path!("/signin") view=|| view! { <SignInPage standalone=true/> }/>
                    </Routes>
                </main>
            </div>
        </Router>
    }
}

/// Any address but `/signin` in the sign-in app: the page is loaded from the proxy,
/// which serves the whole app there (but this app again at `/signin.html`, its file,
/// which goes to `/signin` rather than round and round). The path is the router's, and
/// the load waits a turn: the address bar may not have it yet.
#[component]
fn LoadWholeApp() -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let path = location.pathname.get_untracked();
    let target = if path == "/signin.html" { "/signin".to_string() } else { path };
    set_timeout(
        move || {
            if let Some(window) = web_sys::window() {
                let _ = window.location().replace(&target);
            }
        },
        std::time::Duration::ZERO,
    );
    view! { <crate::components::spinner::Loading label="Loading…"/> }
}

/// Leaves the sign-in app for `path` of the whole app (a page load), keeping the
/// address's fragment (a host CA pin offered by a link). Once only: signing in both
/// leaves and sets the session, whose effect leaves too, and a second load started on
/// top of the first would abort it.
pub fn load_whole_app(path: &str) {
    thread_local! {
        static LEAVING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if LEAVING.with(|leaving| leaving.replace(true)) {
        return;
    }
    if let Some(window) = web_sys::window() {
        let fragment = window.location().hash().unwrap_or_default();
        let _ = window.location().assign(&format!("{path}{fragment}"));
    }
}

/// Starts fetching the whole app's code (the files `index.html` loads) at low priority,
/// so the page load after signing in finds them in the cache: the sign-in app calls it
/// once the person starts (the form takes the focus), not at load, which stays small.
/// The names come from `index.html` itself (they carry content hashes); a failure only
/// means signing in waits for the download as it would have anyway.
pub fn prefetch_whole_app() {
    leptos::task::spawn_local(async {
        let Some(window) = web_sys::window() else { return };
        let Some(html) = fetch_text(&window, "/index.html").await else { return };
        let (Some(document), Some(head)) =
            (window.document(), window.document().and_then(|d| d.query_selector("head").ok().flatten()))
        else {
            return;
        };
        for href in code_links(&html) {
            if let Ok(link) = document.create_element("link") {
                let _ = link.set_attribute("rel", "prefetch");
                let _ = link.set_attribute("href", href);
                let _ = head.append_child(&link);
            }
        }
    });
}

async fn fetch_text(window: &web_sys::Window, path: &str) -> Option<String> {
    use wasm_bindgen::JsCast;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(path)).await.ok()?;
    let response: web_sys::Response = response.dyn_into().ok()?;
    if !response.ok() {
        return None;
    }
    wasm_bindgen_futures::JsFuture::from(response.text().ok()?).await.ok()?.as_string()
}

/// The code files of this origin a page links to: every `href="/…"` (a path, not `//`
/// another host) ending in `.js` or `.wasm`.
fn code_links(html: &str) -> impl Iterator<Item = &str> {
    html.split("href=\"").skip(1).filter_map(|rest| {
        let href = &rest[..rest.find('"')?];
        let own = href.starts_with('/') && !href.starts_with("//");
        (own && (href.ends_with(".js") || href.ends_with(".wasm"))).then_some(href)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_whole_apps_code_is_read_from_its_page() {
        let html = concat!(
            r#"<link rel="stylesheet" href="/style-1.css"/>"#,
            r#"<link rel="modulepreload" href="/gatehouse-web-2.js" crossorigin="anonymous">"#,
            r#"<link rel="preload" href="/gatehouse-web-2_bg.wasm" as="fetch">"#,
            r#"<a href="https://elsewhere.example/x.js"><a href="//elsewhere.example/y.wasm">"#,
            r#"<link href="/unterminated.js"#,
        );
        let links: Vec<_> = super::code_links(html).collect();
        assert_eq!(links, ["/gatehouse-web-2.js", "/gatehouse-web-2_bg.wasm"]);
    }
}
