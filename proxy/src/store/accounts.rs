//! Accounts as persisted: users and their credentials, invites, the sign-in attempts
//! counted against a name, and web sessions. Token arguments are SHA-256 hashes, never
//! tokens.

use super::Result;
use crate::accounts::session::Session;
use crate::accounts::user::{Invite, User, UserId};
use crate::auth::lockout::Attempt;

/// Users, their credentials and invites, sign-in attempts and web sessions.
pub trait AccountStore: Send + Sync {
    fn create_user(&self, name: &str, roles: &[String], now: u64) -> Result<UserId>;
    fn user_by_name(&self, name: &str) -> Result<Option<User>>;
    fn user_by_id(&self, id: UserId) -> Result<Option<User>>;
    fn list_users(&self) -> Result<Vec<User>>;
    fn set_roles(&self, user: UserId, roles: &[String]) -> Result<()>;

    /// `totp_secret` is sealed by the caller ([`crate::vault`]): the store never holds
    /// a TOTP secret in the clear.
    fn set_credentials(&self, user: UserId, password_hash: &str, totp_secret: &[u8], totp_step: u64) -> Result<()>;
    /// Enrolment with a passkey: the password, and no TOTP.
    fn set_password(&self, user: UserId, password_hash: &str) -> Result<()>;
    /// Marks the TOTP step used, atomically: false if it (or a later one) already was,
    /// so one code never signs in twice, however many requests race.
    fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool>;
    /// Replaces the (sealed) TOTP secret, keeping the last step used.
    fn set_totp_secret(&self, user: UserId, sealed: &[u8]) -> Result<()>;
    /// Forgets the user's password, TOTP and passkeys, and ends their sessions and
    /// invites: they must enrol again.
    fn reset_user(&self, user: UserId) -> Result<()>;

    fn create_invite(&self, user: UserId, token_hash: &str, expires_at: u64) -> Result<()>;
    /// An unused, unexpired invite.
    fn invite(&self, token_hash: &str, now: u64) -> Result<Option<Invite>>;
    fn set_invite_totp(&self, invite: i64, secret: &[u8]) -> Result<()>;
    /// Marks every invite of the user used. False when this one was already used.
    fn consume_invites(&self, invite: i64, user: UserId) -> Result<bool>;

    /// Atomically: refuses the attempt if the name is locked or already has
    /// `max_failures` failures since `window_start` (and then locks it until
    /// `lock_until`); otherwise counts it as a failure, which a success clears.
    fn begin_attempt(
        &self,
        username: &str,
        now: u64,
        window_start: u64,
        max_failures: u32,
        lock_until: u64,
    ) -> Result<Attempt>;
    fn clear_failures(&self, username: &str) -> Result<()>;
    /// Counts a sign-in attempt from the client address `client` (see
    /// [`crate::auth::rate_limit`]), unless it already made `per_window` since
    /// `window_start`: then false, and nothing is counted.
    fn count_client_attempt(&self, client: &str, now: u64, window_start: u64, per_window: u32) -> Result<bool>;
    fn lock(&self, username: &str, until: u64) -> Result<()>;

    fn create_session(&self, token_hash: &str, user: UserId, csrf: &str, now: u64, expires_at: u64) -> Result<()>;
    /// A live session with its user; expired ones are never returned.
    fn session(&self, token_hash: &str, now: u64) -> Result<Option<Session>>;
    /// The live ones among the sessions `token_hashes` names (in no particular order):
    /// what the sweep asks every half second, in one query.
    fn sessions(&self, token_hashes: &[String], now: u64) -> Result<Vec<Session>>;
    /// The session proved a factor again at `now`.
    fn confirm_session(&self, token_hash: &str, now: u64) -> Result<()>;
    fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Ends every web session of the user.
    fn delete_sessions_of(&self, user: UserId) -> Result<usize>;
    /// Forgets what has expired by `now`: web sessions, invites, lockouts, and failures
    /// too old to count. The number of web sessions removed.
    fn delete_expired(&self, now: u64) -> Result<usize>;
}
