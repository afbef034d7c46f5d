//! A trusted device as the database keeps it.

use crate::accounts::user::UserId;

/// What an enrolled credential's attestation said, as webauthn-rs verified it at
/// enrolment.
///
/// A verified statement proves that the authenticator holds the private key of the
/// attestation it presents and signed this new credential with it. With a certificate
/// (`certified`) that key is the one in the certificate; only when that certificate
/// chains to a vendor's CA does it prove the model: Gatehouse does not check vendor
/// chains, so the AAGUID is the model the authenticator *claims*, signed by a key it
/// holds. "none" proves nothing about the authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// The attestation statement's format: "packed", "tpm", "apple", "android-key",
    /// "fido-u2f" or "none".
    pub format: String,
    /// The authenticator model's AAGUID (lowercase, hyphenated), when the statement
    /// names one.
    pub aaguid: Option<String>,
    /// The statement is signed by an attestation certificate (not self-signed by the
    /// new credential, not absent).
    pub certified: bool,
    /// The authenticator says the credential may be backed up and synced (a synced
    /// passkey); otherwise it stays on this authenticator (hardware-bound).
    pub backup_eligible: bool,
}

impl Attestation {
    pub fn hardware_bound(&self) -> bool {
        !self.backup_eligible
    }
}

/// A registered device: waiting for its owner to enrol it, or enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: i64,
    pub user_id: UserId,
    /// The owner's user name.
    pub owner: String,
    pub name: String,
    pub created_at: u64,
    /// The credential, once enrolled.
    pub enrolled: Option<Enrolled>,
}

/// A device's credential and what its attestation said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// The credential id, base64url.
    pub credential_id: String,
    /// webauthn-rs's `Passkey`, JSON (its counter moves with each use).
    pub passkey_json: String,
    pub attestation: Attestation,
    pub enrolled_at: u64,
    pub last_used_at: Option<u64>,
}
