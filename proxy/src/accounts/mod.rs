//! Users, invites, sign-in and web sessions: the rules, over the [`AccountStore`] (and
//! the [`LockStore`], for an admin's lock on a user). No HTTP here; the handlers in
//! `http::api` translate requests and errors.
//!
//! Every guess is counted before its verdict is computed (`AccountStore::begin_attempt`), so
//! however many guesses race, at most `max_failures` verdicts are ever computed before
//! a name locks; a TOTP step is spent atomically, so one code signs in once. TOTP
//! secrets are sealed by the [`Vault`], bound to their user.

pub mod session;
pub mod user;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_proto::api::{InviteDetails, SessionInfo};

use crate::auth::lockout::{Attempt, LockoutPolicy};
use crate::auth::password::{self, PasswordError};
use crate::auth::{token, totp};
use crate::config::Config;
use crate::store::StoreError;
use crate::store::accounts::AccountStore;
use crate::store::locks::LockStore;
use crate::vault::Vault;
use session::Session;
use user::{User, UserId};

/// How long a confirmed factor lets a session change factors.
pub const CONFIRM_SECS: u64 = 5 * 60;

pub const ISSUER: &str = "Gatehouse";
const MAX_NAME_LEN: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// One answer for a wrong name, password or code, so none of them can be probed.
    #[error("The user name, password or code is wrong.")]
    BadCredentials,
    #[error("Too many failed sign-ins. Try again in {minutes} minutes, or ask an admin to help.")]
    Locked { minutes: u64 },
    #[error("This invite link is not valid: it has expired or was already used. Ask an admin for a new one.")]
    InviteInvalid,
    #[error("{0}")]
    WeakPassword(#[from] PasswordError),
    #[error("That code does not match. Check the time on your phone and type the newest code.")]
    WrongEnrolmentCode,
    #[error("A user name is 1 to 64 characters: lower-case letters, digits, '.', '_' or '-'.")]
    BadUserName,
    /// An admin's lock; only said to someone who proved the password and code.
    #[error("{0}. Ask an admin if you think this is wrong.")]
    LockedByAdmin(String),
    #[error("That code is not right, or was already used. Type the newest code from your authenticator app.")]
    WrongCode,
    #[error("The stored authenticator secret cannot be opened: {0}")]
    Sealed(#[from] crate::vault::VaultError),
    /// The account was made by a single sign-on: the provider must be asked each time.
    #[error("This account signs in through single sign-on: use the {0} button on the sign-in page.")]
    SsoOnly(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// A new web session: the token goes into the cookie, the info to the app.
pub struct NewSession {
    pub token: String,
    pub info: SessionInfo,
    pub max_age: u64,
}

pub struct Accounts {
    store: Arc<dyn AccountStore>,
    /// Read when a session starts: an admin's lock on the user refuses it.
    locks: Arc<dyn LockStore>,
    vault: Arc<Vault>,
    lockout: LockoutPolicy,
    session_ttl: Duration,
    invite_ttl: Duration,
    min_password_length: usize,
    public_url: String,
    /// The host CA fingerprint, given to browsers in invite links to pin.
    host_ca_pin: Option<String>,
    /// Which accounts a single sign-on made: they sign in only through their provider,
    /// so its removal of someone takes effect at the next sign-in.
    sso: Option<Arc<dyn crate::store::sso::SsoStore>>,
}

pub fn check_user_name(name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok { Ok(()) } else { Err(AuthError::BadUserName) }
}

impl Accounts {
    pub fn new(
        store: Arc<dyn AccountStore>,
        locks: Arc<dyn LockStore>,
        vault: Arc<Vault>,
        config: &Config,
    ) -> Accounts {
        Accounts {
            store,
            locks,
            vault,
            lockout: LockoutPolicy {
                max_failures: config.signin.max_failures,
                window: config.signin.failure_window,
                lockout: config.signin.lockout,
            },
            session_ttl: config.session_ttl.min(crate::config::MAX_SESSION_TTL),
            invite_ttl: config.invite_ttl,
            min_password_length: config.signin.min_password_length,
            public_url: config.public_url.clone(),
            host_ca_pin: None,
            sso: None,
        }
    }

    /// Accounts linked to a single sign-on connector sign in only through it.
    pub fn with_single_sign_on(mut self, sso: Arc<dyn crate::store::sso::SsoStore>) -> Accounts {
        self.sso = Some(sso);
        self
    }

    /// The connector an account signs in through, if a single sign-on made it.
    fn sso_connector(&self, user: UserId) -> Result<Option<String>, AuthError> {
        match &self.sso {
            Some(sso) => Ok(sso.sso_links(user)?.into_iter().next()),
            None => Ok(None),
        }
    }

    /// Invite links will carry this host CA fingerprint for the browser to pin.
    pub fn with_host_ca_pin(mut self, fingerprint: String) -> Accounts {
        self.host_ca_pin = Some(fingerprint);
        self
    }

    /// Creates a user and returns their one-time invite link.
    pub fn add_user(&self, name: &str, roles: &[String], now: u64) -> Result<String, AuthError> {
        check_user_name(name)?;
        let id = self.store.create_user(name, roles, now)?;
        self.invite(id, now)
    }

    /// A fresh invite link for an existing user.
    /// On a fresh data directory, makes the `admin` user and its invite; while no admin
    /// has enrolled, a new invite each time, so the instance is never left without a way
    /// in. `None` once someone has enrolled.
    pub fn first_admin_invite(&self, now: u64) -> Result<Option<String>, AuthError> {
        let users = self.store.list_users()?;
        if users.is_empty() {
            return Ok(Some(self.add_user("admin", &["admin".to_string()], now)?));
        }
        // Someone who signs in through a provider has no password, but is in.
        for user in &users {
            if user.is_enrolled() || self.sso_connector(user.id)?.is_some() {
                return Ok(None);
            }
        }
        match users.iter().find(|u| u.name == "admin") {
            Some(admin) => Ok(Some(self.invite(admin.id, now)?)),
            None => Ok(None),
        }
    }

    pub fn invite(&self, user: UserId, now: u64) -> Result<String, AuthError> {
        let invite = token::random_token();
        let expires_at = now + self.invite_ttl.as_secs();
        self.store.create_invite(user, &token::token_hash(&invite), expires_at)?;
        // The token rides in the fragment: browsers never send it to a server, so it
        // stays out of access logs and Referer headers. So does the pin, which reaches
        // the browser out of band and so cannot be swapped by a middlebox.
        let pin = self.host_ca_pin.as_ref().map(|fp| format!("&pin={fp}")).unwrap_or_default();
        Ok(format!("{}/invite#token={invite}{pin}", self.public_url))
    }

    /// The associated data a user's TOTP secret is sealed with.
    fn totp_owner(user: UserId) -> String {
        format!("totp:user:{user}")
    }

    fn seal_totp(&self, user: UserId, secret: &[u8]) -> Vec<u8> {
        self.vault.seal_bytes(&Self::totp_owner(user), secret)
    }

    /// The secret in the clear; a value from before sealing is taken as it is.
    fn open_totp(&self, user: UserId, stored: &[u8]) -> Result<Vec<u8>, AuthError> {
        if !Vault::is_sealed(stored) {
            return Ok(stored.to_vec());
        }
        Ok(self.vault.open_bytes(&Self::totp_owner(user), stored)?)
    }

    /// Seals the TOTP secrets a database from before sealing holds in the clear.
    pub fn seal_legacy_secrets(&self) -> Result<usize, AuthError> {
        let mut sealed = 0;
        for user in self.store.list_users()? {
            if let Some(secret) = user.totp_secret.as_deref().filter(|s| !Vault::is_sealed(s)) {
                self.store.set_totp_secret(user.id, &self.seal_totp(user.id, secret))?;
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// Replaces a user's roles; their live sessions that the new roles do not allow end
    /// at the next sweep ([`crate::sessions`]).
    pub fn set_roles(&self, name: &str, roles: &[String]) -> Result<User, AuthError> {
        let user = self.store.user_by_name(name)?.ok_or(AuthError::BadCredentials)?;
        self.store.set_roles(user.id, roles)?;
        self.store.user_by_id(user.id)?.ok_or(AuthError::BadCredentials)
    }

    /// Checks a TOTP code again for a signed-in session (before it changes factors),
    /// spending the code.
    pub fn confirm_with_code(&self, session: &Session, code: &str, now: u64) -> Result<(), AuthError> {
        let user = &session.user;
        let Some(stored) = user.totp_secret.as_deref() else {
            return Err(AuthError::WrongCode);
        };
        let secret = self.open_totp(user.id, stored)?;
        // Counted like a sign-in: a stolen cookie cannot try codes until one fits.
        let failures = self.begin_attempt(&user.name, now)?;
        let step = totp::verify(&secret, code, now, user.totp_last_step);
        match step {
            Some(step) if self.store.use_totp_step(user.id, step)? => {
                self.store.clear_failures(&user.name)?;
                self.store.confirm_session(&session.token_hash, now)?;
                Ok(())
            }
            _ => match self.failed(&user.name, failures, now)? {
                AuthError::BadCredentials => Err(AuthError::WrongCode),
                locked => Err(locked),
            },
        }
    }

    /// Whether the session proved a factor recently enough to change factors.
    pub fn recently_confirmed(session: &Session, now: u64) -> bool {
        session.confirmed_at.is_some_and(|at| now.saturating_sub(at) <= CONFIRM_SECS)
    }

    /// Clears a user's factors (password, TOTP, passkeys) and sessions, and makes a new
    /// invite link for them to enrol again.
    pub fn reset_user(&self, name: &str, now: u64) -> Result<String, AuthError> {
        let user = self.store.user_by_name(name)?.ok_or(AuthError::BadCredentials)?;
        self.store.reset_user(user.id)?;
        self.invite(user.id, now)
    }

    /// What the invite page shows. The TOTP secret is made on first view and kept with
    /// the invite, so reloading the page shows the same QR code.
    pub fn inspect_invite(&self, invite_token: &str, now: u64) -> Result<InviteDetails, AuthError> {
        let invite = self.store.invite(&token::token_hash(invite_token), now)?.ok_or(AuthError::InviteInvalid)?;
        let user = self.store.user_by_id(invite.user_id)?.ok_or(AuthError::InviteInvalid)?;
        let secret = match invite.pending_totp_secret {
            Some(sealed) => self.open_totp(invite.user_id, &sealed)?,
            None => {
                let secret = totp::generate_secret();
                self.store.set_invite_totp(invite.id, &self.seal_totp(invite.user_id, &secret))?;
                secret
            }
        };
        let otpauth_uri = totp::otpauth_uri(ISSUER, &user.name, &secret);
        Ok(InviteDetails {
            username: user.name,
            totp_secret: totp::base32_encode(&secret),
            qr_svg: qr_svg(&otpauth_uri),
            otpauth_uri,
            expires_at: invite.expires_at,
            min_password_length: self.min_password_length,
        })
    }

    /// Sets the password and TOTP secret; the invite is spent.
    pub fn accept_invite(
        &self,
        invite_token: &str,
        new_password: &str,
        totp_code: &str,
        now: u64,
    ) -> Result<User, AuthError> {
        let invite = self.store.invite(&token::token_hash(invite_token), now)?.ok_or(AuthError::InviteInvalid)?;
        let sealed = invite.pending_totp_secret.ok_or(AuthError::InviteInvalid)?;
        let secret = self.open_totp(invite.user_id, &sealed)?;
        password::check_policy(new_password, self.min_password_length)?;
        let step = totp::verify(&secret, totp_code, now, None).ok_or(AuthError::WrongEnrolmentCode)?;
        let phc = password::hash(new_password);
        if !self.store.consume_invites(invite.id, invite.user_id)? {
            return Err(AuthError::InviteInvalid);
        }
        self.store.set_credentials(invite.user_id, &phc, &self.seal_totp(invite.user_id, &secret), step)?;
        let user = self.store.user_by_id(invite.user_id)?.ok_or(AuthError::InviteInvalid)?;
        self.store.clear_failures(&user.name)?;
        Ok(user)
    }

    /// The user an unused invite is for, with the invite's id, after checking the
    /// password they chose: the first half of enrolling with a passkey.
    pub fn invite_for_passkey(
        &self,
        invite_token: &str,
        new_password: &str,
        now: u64,
    ) -> Result<(i64, User), AuthError> {
        let invite = self.store.invite(&token::token_hash(invite_token), now)?.ok_or(AuthError::InviteInvalid)?;
        password::check_policy(new_password, self.min_password_length)?;
        let user = self.store.user_by_id(invite.user_id)?.ok_or(AuthError::InviteInvalid)?;
        Ok((invite.id, user))
    }

    /// The user of an unused invite (for the passkey's options, before a password).
    pub fn invited_user(&self, invite_token: &str, now: u64) -> Result<User, AuthError> {
        let invite = self.store.invite(&token::token_hash(invite_token), now)?.ok_or(AuthError::InviteInvalid)?;
        self.store.user_by_id(invite.user_id)?.ok_or(AuthError::InviteInvalid)
    }

    /// The second half: the passkey is registered; set the password, spend the invite.
    pub fn complete_invite_with_passkey(&self, invite: i64, user: &User, new_password: &str) -> Result<(), AuthError> {
        let phc = password::hash(new_password);
        if !self.store.consume_invites(invite, user.id)? {
            return Err(AuthError::InviteInvalid);
        }
        self.store.set_password(user.id, &phc)?;
        self.store.clear_failures(&user.name)?;
        Ok(())
    }

    /// Password + TOTP sign-in. Attempts count per user name (known or not, so that
    /// lockout does not reveal which names exist) before the verdict, and lock it past
    /// the policy's limit.
    pub fn sign_in(
        &self,
        username: &str,
        given_password: &str,
        totp_code: &str,
        now: u64,
    ) -> Result<NewSession, AuthError> {
        if username.is_empty() || username.len() > MAX_NAME_LEN {
            // Still do the work, so a long name is not a fast way to tell anything.
            password::verify(password::decoy_hash(), given_password);
            return Err(AuthError::BadCredentials);
        }
        let failures = self.begin_attempt(username, now)?;
        let user = self.store.user_by_name(username)?;
        let (phc, secret) = match &user {
            Some(User { password_hash: Some(phc), totp_secret: Some(stored), id, .. }) => {
                (phc.as_str(), Some(self.open_totp(*id, stored)?))
            }
            _ => (password::decoy_hash(), None),
        };
        let password_ok = password::verify(phc, given_password);
        let step = secret
            .and_then(|secret| totp::verify(&secret, totp_code, now, user.as_ref().and_then(|u| u.totp_last_step)));
        match (user, password_ok, step) {
            // The step is spent atomically: of two sign-ins racing with one code, one wins.
            (Some(user), true, Some(step)) if self.store.use_totp_step(user.id, step)? => {
                self.session_for_user(user, now)
            }
            _ => Err(self.failed(username, failures, now)?),
        }
    }

    /// The password half of a sign-in whose second factor is a passkey: the same
    /// counting and lockout as [`Accounts::sign_in`]. The attempt stays counted until the
    /// passkey completes the sign-in. `Ok(None)` for a wrong password, even one that
    /// locks the name: the caller answers the same as for a right one (a "locked" here
    /// would tell the fifth guess from the right password). `Err(Locked)` only when the
    /// name was locked already, whatever the password.
    pub fn verify_password(&self, username: &str, given_password: &str, now: u64) -> Result<Option<User>, AuthError> {
        if username.is_empty() || username.len() > MAX_NAME_LEN {
            password::verify(password::decoy_hash(), given_password);
            return Ok(None);
        }
        let failures = self.begin_attempt(username, now)?;
        let user = self.store.user_by_name(username)?;
        let phc = match &user {
            Some(User { password_hash: Some(phc), .. }) => phc.as_str(),
            _ => password::decoy_hash(),
        };
        match (password::verify(phc, given_password), user) {
            (true, Some(user)) => Ok(Some(user)),
            _ => {
                self.failed(username, failures, now)?;
                Ok(None)
            }
        }
    }

    /// Counts an attempt for `username` before its verdict: the failures so far, this
    /// one included, or `Locked` (and no verdict is computed).
    fn begin_attempt(&self, username: &str, now: u64) -> Result<u32, AuthError> {
        let policy = &self.lockout;
        let lock_until = now + policy.lockout.as_secs();
        match self.store.begin_attempt(username, now, policy.window_start(now), policy.max_failures, lock_until)? {
            Attempt::Locked { until } => Err(AuthError::Locked { minutes: LockoutPolicy::minutes_left(until, now) }),
            Attempt::Counted { failures } => Ok(failures),
        }
    }

    /// A counted attempt failed: the error to answer with, locking the name if it was the
    /// last failure allowed.
    pub fn failed(&self, username: &str, failures: u32, now: u64) -> Result<AuthError, AuthError> {
        if let Some(until) = self.lockout.lock_after_failure(failures, now) {
            self.store.lock(username, until)?;
            self.store.clear_failures(username)?;
            return Ok(AuthError::Locked { minutes: LockoutPolicy::minutes_left(until, now) });
        }
        Ok(AuthError::BadCredentials)
    }

    /// A session for a user who has proved both factors (or a passkey alone).
    pub fn session_for(&self, user: UserId, now: u64) -> Result<NewSession, AuthError> {
        let user = self.store.user_by_id(user)?.ok_or(AuthError::BadCredentials)?;
        self.session_for_user(user, now)
    }

    /// A session for a user their single sign-on provider has just proved (and a passkey
    /// of ours after it, when asked for).
    pub fn session_after_sso(&self, user: UserId, now: u64) -> Result<NewSession, AuthError> {
        let user = self.store.user_by_id(user)?.ok_or(AuthError::BadCredentials)?;
        self.store.clear_failures(&user.name)?;
        if let Some(lock) = crate::access::user_lock(&self.locks.active_locks(now)?, &user.name) {
            return Err(AuthError::LockedByAdmin(lock.sentence()));
        }
        self.start_session(user, now)
    }

    /// The factors are proven: no lock of an admin's may stand in the way, and an
    /// account of a single sign-on must go through its provider.
    fn session_for_user(&self, user: User, now: u64) -> Result<NewSession, AuthError> {
        if let Some(connector) = self.sso_connector(user.id)? {
            return Err(AuthError::SsoOnly(connector));
        }
        self.store.clear_failures(&user.name)?;
        if let Some(lock) = crate::access::user_lock(&self.locks.active_locks(now)?, &user.name) {
            return Err(AuthError::LockedByAdmin(lock.sentence()));
        }
        self.start_session(user, now)
    }

    fn start_session(&self, user: User, now: u64) -> Result<NewSession, AuthError> {
        let session_token = token::random_token();
        let csrf_token = token::random_token();
        let max_age = self.session_ttl.as_secs();
        let expires_at = now + max_age;
        self.store.create_session(&token::token_hash(&session_token), user.id, &csrf_token, now, expires_at)?;
        Ok(NewSession {
            token: session_token,
            info: SessionInfo { username: user.name, roles: user.roles, csrf_token, expires_at },
            max_age,
        })
    }

    /// The live session behind a cookie's token.
    pub fn session(&self, session_token: &str, now: u64) -> Result<Option<Session>, AuthError> {
        Ok(self.store.session(&token::token_hash(session_token), now)?)
    }

    pub fn sign_out(&self, session_token: &str) -> Result<(), AuthError> {
        Ok(self.store.delete_session(&token::token_hash(session_token))?)
    }
}

/// The QR code of `text` as a small SVG document.
fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M) {
        Ok(code) => code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build(),
        // otpauth URIs are far below QR capacity; an empty picture is the safe fallback
        // and the page still shows the secret as text.
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::Store;
    use crate::store::sqlite::SqliteStore;

    const NOW: u64 = 1_800_000_000;
    const PASSWORD: &str = "a long enough password";

    fn accounts() -> Accounts {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        Accounts::new(store.clone(), store, Arc::new(Vault::ephemeral()), &Config::default())
    }

    fn token_of(link: &str) -> &str {
        let fragment = link.split_once("#token=").unwrap().1;
        fragment.split('&').next().unwrap()
    }

    /// Adds and enrols alice; returns her TOTP secret.
    fn enrolled(accounts: &Accounts) -> Vec<u8> {
        let link = accounts.add_user("alice", &["dev".into()], NOW).unwrap();
        let details = accounts.inspect_invite(token_of(&link), NOW).unwrap();
        let secret = totp::base32_decode(&details.totp_secret).unwrap();
        accounts.accept_invite(token_of(&link), PASSWORD, &totp::code_at(&secret, NOW), NOW).unwrap();
        secret
    }

    #[test]
    fn the_first_admin_is_invited_until_someone_enrols() {
        let accounts = accounts();
        let first = accounts.first_admin_invite(NOW).unwrap().unwrap();
        let admin = accounts.store.user_by_name("admin").unwrap().unwrap();
        assert_eq!(admin.roles, ["admin"]);
        // Each start while nobody has enrolled: a new invite for the same admin.
        let again = accounts.first_admin_invite(NOW + 60).unwrap().unwrap();
        assert_ne!(token_of(&first), token_of(&again));
        assert_eq!(accounts.store.list_users().unwrap().len(), 1);
        let details = accounts.inspect_invite(token_of(&again), NOW + 60).unwrap();
        let secret = totp::base32_decode(&details.totp_secret).unwrap();
        accounts.accept_invite(token_of(&again), PASSWORD, &totp::code_at(&secret, NOW + 60), NOW + 60).unwrap();
        assert_eq!(accounts.first_admin_invite(NOW + 120).unwrap(), None);
    }

    /// Accounts with single sign-on on, and the store to link subjects in.
    fn accounts_with_sso() -> (Accounts, Arc<dyn Store>) {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        let accounts = Accounts::new(store.clone(), store.clone(), Arc::new(Vault::ephemeral()), &Config::default())
            .with_single_sign_on(store.clone());
        (accounts, store)
    }

    #[test]
    fn a_deployment_whose_people_sign_in_through_a_provider_prints_no_admin_invite() {
        let (accounts, store) = accounts_with_sso();
        assert!(accounts.first_admin_invite(NOW).unwrap().is_some(), "nobody is in yet");
        let olga = store.create_user("olga", &["ops".into()], NOW).unwrap();
        store.link_sso("corp", "s-1", "https://id.corp.example", olga, NOW).unwrap();
        // She has no password, but she is in: no fresh admin link in the log at each start.
        assert_eq!(accounts.first_admin_invite(NOW + 60).unwrap(), None);
    }

    #[test]
    fn an_account_a_single_sign_on_made_starts_sessions_only_through_its_provider() {
        let (accounts, store) = accounts_with_sso();
        let olga = store.create_user("olga", &["ops".into()], NOW).unwrap();
        store.link_sso("corp", "s-1", "https://id.corp.example", olga, NOW).unwrap();
        // A passkey alone (or a password after a reset) ends in session_for: refused.
        let err = accounts.session_for(olga, NOW).map(|_| ()).unwrap_err();
        assert!(matches!(&err, AuthError::SsoOnly(connector) if connector == "corp"), "{err}");
        assert!(err.to_string().contains("use the corp button"));
        assert_eq!(accounts.session_after_sso(olga, NOW).unwrap().info.username, "olga");
        // An account of ours is not affected.
        let local = store.create_user("ann", &["dev".into()], NOW).unwrap();
        assert!(accounts.session_for(local, NOW).is_ok());
    }

    #[test]
    fn invite_link_points_at_the_public_url_with_the_token_in_the_fragment() {
        let link = accounts().add_user("alice", &[], NOW).unwrap();
        assert!(link.starts_with("https://localhost:3080/invite#token="), "{link}");
    }

    #[test]
    fn invite_link_carries_the_host_ca_pin_when_known() {
        let accounts = accounts().with_host_ca_pin("SHA256:abc+/def".into());
        let link = accounts.add_user("alice", &[], NOW).unwrap();
        assert!(link.ends_with("&pin=SHA256:abc+/def"), "{link}");
        accounts.inspect_invite(token_of(&link), NOW).unwrap();
    }

    #[test]
    fn invite_shows_the_same_secret_until_accepted() {
        let accounts = accounts();
        let link = accounts.add_user("alice", &[], NOW).unwrap();
        let first = accounts.inspect_invite(token_of(&link), NOW).unwrap();
        let again = accounts.inspect_invite(token_of(&link), NOW + 10).unwrap();
        assert_eq!(first.totp_secret, again.totp_secret);
        assert!(first.otpauth_uri.contains(&first.totp_secret));
        assert!(first.qr_svg.starts_with("<?xml"));
    }

    #[test]
    fn invite_cannot_be_used_twice_or_after_an_hour() {
        let accounts = accounts();
        let link = accounts.add_user("alice", &[], NOW).unwrap();
        assert!(matches!(accounts.inspect_invite(token_of(&link), NOW + 3600), Err(AuthError::InviteInvalid)));
        let details = accounts.inspect_invite(token_of(&link), NOW).unwrap();
        let secret = totp::base32_decode(&details.totp_secret).unwrap();
        let code = totp::code_at(&secret, NOW);
        accounts.accept_invite(token_of(&link), PASSWORD, &code, NOW).unwrap();
        assert!(matches!(accounts.accept_invite(token_of(&link), PASSWORD, &code, NOW), Err(AuthError::InviteInvalid)));
    }

    #[test]
    fn enrolment_refuses_a_short_password_and_a_wrong_code() {
        let accounts = accounts();
        let link = accounts.add_user("alice", &[], NOW).unwrap();
        let details = accounts.inspect_invite(token_of(&link), NOW).unwrap();
        let secret = totp::base32_decode(&details.totp_secret).unwrap();
        let code = totp::code_at(&secret, NOW);
        assert!(matches!(
            accounts.accept_invite(token_of(&link), "short", &code, NOW),
            Err(AuthError::WeakPassword(_))
        ));
        assert!(matches!(
            accounts.accept_invite(token_of(&link), PASSWORD, "000000", NOW + 600),
            Err(AuthError::WrongEnrolmentCode)
        ));
        // Neither failure spent the invite.
        accounts.accept_invite(token_of(&link), PASSWORD, &code, NOW).unwrap();
    }

    #[test]
    fn sign_in_with_password_and_code_gives_a_session() {
        let accounts = accounts();
        let secret = enrolled(&accounts);
        let later = NOW + 120;
        let session = accounts.sign_in("alice", PASSWORD, &totp::code_at(&secret, later), later).unwrap();
        assert_eq!(session.info.username, "alice");
        assert_eq!(session.info.expires_at, later + 12 * 3600);
        let found = accounts.session(&session.token, later + 1).unwrap().unwrap();
        assert_eq!(found.csrf_token, session.info.csrf_token);
    }

    #[test]
    fn session_ends_after_twelve_hours_and_at_sign_out() {
        let accounts = accounts();
        let secret = enrolled(&accounts);
        let t = NOW + 120;
        let session = accounts.sign_in("alice", PASSWORD, &totp::code_at(&secret, t), t).unwrap();
        assert!(accounts.session(&session.token, t + 12 * 3600).unwrap().is_none());
        assert!(accounts.session(&session.token, t + 60).unwrap().is_some());
        accounts.sign_out(&session.token).unwrap();
        assert!(accounts.session(&session.token, t + 60).unwrap().is_none());
    }

    #[test]
    fn wrong_password_right_code_and_unknown_user_get_the_same_error() {
        let accounts = accounts();
        let secret = enrolled(&accounts);
        let t = NOW + 120;
        let code = totp::code_at(&secret, t);
        let wrong_password = accounts.sign_in("alice", "not the password", &code, t).err().unwrap();
        let wrong_code = accounts.sign_in("alice", PASSWORD, "123456", t).err().unwrap();
        let unknown = accounts.sign_in("mallory", PASSWORD, &code, t).err().unwrap();
        for err in [wrong_password, wrong_code, unknown] {
            assert!(matches!(err, AuthError::BadCredentials), "{err:?}");
        }
    }

    #[test]
    fn a_used_code_cannot_sign_in_again() {
        let accounts = accounts();
        let secret = enrolled(&accounts);
        let t = NOW + 120;
        let code = totp::code_at(&secret, t);
        accounts.sign_in("alice", PASSWORD, &code, t).unwrap();
        assert!(matches!(accounts.sign_in("alice", PASSWORD, &code, t + 1), Err(AuthError::BadCredentials)));
    }

    #[test]
    fn five_failures_lock_the_name_even_for_the_right_password() {
        let accounts = accounts();
        let secret = enrolled(&accounts);
        let t = NOW + 120;
        for i in 0..4 {
            assert!(matches!(accounts.sign_in("alice", "wrong", "000000", t + i), Err(AuthError::BadCredentials)));
        }
        assert!(matches!(accounts.sign_in("alice", "wrong", "000000", t + 4), Err(AuthError::Locked { minutes: 15 })));
        let code = totp::code_at(&secret, t + 10);
        assert!(matches!(accounts.sign_in("alice", PASSWORD, &code, t + 10), Err(AuthError::Locked { .. })));
        // After the lockout the right credentials work again.
        let after = t + 4 + 15 * 60;
        let code = totp::code_at(&secret, after);
        accounts.sign_in("alice", PASSWORD, &code, after).unwrap();
    }

    #[test]
    fn thirty_parallel_guesses_get_at_most_five_verdicts_before_the_lock() {
        let accounts = Arc::new(accounts());
        enrolled(&accounts);
        let t = NOW + 120;
        let outcomes: Vec<AuthError> = std::thread::scope(|scope| {
            let guesses: Vec<_> = (0..30)
                .map(|i| {
                    let accounts = accounts.clone();
                    scope.spawn(move || accounts.sign_in("alice", &format!("guess {i}"), "000000", t).err().unwrap())
                })
                .collect();
            guesses.into_iter().map(|g| g.join().unwrap()).collect()
        });
        let wrong = outcomes.iter().filter(|e| matches!(e, AuthError::BadCredentials)).count();
        let locked = outcomes.iter().filter(|e| matches!(e, AuthError::Locked { .. })).count();
        // Four plain "wrong" answers, the fifth failure locks, and 25 never get a verdict.
        assert_eq!((wrong, locked), (4, 26), "{outcomes:?}");
    }

    #[test]
    fn the_password_before_a_passkey_answers_alike_even_on_the_guess_that_locks() {
        let accounts = accounts();
        enrolled(&accounts);
        let t = NOW + 120;
        for i in 0..5 {
            assert!(accounts.verify_password("alice", "wrong", t + i).unwrap().is_none(), "guess {i}");
        }
        // Locked now: the right password gets "locked", as any password would.
        assert!(matches!(accounts.verify_password("alice", PASSWORD, t + 6), Err(AuthError::Locked { .. })));
    }

    #[test]
    fn two_sign_ins_racing_with_one_code_give_one_session() {
        let accounts = Arc::new(accounts());
        let secret = enrolled(&accounts);
        let t = NOW + 120;
        let code = totp::code_at(&secret, t);
        let results: Vec<bool> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    let (accounts, code) = (accounts.clone(), code.clone());
                    scope.spawn(move || accounts.sign_in("alice", PASSWORD, &code, t).is_ok())
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "{results:?}");
    }

    #[test]
    fn an_admins_lock_stops_a_sign_in_with_the_right_factors() {
        let accounts = accounts();
        let secret = enrolled(&accounts);
        let lock = crate::access::locks::NewLock {
            target: crate::access::locks::LockTarget::User("alice".into()),
            reason: "laptop stolen".into(),
            expires_at: Some(NOW + 600),
        };
        accounts.locks.add_lock(&lock, NOW).unwrap();
        let t = NOW + 120;
        let err = accounts.sign_in("alice", PASSWORD, &totp::code_at(&secret, t), t).err().unwrap();
        assert!(matches!(&err, AuthError::LockedByAdmin(s) if s.contains("laptop stolen")), "{err:?}");
        let after = NOW + 700;
        accounts.sign_in("alice", PASSWORD, &totp::code_at(&secret, after), after).unwrap();
    }

    #[test]
    fn the_totp_secret_is_sealed_in_the_database_and_its_wal() {
        let dir = std::env::temp_dir().join(format!("gh-totp-{}", crate::recordings::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("gatehouse.db")).unwrap());
        let accounts = Accounts::new(store.clone(), store, Arc::new(Vault::ephemeral()), &Config::default());
        let secret = enrolled(&accounts);
        let t = NOW + 120;
        accounts.sign_in("alice", PASSWORD, &totp::code_at(&secret, t), t).unwrap();
        let mut bytes = std::fs::read(dir.join("gatehouse.db")).unwrap();
        bytes.extend(std::fs::read(dir.join("gatehouse.db-wal")).unwrap_or_default());
        assert!(bytes.len() > 4096);
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_slice()), "the raw secret is in the database");
        let text = totp::base32_encode(&secret);
        assert!(!bytes.windows(text.len()).any(|w| w == text.as_bytes()), "the base32 secret is in the database");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn secrets_stored_before_sealing_still_work_and_are_sealed() {
        let accounts = accounts();
        let secret = enrolled(&accounts);
        let id = accounts.store.user_by_name("alice").unwrap().unwrap().id;
        accounts.store.set_totp_secret(id, &secret).unwrap();
        assert_eq!(accounts.seal_legacy_secrets().unwrap(), 1);
        assert_eq!(accounts.seal_legacy_secrets().unwrap(), 0);
        let stored = accounts.store.user_by_id(id).unwrap().unwrap().totp_secret.unwrap();
        assert!(Vault::is_sealed(&stored));
        let t = NOW + 120;
        accounts.sign_in("alice", PASSWORD, &totp::code_at(&secret, t), t).unwrap();
    }

    #[test]
    fn unknown_names_lock_too() {
        let accounts = accounts();
        for i in 0..5 {
            let _ = accounts.sign_in("nobody", "x", "000000", NOW + i);
        }
        assert!(matches!(accounts.sign_in("nobody", "x", "000000", NOW + 6), Err(AuthError::Locked { .. })));
    }

    #[test]
    fn user_names_are_checked() {
        for bad in ["", "Alice", "a b", "ä", &"a".repeat(65)] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
        }
        check_user_name("ann.smith-2_x").unwrap();
    }
}
