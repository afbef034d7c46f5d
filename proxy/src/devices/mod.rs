//! Trusted devices: an admin registers a device for its owner (`gatehouse devices add`,
//! which prints a one-time enrolment link); the owner opens the link on that device and
//! enrols a WebAuthn credential bound to it, attestation requested. Roles with
//! `device_trust = "required"` then open SSH sessions and desktops only after a fresh
//! assertion from one of the owner's enrolled device credentials; removing the device
//! ends the sessions it opened (the sweep, [`crate::sessions`]).
//!
//! What the attestation proves is in [`Attestation`]; whether a new credential may be a
//! trusted device is the pure [`check`] against the config's [`Policy`].

pub mod device;

use std::sync::Arc;

use serde::Deserialize;
use webauthn_rs::prelude::{CreationChallengeResponse, Passkey, RegisterPublicKeyCredential};

use crate::accounts::user::{User, UserId};
use crate::auth::token::{random_token, token_hash};
use crate::passkeys::Passkeys;
use crate::store::devices::DeviceStore;
pub use device::{Attestation, Device};

/// How long an enrolment link stays valid.
pub const ENROLMENT_TTL_SECS: u64 = 24 * 3600;
const MAX_NAME: usize = 64;

/// `[device_trust]` in the config: which credentials may be enrolled as trusted devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Authenticator models (AAGUIDs, e.g. `"cb69481e-8ff7-4039-93ec-0a2729a154a8"`)
    /// whose credentials may be enrolled. Empty: any model. When set, a credential must
    /// come with an attestation statement (the AAGUID is read from it).
    pub allowed_aaguids: Vec<String>,
    /// Refuse credentials the authenticator says may be backed up and synced to other
    /// devices (the WebAuthn backup-eligible flag): a synced passkey is not one device.
    pub refuse_synced: bool,
    /// Refuse credentials that come without an attestation statement (format "none").
    pub require_attestation: bool,
}

impl Policy {
    /// The config's AAGUIDs, checked: they are compared lowercase, hyphenated.
    pub fn validate(&self) -> Result<(), String> {
        for aaguid in &self.allowed_aaguids {
            uuid::Uuid::parse_str(aaguid).map_err(|_| {
                format!("[device_trust] allowed_aaguids: {aaguid:?} is not an AAGUID (a UUID such as 01020304-0506-0708-0102-030405060708)")
            })?;
        }
        Ok(())
    }
}

/// Why a credential cannot be a trusted device, or a device request is refused: the
/// sentence the person reads.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "This enrolment link is not valid: it expired, was already used, or the device was removed. Ask an admin for a new one (`gatehouse devices add`)."
    )]
    UnknownEnrolment,
    #[error("This enrolment link is for a device of {0}. Sign in as {0} on the device to enrol it.")]
    NotYours(String),
    #[error("{0}")]
    Policy(String),
    #[error(
        "You have no trusted device enrolled. Ask an admin to register this device (`gatehouse devices add NAME --owner YOU`) and open the link it prints here."
    )]
    NoDevices,
    #[error(
        "That credential is not one of your trusted devices. Confirm on an enrolled device, or ask an admin to register this one (`gatehouse devices add`)."
    )]
    NotADevice,
    #[error("A device's name is 1 to 64 characters.")]
    BadName,
    #[error("{0} already has a device named {1:?}.")]
    NameTaken(String, String),
    #[error("There is no device {0}; `gatehouse devices list` shows them.")]
    NoSuchDevice(i64),
    #[error("{0}")]
    Passkey(#[from] crate::passkeys::PasskeyError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

/// A device name as an admin types it: trimmed, 1 to 64 characters.
pub fn check_name(name: &str) -> Result<String, DeviceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(DeviceError::BadName);
    }
    Ok(name.to_string())
}

