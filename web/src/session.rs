//! Who is signed in, shared by every component through the context. The CSRF token
//! lives here, in memory only: never in localStorage or a readable cookie.

use gatehouse_proto::api::SessionInfo;
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Auth {
    /// The signed-in session, or `None`.
    pub session: RwSignal<Option<SessionInfo>>,
    /// False until the app has asked the proxy whether a session exists.
    pub checked: RwSignal<bool>,
}

impl Auth {
    pub fn new() -> Auth {
        Auth { session: RwSignal::new(None), checked: RwSignal::new(false) }
    }

    pub fn csrf(&self) -> String {
        self.session.with_untracked(|s| s.as_ref().map(|s| s.csrf_token.clone()).unwrap_or_default())
    }

    /// Asks the proxy whether the session cookie still names a live session.
    pub async fn refresh(self) {
        let session = crate::api::get::<SessionInfo>("/api/v1/session").await.ok();
        self.session.set(session);
        self.checked.set(true);
    }
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}
