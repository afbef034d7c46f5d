//! A registered passkey as the database keeps it.

use crate::accounts::user::UserId;

/// A passkey as stored: the credential (webauthn-rs's `Passkey`, JSON) and what a person
/// sees of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub id: i64,
    pub user_id: UserId,
    pub name: String,
    /// The credential id, base64url: unique across users.
    pub credential_id: String,
    pub passkey_json: String,
    pub created_at: u64,
    pub last_used_at: Option<u64>,
}
