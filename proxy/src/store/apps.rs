//! Web-app access as persisted: the signing keys of the identity assertions (private
//! halves sealed by the vault), the launches under way (a one-time token the browser
//! carries from Gatehouse's origin to the app's), and the app sessions they became.
//! Tokens arrive as SHA-256 hashes, never tokens.

use super::Result;
use crate::apps::keys::StoredKey;
use crate::apps::session::{AppSession, Launch};

pub trait AppStore: Send + Sync {
    /// Every signing key, newest first.
    fn app_keys(&self) -> Result<Vec<StoredKey>>;
    /// Adds `key` as the one to sign with from `key.signs_from`, retiring then every
    /// other key not yet retired.
    fn add_app_key(&self, key: &StoredKey) -> Result<()>;
    /// Adds `key` only if there is no key at all (the first start): false if one was
    /// there (another proxy made it first).
    fn add_first_app_key(&self, key: &StoredKey) -> Result<bool>;

    /// Keeps a launch until it is taken or expires (expired ones are dropped here).
    fn put_app_launch(&self, token_hash: &str, launch: &Launch, now: u64) -> Result<()>;
    /// Takes the launch out, whatever comes next: a second take finds nothing. Expired
    /// ones are `None`.
    fn take_app_launch(&self, token_hash: &str, now: u64) -> Result<Option<Launch>>;

    /// Keeps an app session (expired ones are dropped here).
    fn put_app_session(&self, token_hash: &str, session: &AppSession, now: u64) -> Result<()>;
    /// The live app session with this token, if any.
    fn app_session(&self, token_hash: &str, now: u64) -> Result<Option<AppSession>>;
    /// Ends every app session of the web session `web_session` (its hash): the ones
    /// ended, for the audit.
    fn end_app_sessions(&self, web_session: &str) -> Result<Vec<AppSession>>;
}
