//! Web-app access: apps (in the [`crate::inventory`]) reached at origins of their own
//! ([`origin`]), through a launch that binds an app session to the web session
//! ([`session`]), with a signed identity on every request ([`assertion`], signed by the
//! cluster's [`keys`]) and the headers each way decided in [`headers`]. The HTTP
//! forwarding itself is in `http/apps.rs`; the access decision is
//! [`crate::access::app`], taken again on every request and by the sweep.

pub mod assertion;
pub mod headers;
pub mod keys;
pub mod origin;
pub mod session;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::auth::token;
use crate::inventory::apps::App;
use crate::store::StoreError;
use crate::store::apps::AppStore;
use crate::vault::Vault;
use keys::{SigningKey, StoredKey};
use origin::Origins;
use session::{AppSession, LAUNCH_TTL_SECS, Launch};

/// The app session's cookie, on the app's origin only.
pub const SESSION_COOKIE: &str = "__Host-gatehouse_app";
/// The launch's state cookie, on the app's origin only.
pub const STATE_COOKIE: &str = "__Host-gatehouse_app_state";
/// The paths on an app's origin the proxy answers itself.
pub const LAUNCH_PATH: &str = "/.gatehouse/launch";

/// How long the proxy keeps using the signing key it read before reading the keys again
/// (so a rotation made by `gatehouse apps rotate-key` is used within this time).
const KEY_REREAD: u64 = 2;

/// `[app_access]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How long an identity assertion is valid (`"60s"`).
    #[serde(deserialize_with = "duration")]
    pub token_ttl: Duration,
    /// Writes an audit record of each request to an app: method, path, status.
    pub audit_requests: bool,
    /// How long the proxy waits for an app's answer to start (after the request's body).
    #[serde(deserialize_with = "duration")]
    pub response_timeout: Duration,
    /// How long a rotated key is published before it signs: longer than apps cache the
    /// key set (`/.well-known/jwks.json` says 60 s).
    #[serde(deserialize_with = "duration")]
    pub key_publish_ahead: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token_ttl: Duration::from_secs(60),
            audit_requests: false,
            response_timeout: Duration::from_secs(30),
            key_publish_ahead: Duration::from_secs(120),
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}

#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error("cannot sign the identity assertion: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    #[error("there is no key to sign with (start the proxy once, or run `gatehouse apps rotate-key`)")]
    NoKey,
}

/// The launches, app sessions and signing keys.
pub struct Apps {
    store: Arc<dyn AppStore>,
    vault: Arc<Vault>,
    /// `None` when the public URL's host is an address: no apps can be served.
    pub origins: Option<Origins>,
    /// The assertions' `iss`: Gatehouse's public URL.
    issuer: String,
    pub settings: Settings,
    signer: Mutex<Option<(u64, Arc<SigningKey>)>>,
}

/// A launch token made for the browser, and where it takes it.
pub struct Launched {
    pub url: String,
}

impl Apps {
    pub fn new(store: Arc<dyn AppStore>, vault: Arc<Vault>, public_url: &str, settings: Settings) -> Apps {
        Apps {
            store,
            vault,
            origins: Origins::from_public_url(public_url),
            issuer: public_url.trim_end_matches('/').to_string(),
            settings,
            signer: Mutex::new(None),
        }
    }

    /// Makes the first signing key if there is none (at start; with several proxies the
    /// first to get there wins and the others use its key).
    pub fn ensure_key(&self, now: u64) -> Result<(), AppsError> {
        if self.store.app_keys()?.is_empty() {
            let key = keys::generate(&self.vault, now, now)?;
            if self.store.add_first_app_key(&key)? {
                tracing::info!(kid = %key.kid, "made the first key for apps' identity assertions");
            }
        }
        Ok(())
    }

    /// A new signing key, published now, signing from `key_publish_ahead` later; the old
    /// ones stay published until their tokens expired. Returns the new key's id and when
    /// it starts signing.
    pub fn rotate(&self, now: u64) -> Result<(String, u64), AppsError> {
        let key = keys::generate(&self.vault, now, now + self.settings.key_publish_ahead.as_secs())?;
        self.store.add_app_key(&key)?;
        Ok((key.kid, key.signs_from))
    }

    /// Every key, newest first.
    pub fn keys(&self) -> Result<Vec<StoredKey>, AppsError> {
        Ok(self.store.app_keys()?)
    }

    /// The keys an app may meet now, as a JWK set.
    pub fn jwks(&self, now: u64) -> Result<jsonwebtoken::jwk::JwkSet, AppsError> {
        let keys = self.store.app_keys()?;
        Ok(keys::jwks(&keys::published(&keys, now, self.settings.token_ttl.as_secs())))
    }

    fn signer(&self, now: u64) -> Result<Arc<SigningKey>, AppsError> {
        let mut cached = self.signer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((read_at, key)) = cached.as_ref()
            && now < read_at + KEY_REREAD
        {
            return Ok(key.clone());
        }
        let stored = self.store.app_keys()?;
        let newest = keys::signing(&stored, now).ok_or(AppsError::NoKey)?;
        let key = match cached.as_ref() {
            Some((_, key)) if key.kid == newest.kid => key.clone(),
            _ => Arc::new(keys::open(&self.vault, newest)?),
        };
        *cached = Some((now, key.clone()));
        Ok(key)
    }

