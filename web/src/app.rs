//! The app's frame: session check, theme, a host CA pin offered by the address (once,
//! at start, whatever the route), routes.

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
                        <Route path=path!("/signin") view=SignInPage/>
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
