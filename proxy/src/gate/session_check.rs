//! The fresh check before a session, over the credentials the roles accept: the user's
//! passkeys (`require_session_mfa`), their trusted devices' credentials
//! (`device_trust = "required"`), or either (`"optional"`, which records the device when
//! one answered). A passed check becomes a one-time ticket ([`super::passes`]) naming the
//! device, which the session (SSH or desktop) then carries.

use webauthn_rs::prelude::{Passkey, PublicKeyCredential, RequestChallengeResponse};

use super::Gatehouse;
use crate::access::SessionCheck;
use crate::accounts::user::{User, UserId};
use crate::devices::{Device, DeviceError};
use crate::passkeys::credential_id_text;

impl Gatehouse {
    /// Options for `navigator.credentials.get` over the credentials `check` accepts.
    pub fn start_session_check(
        &self,
        user: &User,
        check: SessionCheck,
        now: u64,
    ) -> Result<(String, RequestChallengeResponse), DeviceError> {
        let mut credentials: Vec<Passkey> = match check {
            SessionCheck::Passkey => Vec::new(),
            SessionCheck::PasskeyOrDevice | SessionCheck::Device => {
                self.devices.enrolled(user.id)?.into_iter().map(|(_, passkey)| passkey).collect()
            }
        };
        if check == SessionCheck::Device && credentials.is_empty() {
            return Err(DeviceError::NoDevices);
        }
        if check != SessionCheck::Device {
            credentials.extend(self.passkeys.passkeys_of(user.id)?);
        }
        Ok(self.passkeys.start_session_check(user, &credentials, now)?)
    }

    /// Who answered, and the trusted device whose credential it was (if it was one). A
    /// check that had to come from a device and did not is refused.
    pub fn finish_session_check(
        &self,
        user: &User,
        check: SessionCheck,
        challenge: &str,
        credential: &PublicKeyCredential,
        now: u64,
    ) -> Result<(UserId, Option<Device>), DeviceError> {
        // Another of the user's authenticators (a passkey not enrolled as a device) is
        // told so, and the challenge is spent all the same.
        let of_a_device = |devices: &[(Device, Passkey)]| {
            devices.iter().any(|(_, passkey)| credential_id_text(passkey.cred_id().as_ref()) == credential.id)
        };
        if check == SessionCheck::Device && !of_a_device(&self.devices.enrolled(user.id)?) {
            self.passkeys.spend_session_check(challenge, now)?;
            return Err(DeviceError::NotADevice);
        }
        let (user, result) = self.passkeys.finish_session_check(challenge, credential, now)?;
        let device = self.devices.answered_by(user, &result, now)?;
        if check == SessionCheck::Device && device.is_none() {
            return Err(DeviceError::NotADevice);
        }
        Ok((user, device))
    }
}