/// Whether a credential whose attestation says `attestation` may be enrolled as a trusted
/// device under `policy`; the error is the sentence the owner reads.
pub fn check(policy: &Policy, attestation: &Attestation) -> Result<(), String> {
    if policy.refuse_synced && attestation.backup_eligible {
        return Err("This authenticator's credential can be synced to other devices (a synced passkey), and the policy accepts only credentials bound to one device. Use a security key or this device's own authenticator without passkey sync.".into());
    }
    let attested = attestation.format != "none";
    if (policy.require_attestation || !policy.allowed_aaguids.is_empty()) && !attested {
        return Err("This authenticator gave no attestation, and the policy needs one to know what it is. Use an authenticator that attests (most security keys and platform authenticators do), and allow attestation if the browser asks.".into());
    }
    if !policy.allowed_aaguids.is_empty() {
        let model = attestation.aaguid.as_deref().unwrap_or("unknown");
        let listed = attestation
            .aaguid
            .as_deref()
            .is_some_and(|aaguid| policy.allowed_aaguids.iter().any(|allowed| allowed.eq_ignore_ascii_case(aaguid)));
        if !listed {
            return Err(format!(
                "This authenticator's model (AAGUID {model}) is not one the policy allows for trusted devices. Use one of the allowed models, or ask an admin to add it to [device_trust] allowed_aaguids."
            ));
        }
    }
    Ok(())
}

/// Registration, enrolment and removal of trusted devices.
pub struct Devices {
    store: Arc<dyn DeviceStore>,
    policy: Policy,
    public_url: String,
}

impl Devices {
    pub fn new(store: Arc<dyn DeviceStore>, policy: Policy, public_url: &str) -> Devices {
        Devices { store, policy, public_url: public_url.trim_end_matches('/').to_string() }
    }

    /// Registers a device for `owner` and returns it with its one-time enrolment link.
    pub fn register(&self, owner: &User, name: &str, now: u64) -> Result<(i64, String), DeviceError> {
        let name = check_name(name)?;
        let token = random_token();
        let id = self
            .store
            .add_device(owner.id, &name, &token_hash(&token), now + ENROLMENT_TTL_SECS, now)?
            .ok_or_else(|| DeviceError::NameTaken(owner.name.clone(), name.clone()))?;
        Ok((id, format!("{}/device#token={token}", self.public_url)))
    }

    /// The device an enrolment link names, if it is `user`'s and still waiting.
    pub fn pending(&self, user: &User, token: &str, now: u64) -> Result<Device, DeviceError> {
        let device = self.store.device_by_token(&token_hash(token), now)?.ok_or(DeviceError::UnknownEnrolment)?;
        if device.user_id != user.id {
            return Err(DeviceError::NotYours(device.owner));
        }
        Ok(device)
    }

    pub fn start_enrolment(
        &self,
        passkeys: &Passkeys,
        user: &User,
        token: &str,
        now: u64,
    ) -> Result<(Device, String, CreationChallengeResponse), DeviceError> {
        let device = self.pending(user, token, now)?;
        let enrolled = self.enrolled(user.id)?.into_iter().map(|(_, p)| p.cred_id().clone()).collect();
        let (challenge, options) = passkeys.start_device_enrolment(user, enrolled, now)?;
        Ok((device, challenge, options))
    }

    /// Enrols the credential if its attestation verifies and the policy accepts it.
    pub fn finish_enrolment(
        &self,
        passkeys: &Passkeys,
        user: &User,
        token: &str,
        challenge: &str,
        credential: &RegisterPublicKeyCredential,
        now: u64,
    ) -> Result<Device, DeviceError> {
        let device = self.pending(user, token, now)?;
        let (passkey, attestation) = passkeys.finish_device_enrolment(user, challenge, credential, now)?;
        check(&self.policy, &attestation).map_err(DeviceError::Policy)?;
        let json =
            serde_json::to_string(&passkey).map_err(|err| crate::passkeys::PasskeyError::Corrupt(err.to_string()))?;
        let credential_id = crate::passkeys::credential_id_text(passkey.cred_id().as_ref());
        if !self.store.enrol_device(&token_hash(token), &credential_id, &json, &attestation, now)? {
            return Err(DeviceError::UnknownEnrolment);
        }
        self.store.device(device.id)?.ok_or(DeviceError::UnknownEnrolment)
    }

    /// The user's enrolled devices with their credentials.
    pub fn enrolled(&self, user: UserId) -> Result<Vec<(Device, Passkey)>, DeviceError> {
        self.store
            .devices_of(user)?
            .into_iter()
            .filter_map(|device| {
                let json = device.enrolled.as_ref()?.passkey_json.clone();
                Some(
                    serde_json::from_str(&json)
                        .map(|passkey| (device, passkey))
                        .map_err(|err| DeviceError::Passkey(crate::passkeys::PasskeyError::Corrupt(err.to_string()))),
                )
            })
            .collect()
    }

