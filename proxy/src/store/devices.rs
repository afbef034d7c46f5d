//! Trusted devices as persisted: registered by an admin with a one-time enrolment token
//! (its SHA-256 hash), then enrolled with one WebAuthn credential.

use super::Result;
use crate::accounts::user::UserId;
use crate::devices::device::{Attestation, Device};

/// Trusted devices.
pub trait DeviceStore: Send + Sync {
    /// Registers a device for `user`, enrolable with the token whose hash is given until
    /// `expires_at`. `None` if the user already has a device of that name.
    fn add_device(&self, user: UserId, name: &str, token_hash: &str, expires_at: u64, now: u64) -> Result<Option<i64>>;
    /// The device the unexpired, unused enrolment token names.
    fn device_by_token(&self, token_hash: &str, now: u64) -> Result<Option<Device>>;
    /// Enrols the device the token names with its credential and spends the token; false
    /// if the token is no longer valid (used, expired, the device removed).
    fn enrol_device(
        &self,
        token_hash: &str,
        credential_id: &str,
        passkey_json: &str,
        attestation: &Attestation,
        now: u64,
    ) -> Result<bool>;
    /// A user's devices, enrolled or not, oldest first.
    fn devices_of(&self, user: UserId) -> Result<Vec<Device>>;
    /// Every device, by owner then age (for `gatehouse devices list`).
    fn all_devices(&self) -> Result<Vec<Device>>;
    fn device(&self, id: i64) -> Result<Option<Device>>;
    /// After an assertion: the credential's new state (counter) and when.
    fn device_used(&self, id: i64, passkey_json: &str, now: u64) -> Result<()>;
    fn remove_device(&self, id: i64) -> Result<bool>;
    /// Which of `ids` are still registered: one query, for the sweep.
    fn existing_devices(&self, ids: &[i64]) -> Result<Vec<i64>>;
}
