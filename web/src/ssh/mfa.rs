//! The passkey check some roles ask for before each SSH session: the proxy sends a
//! challenge, the passkey answers, and the proxy gives back a certificate for the page's
//! key that lasts only long enough to connect, and a one-time ticket for the socket
//! (`?mfa=…`). Asked for when the certificate request answers `mfa_required`, or when
//! the socket closes with 4428.

use gatehouse_proto::api::{AssertionChallenge, SessionMfaFinish, SessionMfaGrant, SessionMfaStart};
use russh::keys::ssh_key::Certificate;

use super::identity;
use super::key::PageKey;
use crate::api;

/// What a passed check gives.
pub struct Grant {
    pub certificate: Certificate,
    pub ticket: String,
    /// The host CA the proxy names, for a browser with no pin yet.
    pub host_ca_fingerprint: String,
    /// What the Files panel may move.
    pub file_transfer: super::files::Allowed,
}

pub async fn check(csrf: &str, key: &PageKey, node: &str, login: &str) -> Result<Grant, String> {
    let start = SessionMfaStart { node: node.to_string(), login: login.to_string() };
    let challenge: AssertionChallenge =
        api::post("/api/v1/ssh/mfa/start", &start, csrf).await.map_err(|f| f.message)?;
    let trusted_device = challenge.trusted_device;
    let assertion = crate::passkey::get(challenge).await.map_err(|why| {
        if trusted_device {
            format!(
                "{node} opens only from a trusted device enrolled for you, and this browser's authenticator did not answer as one (it holds none of your devices' credentials, or the prompt was cancelled). Connect from your enrolled device, or ask an admin to register this one (`gatehouse devices add`)."
            )
        } else {
            why
        }
    })?;
    let finish = SessionMfaFinish {
        challenge_id: assertion.challenge_id,
        credential: assertion.credential,
        public_key: key.openssh()?,
        node: node.to_string(),
        login: login.to_string(),
    };
    let grant: SessionMfaGrant = api::post("/api/v1/ssh/mfa/finish", &finish, csrf).await.map_err(|f| f.message)?;
    Ok(Grant {
        certificate: identity::read(&grant.certificate, key)?,
        ticket: grant.ticket,
        host_ca_fingerprint: grant.host_ca_fingerprint,
        file_transfer: super::files::Allowed::parse(&grant.file_transfer),
    })
}