    /// The user's device whose credential answered an assertion, its counter kept.
    pub fn answered_by(
        &self,
        user: UserId,
        result: &webauthn_rs::prelude::AuthenticationResult,
        now: u64,
    ) -> Result<Option<Device>, DeviceError> {
        let Some((device, mut passkey)) =
            self.enrolled(user)?.into_iter().find(|(_, passkey)| passkey.cred_id() == result.cred_id())
        else {
            return Ok(None);
        };
        passkey.update_credential(result);
        let json =
            serde_json::to_string(&passkey).map_err(|err| crate::passkeys::PasskeyError::Corrupt(err.to_string()))?;
        self.store.device_used(device.id, &json, now)?;
        Ok(Some(device))
    }

    pub fn of_user(&self, user: UserId) -> Result<Vec<Device>, DeviceError> {
        Ok(self.store.devices_of(user)?)
    }

    pub fn all(&self) -> Result<Vec<Device>, DeviceError> {
        Ok(self.store.all_devices()?)
    }

    pub fn get(&self, id: i64) -> Result<Option<Device>, DeviceError> {
        Ok(self.store.device(id)?)
    }

    /// Removes a device; the sessions it opened end at the next sweep, on every proxy.
    pub fn remove(&self, id: i64) -> Result<Device, DeviceError> {
        let device = self.store.device(id)?.ok_or(DeviceError::NoSuchDevice(id))?;
        if !self.store.remove_device(id)? {
            return Err(DeviceError::NoSuchDevice(id));
        }
        Ok(device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROMIUM: &str = "01020304-0506-0708-0102-030405060708";

    fn attested(aaguid: Option<&str>, backup_eligible: bool) -> Attestation {
        Attestation { format: "packed".into(), aaguid: aaguid.map(str::to_string), certified: true, backup_eligible }
    }

    #[test]
    fn any_credential_is_a_device_under_the_default_policy() {
        assert!(check(&Policy::default(), &attested(Some(CHROMIUM), false)).is_ok());
        let none = Attestation { format: "none".into(), aaguid: None, certified: false, backup_eligible: true };
        assert!(check(&Policy::default(), &none).is_ok());
    }

    #[test]
    fn only_listed_models_are_enrolled_when_the_policy_lists_some() {
        let policy = Policy { allowed_aaguids: vec![CHROMIUM.to_uppercase()], ..Policy::default() };
        assert!(check(&policy, &attested(Some(CHROMIUM), false)).is_ok(), "compared without case");
        let other = check(&policy, &attested(Some("cb69481e-8ff7-4039-93ec-0a2729a154a8"), false)).unwrap_err();
        assert!(other.contains("cb69481e-8ff7-4039-93ec-0a2729a154a8") && other.contains("allowed_aaguids"), "{other}");
        let unattested = Attestation { format: "none".into(), aaguid: None, certified: false, backup_eligible: false };
        assert!(check(&policy, &unattested).unwrap_err().contains("no attestation"));
    }

    #[test]
    fn synced_passkeys_are_refused_when_the_policy_says_so() {
        let policy = Policy { refuse_synced: true, ..Policy::default() };
        assert!(check(&policy, &attested(Some(CHROMIUM), true)).unwrap_err().contains("synced"));
        assert!(check(&policy, &attested(Some(CHROMIUM), false)).is_ok());
    }

    #[test]
    fn attestation_can_be_required_on_its_own() {
        let policy = Policy { require_attestation: true, ..Policy::default() };
        let none = Attestation { format: "none".into(), aaguid: None, certified: false, backup_eligible: false };
        assert!(check(&policy, &none).is_err());
        assert!(check(&policy, &attested(None, false)).is_ok());
    }

    #[test]
    fn the_config_names_models_by_uuid() {
        assert!(Policy { allowed_aaguids: vec![CHROMIUM.into()], ..Policy::default() }.validate().is_ok());
        let bad = Policy { allowed_aaguids: vec!["yubikey".into()], ..Policy::default() }.validate().unwrap_err();
        assert!(bad.contains("\"yubikey\""), "{bad}");
    }

    #[test]
    fn device_names_are_short_and_printable() {
        assert_eq!(check_name("  work laptop ").unwrap(), "work laptop");
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(check_name("a\nb").is_err());
    }
}
