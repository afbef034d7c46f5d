//! Passkeys as persisted: each user's registered credentials, and the state of a
//! WebAuthn ceremony while its answer is awaited.

use super::Result;
use crate::accounts::user::UserId;
use crate::passkeys::credential::StoredPasskey;

/// Passkeys and WebAuthn challenges.
pub trait PasskeyStore: Send + Sync {
    fn add_passkey(&self, user: UserId, name: &str, credential_id: &str, passkey_json: &str, now: u64) -> Result<i64>;
    fn passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>>;
    fn passkey_by_credential(&self, credential_id: &str) -> Result<Option<StoredPasskey>>;
    /// After a successful assertion: the credential's new state (counter) and when.
    fn passkey_used(&self, id: i64, passkey_json: &str, now: u64) -> Result<()>;
    fn remove_passkey(&self, user: UserId, id: i64) -> Result<bool>;

    /// A WebAuthn ceremony's state until its answer comes back (at most once).
    fn put_challenge(
        &self,
        id: &str,
        kind: &str,
        user: Option<UserId>,
        state_json: &str,
        expires_at: u64,
    ) -> Result<()>;
    /// Takes the challenge out: a second use finds nothing. Expired ones are `None`.
    fn take_challenge(&self, id: &str, kind: &str, now: u64) -> Result<Option<(Option<UserId>, String)>>;
}
