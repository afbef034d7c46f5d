//! The passkey check some roles ask for before each SSH session: the proxy sends a
//! challenge, the passkey answers, and the proxy gives back a certificate for this
//! tab's key that lasts only long enough to connect, and a one-time ticket for the
//! socket.

use gatehouse_proto::api::{AssertionChallenge, SessionMfaFinish, SessionMfaGrant, SessionMfaStart};
use russh::keys::ssh_key::Certificate;

use super::identity::Identity;
use crate::api;

/// Returns the identity with the session's certificate, and the ticket.
pub async fn confirm(csrf: &str, identity: &Identity, node: &str, login: &str) -> Result<(Identity, String), String> {
    let start = SessionMfaStart { node: node.to_string(), login: login.to_string() };
    let challenge: AssertionChallenge = api::post("/api/v1/ssh/mfa/start", &start, csrf).await.map_err(|f| f.message)?;
    let assertion = crate::passkey::get(challenge).await?;
    let public_key = identity.key.public_key().to_openssh().map_err(|err| format!("Cannot read this tab's key: {err}"))?;
    let finish = SessionMfaFinish {
        challenge_id: assertion.challenge_id,
        credential: assertion.credential,
        public_key,
        node: node.to_string(),
        login: login.to_string(),
    };
    let grant: SessionMfaGrant = api::post("/api/v1/ssh/mfa/finish", &finish, csrf).await.map_err(|f| f.message)?;
    let certificate = Certificate::from_openssh(&grant.certificate).map_err(|err| format!("The session certificate is not valid: {err}"))?;
    let mut certified = identity.clone();
    certified.certificate = certificate;
    Ok((certified, grant.ticket))
}
