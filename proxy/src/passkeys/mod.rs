//! Passkeys (WebAuthn) with webauthn-rs: adding one to an account, using one as the
//! second factor after the password, and signing in with one alone (a discoverable
//! credential, no user name typed).
//!
//! Every ceremony's state waits in the store under a random id for at most two minutes
//! and is taken out when the answer comes: a challenge answers once. Counters are kept
//! per credential; webauthn-rs refuses an assertion whose counter went backwards.

pub mod credential;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::accounts::user::{User, UserId};
use crate::store::passkeys::PasskeyStore;
use credential::StoredPasskey;

/// How long a ceremony may take, from the challenge to the answer.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(120);
const MAX_NAME: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("This passkey request has expired or was already used. Start again.")]
    UnknownChallenge,
    #[error("The passkey did not prove itself: {0}. Try again, or use another passkey.")]
    Rejected(String),
    #[error("This passkey is not registered with Gatehouse.")]
    UnknownCredential,
    #[error("You have no passkey yet: sign in with your authenticator app code, then add one in your account.")]
    NoPasskeys,
    #[error("A passkey's name is 1 to 64 characters.")]
    BadName,
    #[error("That is your only second factor; add another before removing it.")]
    LastFactor,
    /// One answer whether the password before the passkey or the passkey was wrong.
    #[error("The user name, password or passkey is wrong.")]
    SignInFailed,
    #[error("There is no such passkey on your account.")]
    NoSuchPasskey,
    #[error("the stored passkey data is damaged: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the WebAuthn setup is invalid: {0}")]
    Setup(String),
}

/// What a verified registration's attestation statement said.
fn attestation_of(passkey: &Passkey) -> crate::devices::device::Attestation {
    use webauthn_rs::prelude::{AttestationMetadata, Credential, ParsedAttestationData};
    let credential = Credential::from(passkey.clone());
    let aaguid = match &credential.attestation.metadata {
        AttestationMetadata::Packed { aaguid } | AttestationMetadata::Tpm { aaguid, .. } => Some(aaguid.to_string()),
        _ => None,
    };
    let certified = matches!(
        credential.attestation.data,
        ParsedAttestationData::Basic(_) | ParsedAttestationData::AttCa(_) | ParsedAttestationData::AnonCa(_)
    );
    let format = serde_json::to_value(&credential.attestation_format)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    crate::devices::device::Attestation { format, aaguid, certified, backup_eligible: credential.backup_eligible }
}

/// A user's id as WebAuthn's user handle: stable, not secret, and reversible so a
/// discoverable sign-in finds the account.
pub fn user_handle(user: UserId) -> Uuid {
    Uuid::from_u64_pair(0x6761_7465_686f_7573, user as u64)
}

fn user_of_handle(handle: Uuid) -> Option<UserId> {
    let (tag, id) = handle.as_u64_pair();
    (tag == 0x6761_7465_686f_7573).then_some(id as UserId)
}

