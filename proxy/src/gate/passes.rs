//! What a decision leaves behind for the next step of the same connection: the one-time
//! ticket a passed passkey check gives the SSH socket, and the direct-mode certificates
//! issued lately (the socket answers for each of their logins). Kept in the database
//! ([`PassStore`]), so the check can pass on one proxy and the socket open on another.

use std::sync::Arc;

use crate::auth::token::token_hash as hash_token;
use crate::store::passes::PassStore;

pub use super::ticket::MfaTicket;

pub struct Passes {
    store: Arc<dyn PassStore>,
}

impl Passes {
    pub fn new(store: Arc<dyn PassStore>) -> Passes {
        Passes { store }
    }

    /// Keeps `ticket` under `token` (a random secret the browser holds; only its hash is
    /// stored) until it is taken or expires.
    pub fn issue_ticket(&self, token: &str, ticket: MfaTicket, now: u64) -> crate::store::Result<()> {
        self.store.put_ticket(&hash_token(token), &ticket, now)
    }

    /// The ticket under `token`, which leaves the table whatever it says: one use. A
    /// database that cannot answer gives no ticket (the check is asked for again).
    pub fn take_ticket(&self, token: &str, now: u64) -> Option<MfaTicket> {
        self.store.take_ticket(&hash_token(token), now).unwrap_or_else(|err| {
            tracing::error!(%err, "cannot read MFA tickets");
            None
        })
    }

    /// Notes a direct-mode certificate, so a socket to that node answers for its login.
    pub fn note_certified(
        &self,
        user: &str,
        node: &str,
        login: &str,
        valid_until: u64,
        now: u64,
    ) -> crate::store::Result<()> {
        self.store.note_certified(user, node, login, valid_until, now)
    }

    /// Logins `user` was certified for on `node` whose certificates still open it.
    pub fn certified_logins(&self, user: &str, node: &str, now: u64) -> crate::store::Result<Vec<String>> {
        self.store.certified_logins(user, node, now)
    }
}
