//! The HTTPS face of the proxy: the JSON API under `/api/v1`, the web app's files for
//! everything else, and the security headers on every response.

pub mod api;
pub mod assets;
pub mod desktops;
pub mod error;
pub mod passkeys;
pub mod recordings;
pub mod server;
pub mod ssh;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;

use crate::access::rbac::Roles;
use crate::accounts::Accounts;
use crate::audit::Audit;
use crate::auth::rate_limit::RateLimiter;
use crate::inventory::nodes::Node;
use crate::store::Store;
use assets::Assets;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// A passed passkey check for one SSH session: who, where, as whom, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaTicket {
    pub user: String,
    pub node: String,
    pub login: String,
    pub expires_at: u64,
}

pub struct Shared {
    pub accounts: Accounts,
    pub passkeys: crate::passkeys::Passkeys,
    /// One-time tickets from passed session checks, taken by the SSH WebSocket.
    pub mfa_tickets: Mutex<std::collections::HashMap<String, MfaTicket>>,
    pub store: Arc<dyn Store>,
    pub config_nodes: Vec<Node>,
    pub config_desktops: Vec<crate::inventory::desktops::Desktop>,
    /// Config desktops' password files, by desktop name (read only to connect).
    pub config_desktop_passwords: std::collections::HashMap<String, std::path::PathBuf>,
    /// Opens the sealed passwords of desktops added with the command line.
    pub vault: Arc<crate::vault::Vault>,
    pub roles: Roles,
    pub cas: crate::ca::Authorities,
    /// Where recordings (and the rest of the state) live.
    pub data_dir: std::path::PathBuf,
    /// Where people reach us, e.g. `https://localhost:3080`: the only Origin we accept.
    pub public_url: String,
    pub audit: Audit,
    pub assets: Assets,
    pub signin_limiter: Mutex<RateLimiter>,
    /// The SSH and desktop sessions running here.
    pub live: Arc<crate::sessions::Live>,
    pub limits: crate::config::Limits,
    /// `[ssh] source_addresses`, comma-joined as `source-address` takes them.
    pub ssh_source_addresses: Option<String>,
    /// Who read which recording lately: one audit record per viewing.
    pub viewings: Mutex<crate::audit::Viewings>,
    /// Direct-mode certificates issued lately: (user, node, login, valid until).
    pub certified: Mutex<Vec<(String, String, String, u64)>>,
}

impl Shared {
    /// Notes a direct-mode certificate, so a socket to that node answers for its login.
    pub fn note_certified(&self, user: &str, node: &str, login: &str, until: u64) {
        let mut certified = self.certified.lock().unwrap_or_else(|p| p.into_inner());
        let now = crate::auth::now();
        certified.retain(|(_, _, _, valid)| *valid >= now);
        certified.push((user.to_string(), node.to_string(), login.to_string(), until));
    }

    /// Logins `user` was certified for on `node` whose certificates still open it.
    pub fn certified_logins(&self, user: &str, node: &str, now: u64) -> Vec<String> {
        let certified = self.certified.lock().unwrap_or_else(|p| p.into_inner());
        certified
            .iter()
            .filter(|(u, n, _, until)| u == user && n == node && *until >= now)
            .map(|(_, _, l, _)| l.clone())
            .collect()
    }

    /// Too little room left to record on: new recorded sessions are refused.
    pub fn disk_low(&self) -> bool {
        let dir = crate::recordings::directory(&self.data_dir);
        crate::recordings::free_space(&dir).is_ok_and(|free| free < self.limits.min_free_disk_mb << 20)
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api::router(state.clone()))
        .fallback(assets::serve)
        .layer(middleware::from_fn_with_state(state.clone(), security_headers))
        .with_state(state)
}

/// Headers that hold on every response: the page may only run our own code, may not be
/// framed, and the browser must stay on HTTPS.
async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(state.assets.content_security_policy()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    let fixed = [
        (header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    headers
        .insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"));
    response
}