/// A credential id as stored: base64url.
pub fn credential_id_text(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub struct Passkeys {
    webauthn: Webauthn,
    store: Arc<dyn PasskeyStore>,
}

/// What a person sees of one of their passkeys.
pub struct PasskeySummary {
    pub id: i64,
    pub name: String,
    pub created_at: u64,
    pub last_used_at: Option<u64>,
}

impl Passkeys {
    /// The relying party is the proxy's own address: its host name as the RP id, its
    /// URL as the only origin.
    pub fn new(public_url: &str, rp_id: Option<&str>, store: Arc<dyn PasskeyStore>) -> Result<Passkeys, PasskeyError> {
        let origin = Url::parse(public_url).map_err(|err| PasskeyError::Setup(err.to_string()))?;
        let host = origin.host_str().ok_or_else(|| PasskeyError::Setup("public_url has no host".into()))?.to_string();
        let rp_id = rp_id.unwrap_or(&host).to_string();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name("Gatehouse").timeout(CHALLENGE_TTL).build())
            .map_err(|err| PasskeyError::Setup(err.to_string()))?;
        Ok(Passkeys { webauthn, store })
    }

    fn put<T: serde::Serialize>(
        &self,
        kind: &str,
        user: Option<UserId>,
        state: &T,
        now: u64,
    ) -> Result<String, PasskeyError> {
        let id = crate::auth::token::random_token();
        let json = serde_json::to_string(state).map_err(|err| PasskeyError::Corrupt(err.to_string()))?;
        self.store.put_challenge(&id, kind, user, &json, now + CHALLENGE_TTL.as_secs())?;
        Ok(id)
    }

    fn take<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
        now: u64,
    ) -> Result<(Option<UserId>, T), PasskeyError> {
        let (user, json) = self.store.take_challenge(id, kind, now)?.ok_or(PasskeyError::UnknownChallenge)?;
        let state = serde_json::from_str(&json).map_err(|err| PasskeyError::Corrupt(err.to_string()))?;
        Ok((user, state))
    }

    fn stored(&self, user: UserId) -> Result<Vec<(StoredPasskey, Passkey)>, PasskeyError> {
        self.store
            .passkeys(user)?
            .into_iter()
            .map(|stored| {
                let passkey =
                    serde_json::from_str(&stored.passkey_json).map_err(|err| PasskeyError::Corrupt(err.to_string()))?;
                Ok((stored, passkey))
            })
            .collect()
    }

    pub fn list(&self, user: UserId) -> Result<Vec<PasskeySummary>, PasskeyError> {
        Ok(self
            .store
            .passkeys(user)?
            .into_iter()
            .map(|p| PasskeySummary { id: p.id, name: p.name, created_at: p.created_at, last_used_at: p.last_used_at })
            .collect())
    }

    /// Options for `navigator.credentials.create`, for a discoverable credential (so it
    /// can sign in without a user name), excluding the passkeys the user already has.
    pub fn start_registration(
        &self,
        user: &User,
        now: u64,
    ) -> Result<(String, CreationChallengeResponse), PasskeyError> {
        let existing = self.stored(user.id)?.into_iter().map(|(_, p)| p.cred_id().clone()).collect::<Vec<_>>();
        let (mut options, state) = self
            .webauthn
            .start_passkey_registration(user_handle(user.id), &user.name, &user.name, Some(existing))
            .map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.require_resident_key = true;
            selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Required);
        }
        let id = self.put::<PasskeyRegistration>("register", Some(user.id), &state, now)?;
        Ok((id, options))
    }

    pub fn finish_registration(
        &self,
        user: &User,
        challenge: &str,
        name: &str,
        credential: &RegisterPublicKeyCredential,
        now: u64,
    ) -> Result<i64, PasskeyError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(PasskeyError::BadName);
        }
        let (owner, state): (_, PasskeyRegistration) = self.take("register", challenge, now)?;
        if owner != Some(user.id) {
            return Err(PasskeyError::UnknownChallenge);
        }
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, &state)
            .map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        let json = serde_json::to_string(&passkey).map_err(|err| PasskeyError::Corrupt(err.to_string()))?;
        Ok(self.store.add_passkey(user.id, name, &credential_id_text(passkey.cred_id().as_ref()), &json, now)?)
    }

    /// The second factor after a password. The options are the same whatever the
    /// password was (they list no credentials, which would tell a right password from a
    /// wrong one): `user` is who the password proved, or `None`, and only that user's
    /// passkey finishes the sign-in.
    pub fn start_second_factor(
        &self,
        user: Option<UserId>,
        now: u64,
    ) -> Result<(String, RequestChallengeResponse), PasskeyError> {
        self.start_after_first_factor("second-factor", user, now)
    }

    pub fn finish_second_factor(
        &self,
        challenge: &str,
        credential: &PublicKeyCredential,
        now: u64,
    ) -> Result<UserId, PasskeyError> {
        self.finish_after_first_factor("second-factor", challenge, credential, now)
    }

    /// A challenge of `kind` that only the passkey of `user` (whom a first factor proved)
    /// finishes; it lists no credentials.
    fn start_after_first_factor(
        &self,
        kind: &'static str,
        user: Option<UserId>,
        now: u64,
    ) -> Result<(String, RequestChallengeResponse), PasskeyError> {
        let (mut options, state) =
            self.webauthn.start_discoverable_authentication().map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        options.mediation = None;
        let id = self.put::<DiscoverableAuthentication>(kind, user, &state, now)?;
        Ok((id, options))
    }

    fn finish_after_first_factor(
        &self,
        kind: &'static str,
        challenge: &str,
        credential: &PublicKeyCredential,
        now: u64,
    ) -> Result<UserId, PasskeyError> {
        let (proved, state): (_, DiscoverableAuthentication) = self.take(kind, challenge, now)?;
        let user = self.finish_discoverable_state(state, credential, now)?;
        if proved != Some(user) {
            return Err(PasskeyError::SignInFailed);
        }
        Ok(user)
    }

    /// The passkey after a single sign-on proved `user`: a kind of challenge of its own,
    /// so one made after a password cannot finish a single sign-on, nor the other way.
    pub fn start_sso_factor(&self, user: UserId, now: u64) -> Result<(String, RequestChallengeResponse), PasskeyError> {
        self.start_after_first_factor("sso-factor", Some(user), now)
    }

    pub fn finish_sso_factor(
        &self,
        challenge: &str,
        credential: &PublicKeyCredential,
        now: u64,
    ) -> Result<UserId, PasskeyError> {
        self.finish_after_first_factor("sso-factor", challenge, credential, now)
    }

    /// A fresh check of a passkey the signed-in user has, before they change factors.
    pub fn start_confirm(&self, user: &User, now: u64) -> Result<(String, RequestChallengeResponse), PasskeyError> {
        self.start_assertion(user, "confirm", now)
    }

    pub fn finish_confirm(
        &self,
        challenge: &str,
        credential: &PublicKeyCredential,
        now: u64,
    ) -> Result<UserId, PasskeyError> {
        self.finish_assertion("confirm", challenge, credential, now)
    }

    /// The user's passkeys as webauthn-rs takes them.
    pub fn passkeys_of(&self, user: UserId) -> Result<Vec<Passkey>, PasskeyError> {
        Ok(self.stored(user)?.into_iter().map(|(_, p)| p).collect())
    }

    /// A fresh check before a session (`require_session_mfa`, `device_trust`), answered
    /// by one of `credentials` (the user's passkeys, their trusted devices' credentials,
    /// or both, as the roles ask); its own kind of challenge, so a sign-in's cannot
    /// stand in for it.
    pub fn start_session_check(
        &self,
        user: &User,
        credentials: &[Passkey],
        now: u64,
    ) -> Result<(String, RequestChallengeResponse), PasskeyError> {
        if credentials.is_empty() {
            return Err(PasskeyError::NoPasskeys);
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(credentials)
            .map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        let id = self.put::<PasskeyAuthentication>("session-mfa", Some(user.id), &state, now)?;
        Ok((id, options))
    }

    /// Who answered a session check, and with which credential (whose counter the caller
    /// keeps if it is a device's; a passkey's is kept here). Only a credential the check
    /// was started over can answer it.
    pub fn finish_session_check(
        &self,
        challenge: &str,
        credential: &PublicKeyCredential,
        now: u64,
    ) -> Result<(UserId, AuthenticationResult), PasskeyError> {
        let (user, state): (_, PasskeyAuthentication) = self.take("session-mfa", challenge, now)?;
        let user = user.ok_or(PasskeyError::UnknownChallenge)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(credential, &state)
            .map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        self.record_use(user, result.cred_id().as_ref(), &result, now)?;
        Ok((user, result))
    }

    /// Spends a session check's challenge unanswered (an answer it cannot take).
    pub fn spend_session_check(&self, challenge: &str, now: u64) -> Result<(), PasskeyError> {
        self.take::<PasskeyAuthentication>("session-mfa", challenge, now).map(|_| ())
    }

    /// Options to create a trusted device's credential: attestation asked for
    /// ("direct"), user verification required, excluding the credentials `enrolled`
    /// (the user's devices' own, so one authenticator is not two devices).
    pub fn start_device_enrolment(
        &self,
        user: &User,
        enrolled: Vec<webauthn_rs::prelude::CredentialID>,
        now: u64,
    ) -> Result<(String, CreationChallengeResponse), PasskeyError> {
        let (mut options, state) = self
            .webauthn
            .start_passkey_registration(user_handle(user.id), &user.name, &user.name, Some(enrolled))
            .map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        options.public_key.attestation = Some(webauthn_rs_proto::AttestationConveyancePreference::Direct);
        // Not discoverable: a device's credential answers checks that name it, and is not
        // offered at a passwordless sign-in (where it would be refused).
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.require_resident_key = false;
            selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Discouraged);
        }
        let id = self.put::<PasskeyRegistration>("device-enrol", Some(user.id), &state, now)?;
        Ok((id, options))
    }

    /// The new credential, once its attestation statement verified, and what the
    /// statement said. Whether the policy accepts it is [`crate::devices::check`].
    pub fn finish_device_enrolment(
        &self,
        user: &User,
        challenge: &str,
        credential: &RegisterPublicKeyCredential,
        now: u64,
    ) -> Result<(Passkey, crate::devices::device::Attestation), PasskeyError> {
        let (owner, state): (_, PasskeyRegistration) = self.take("device-enrol", challenge, now)?;
        if owner != Some(user.id) {
            return Err(PasskeyError::UnknownChallenge);
        }
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, &state)
            .map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        let attestation = attestation_of(&passkey);
        Ok((passkey, attestation))
    }

    fn start_assertion(
        &self,
        user: &User,
        kind: &str,
        now: u64,
    ) -> Result<(String, RequestChallengeResponse), PasskeyError> {
        let passkeys: Vec<Passkey> = self.stored(user.id)?.into_iter().map(|(_, p)| p).collect();
        if passkeys.is_empty() {
            return Err(PasskeyError::NoPasskeys);
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        let id = self.put::<PasskeyAuthentication>(kind, Some(user.id), &state, now)?;
        Ok((id, options))
    }

    fn finish_assertion(
        &self,
        kind: &str,
        challenge: &str,
        credential: &PublicKeyCredential,
        now: u64,
    ) -> Result<UserId, PasskeyError> {
        let (user, state): (_, PasskeyAuthentication) = self.take(kind, challenge, now)?;
        let user = user.ok_or(PasskeyError::UnknownChallenge)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(credential, &state)
            .map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        self.record_use(user, result.cred_id().as_ref(), &result, now)?;
        Ok(user)
    }

    /// Passwordless: options with no user named; the authenticator offers its passkeys.
    pub fn start_discoverable(&self, now: u64) -> Result<(String, RequestChallengeResponse), PasskeyError> {
        let (mut options, state) =
            self.webauthn.start_discoverable_authentication().map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        // A button press, not the autofill ("conditional") prompt webauthn-rs sets.
        options.mediation = None;
        let id = self.put::<DiscoverableAuthentication>("discoverable", None, &state, now)?;
        Ok((id, options))
    }

    pub fn finish_discoverable(
        &self,
        challenge: &str,
        credential: &PublicKeyCredential,
        now: u64,
    ) -> Result<UserId, PasskeyError> {
        let (_, state): (_, DiscoverableAuthentication) = self.take("discoverable", challenge, now)?;
        self.finish_discoverable_state(state, credential, now)
    }

    /// The user a discoverable credential's answer proves (and its counter updated).
    fn finish_discoverable_state(
        &self,
        state: DiscoverableAuthentication,
        credential: &PublicKeyCredential,
        now: u64,
    ) -> Result<UserId, PasskeyError> {
        let (handle, credential_id) = self
            .webauthn
            .identify_discoverable_authentication(credential)
            .map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        let user = user_of_handle(handle).ok_or(PasskeyError::UnknownCredential)?;
        // The credential must be registered, and to the user the authenticator names.
        let stored = self
            .store
            .passkey_by_credential(&credential_id_text(credential_id))?
            .filter(|stored| stored.user_id == user)
            .ok_or(PasskeyError::UnknownCredential)?;
        let passkey: Passkey =
            serde_json::from_str(&stored.passkey_json).map_err(|err| PasskeyError::Corrupt(err.to_string()))?;
        let key = DiscoverableKey::from(&passkey);
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(credential, state, &key)
            .map_err(|err| PasskeyError::Rejected(err.to_string()))?;
        self.update(stored, passkey, &result, now)?;
        Ok(user)
    }

    fn record_use(
        &self,
        user: UserId,
        credential_id: &[u8],
        result: &webauthn_rs::prelude::AuthenticationResult,
        now: u64,
    ) -> Result<(), PasskeyError> {
        let text = credential_id_text(credential_id);
        if let Some((stored, passkey)) = self.stored(user)?.into_iter().find(|(s, _)| s.credential_id == text) {
            self.update(stored, passkey, result, now)?;
        }
        Ok(())
    }

    fn update(
        &self,
        stored: StoredPasskey,
        mut passkey: Passkey,
        result: &webauthn_rs::prelude::AuthenticationResult,
        now: u64,
    ) -> Result<(), PasskeyError> {
        passkey.update_credential(result);
        let json = serde_json::to_string(&passkey).map_err(|err| PasskeyError::Corrupt(err.to_string()))?;
        self.store.passkey_used(stored.id, &json, now)?;
        Ok(())
    }

    /// Whether the passkey is the user's and not their only second factor.
    pub fn removable(&self, user: &User, id: i64) -> Result<(), PasskeyError> {
        let mine = self.store.passkeys(user.id)?;
        if !mine.iter().any(|p| p.id == id) {
            return Err(PasskeyError::NoSuchPasskey);
        }
        if user.totp_secret.is_none() && mine.len() == 1 {
            return Err(PasskeyError::LastFactor);
        }
        Ok(())
    }

    /// Removes one of the user's passkeys, unless it is their only second factor.
    pub fn remove(&self, user: &User, id: i64) -> Result<(), PasskeyError> {
        let mine = self.store.passkeys(user.id)?;
        if !mine.iter().any(|p| p.id == id) {
            return Err(PasskeyError::NoSuchPasskey);
        }
        if user.totp_secret.is_none() && mine.len() == 1 {
            return Err(PasskeyError::LastFactor);
        }
        self.store.remove_passkey(user.id, id)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_handle_maps_back_to_its_user_and_nothing_else_does() {
        assert_eq!(user_of_handle(user_handle(42)), Some(42));
        assert_eq!(user_of_handle(Uuid::from_u64_pair(1, 42)), None);
    }

    #[test]
    fn the_relying_party_is_the_public_url() {
        let store: Arc<dyn PasskeyStore> = Arc::new(crate::store::sqlite::SqliteStore::in_memory().unwrap());
        assert!(Passkeys::new("https://gatehouse.example.com", None, store.clone()).is_ok());
        assert!(Passkeys::new("https://localhost:3080", None, store.clone()).is_ok());
        assert!(Passkeys::new("not a url", None, store).is_err());
    }
}