    /// The signed identity of `user` (with the roles they hold now) for `app`.
    pub fn assertion(
        &self,
        app: &App,
        user: &str,
        roles: &[String],
        traits: BTreeMap<String, Vec<String>>,
        now: u64,
    ) -> Result<String, AppsError> {
        let key = self.signer(now)?;
        let subject = assertion::Subject {
            issuer: &self.issuer,
            audience: app.uri.origin(),
            app: app.name.as_str(),
            user,
            roles,
            traits,
        };
        let claims = assertion::claims(subject, now, self.settings.token_ttl.as_secs(), token::random_token());
        Ok(assertion::sign(&claims, &key)?)
    }

    /// Step 2 of a launch (see [`session`]): keeps a one-time token for `user`'s web
    /// session and the browser holding `state`, and says where the browser takes it.
    /// The caller has decided the user may use the app.
    pub fn launch(
        &self,
        app: &App,
        user: &str,
        web_session: &str,
        state: &str,
        path: &str,
        now: u64,
    ) -> Result<Option<Launched>, AppsError> {
        let Some(origins) = &self.origins else { return Ok(None) };
        let launch_token = token::random_token();
        let launch = Launch {
            state_hash: token::token_hash(state),
            app: app.name.to_string(),
            user: user.to_string(),
            web_session: web_session.to_string(),
            path: session::landing_path(path),
            expires_at: now + LAUNCH_TTL_SECS,
        };
        self.store.put_app_launch(&token::token_hash(&launch_token), &launch, now)?;
        let url = format!("{}{LAUNCH_PATH}?token={launch_token}", origins.app_origin(app.name.as_str()));
        Ok(Some(Launched { url }))
    }

    /// Step 3: takes the launch (once), if it is for `app` and the browser holds the
    /// state it is bound to. `None` otherwise: expired, used, another app's, another
    /// browser's.
    pub fn take_launch(
        &self,
        app: &str,
        launch_token: &str,
        state: Option<&str>,
        now: u64,
    ) -> Result<Option<Launch>, AppsError> {
        let Some(launch) = self.store.take_app_launch(&token::token_hash(launch_token), now)? else {
            return Ok(None);
        };
        let same_browser = state.is_some_and(|s| token::secrets_equal(&token::token_hash(s), &launch.state_hash));
        Ok((launch.app == app && same_browser).then_some(launch))
    }

    /// Opens the app session a launch became, to last as long as its web session: the
    /// token for the cookie.
    pub fn open_session(&self, launch: &Launch, web_expires: u64, now: u64) -> Result<String, AppsError> {
        let cookie = token::random_token();
        let session = AppSession {
            app: launch.app.clone(),
            user: launch.user.clone(),
            web_session: launch.web_session.clone(),
            created_at: now,
            expires_at: web_expires,
        };
        self.store.put_app_session(&token::token_hash(&cookie), &session, now)?;
        Ok(cookie)
    }

    /// The app session a cookie names, if live.
    pub fn session(&self, cookie: &str, now: u64) -> Result<Option<AppSession>, AppsError> {
        Ok(self.store.app_session(&token::token_hash(cookie), now)?)
    }

    /// Ends the app sessions of a web session (at sign-out): those ended.
    pub fn end_sessions_of(&self, web_session: &str) -> Result<Vec<AppSession>, AppsError> {
        Ok(self.store.end_app_sessions(web_session)?)
    }
}

/// `NAME=VALUE; Path=/; Secure; HttpOnly; SameSite=Lax` for `max_age` seconds: Lax, not
/// Strict, so a link to the app from elsewhere (the resources page is another origin)
/// arrives with it.
pub fn cookie(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}")
}

/// The value of the cookie `name` in a `Cookie` header, if there is one that could be a
/// token of ours.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|c| c.trim().split_once('=')).find(|(n, _)| *n == name).map(|(_, v)| v).filter(|v| {
        !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_cookies_are_host_only_secure_and_lax() {
        let c = cookie(SESSION_COOKIE, "t0k3n", 600);
        for part in ["__Host-gatehouse_app=t0k3n", "Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age=600"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!c.contains("Domain"), "a Domain would share it with every app");
    }

    #[test]
    fn a_cookie_is_found_by_its_exact_name() {
        let header = "__Host-gatehouse_app_state=s1; __Host-gatehouse_app=a1; other=x";
        assert_eq!(cookie_value(header, SESSION_COOKIE), Some("a1"));
        assert_eq!(cookie_value(header, STATE_COOKIE), Some("s1"));
        assert_eq!(cookie_value("x=1", SESSION_COOKIE), None);
        assert_eq!(cookie_value("__Host-gatehouse_app=a b", SESSION_COOKIE), None);
    }
}
