//! What one step of a connection leaves for the next, shared by every proxy: the
//! one-time tickets of passed passkey checks (the check can be answered by one proxy and
//! the SSH socket opened on another) and the direct-mode certificates signed lately.
//! Ticket tokens arrive as SHA-256 hashes, never tokens.

use super::Result;
use crate::gate::ticket::MfaTicket;

/// MFA tickets and certified logins.
pub trait PassStore: Send + Sync {
    /// Keeps the ticket until it is taken or expires (expired ones are dropped here).
    fn put_ticket(&self, token_hash: &str, ticket: &MfaTicket, now: u64) -> Result<()>;
    /// Takes the ticket out, whatever it says: a second take finds nothing. Expired
    /// ones are `None`.
    fn take_ticket(&self, token_hash: &str, now: u64) -> Result<Option<MfaTicket>>;

    /// A direct-mode certificate for `login@node` was signed for `user`, valid until then.
    fn note_certified(&self, user: &str, node: &str, login: &str, valid_until: u64, now: u64) -> Result<()>;
    /// Logins `user` was certified for on `node` whose certificates still open it, in
    /// the order they were signed.
    fn certified_logins(&self, user: &str, node: &str, now: u64) -> Result<Vec<String>>;
}
