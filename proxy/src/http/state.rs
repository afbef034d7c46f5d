//! What every handler is given: the [`Gatehouse`] (which they reach through `Deref`),
//! and the two things only the web face has, the app's files and the sign-in limiter.

use std::sync::{Arc, Mutex};

use super::assets::Assets;
use crate::auth::rate_limit::RateLimiter;
use crate::gate::Gatehouse;

#[derive(Clone)]
pub struct AppState {
    gatehouse: Arc<Gatehouse>,
    web: Arc<Web>,
}

struct Web {
    assets: Assets,
    signin_limiter: Mutex<RateLimiter>,
}

impl AppState {
    pub fn new(gatehouse: Arc<Gatehouse>, assets: Assets, signin_attempts_per_minute: u32) -> AppState {
        let signin_limiter = Mutex::new(RateLimiter::new(signin_attempts_per_minute));
        AppState { gatehouse, web: Arc::new(Web { assets, signin_limiter }) }
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
        self.web.signin_limiter.lock().unwrap_or_else(|p| p.into_inner()).allow(ip, crate::auth::now())
    }
}

impl std::ops::Deref for AppState {
    type Target = Gatehouse;
    fn deref(&self) -> &Gatehouse {
        &self.gatehouse
    }
}
