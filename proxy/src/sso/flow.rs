//! A sign-in through an identity provider, between leaving for it and coming back.

use crate::accounts::user::UserId;

/// What the proxy keeps while the browser is at the provider (under the hash of the
/// `state` it carries there and back), or, once the provider has proved who it is but a
/// passkey must be added first, under the hash of a one-time enrolment token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The connector's name.
    pub connector: String,
    /// The SHA-256 of the random value in the browser's `gatehouse_sso` cookie: the
    /// callback must come back to the browser that left, or a link sent by an attacker
    /// would sign the victim in as the attacker.
    pub binding_hash: String,
    /// The PKCE verifier (the code is useless to whoever intercepts it without it) and
    /// the nonce the ID token must carry. Empty in an enrolment flow.
    pub pkce_verifier: String,
    pub nonce: String,
    /// Set once the provider has proved the account: a flow that only waits for a
    /// passkey to be added.
    pub user: Option<UserId>,
    pub expires_at: u64,
}
