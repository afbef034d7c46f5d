//! What every handler is given: the [`Gatehouse`] (which they reach through `Deref`),
//! and the two things only the web face has, the app's files and the sign-in limit.

use std::sync::Arc;

use super::assets::Assets;
use crate::gate::Gatehouse;

#[derive(Clone)]
pub struct AppState {
    gatehouse: Arc<Gatehouse>,
    web: Arc<Web>,
}

struct Web {
    assets: Assets,
    signin_attempts_per_minute: u32,
}

impl AppState {
    pub fn new(gatehouse: Arc<Gatehouse>, assets: Assets, signin_attempts_per_minute: u32) -> AppState {
        AppState { gatehouse, web: Arc::new(Web { assets, signin_attempts_per_minute }) }
    }

    /// The services, to hand to code that outlives the request (a session's bridge).
    pub fn gatehouse(&self) -> &Arc<Gatehouse> {
        &self.gatehouse
    }

    pub fn assets(&self) -> &Assets {
        &self.web.assets
    }

    /// Whether `ip` may try to sign in now (a password or a passkey): a few tries a
    /// minute per address.
    pub fn signin_allowed(&self, ip: std::net::IpAddr) -> bool {
        let per_minute = self.web.signin_attempts_per_minute;
        crate::auth::rate_limit::allow(self.store.as_ref(), ip, per_minute, crate::auth::now())
    }
}

impl std::ops::Deref for AppState {
    type Target = Gatehouse;
    fn deref(&self) -> &Gatehouse {
        &self.gatehouse
    }
}
