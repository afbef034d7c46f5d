//! A web session: a signed-in browser, named by the hash of its cookie's token.

use super::user::User;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    /// SHA-256 of the cookie's token: how live SSH and desktop sessions name the web
    /// session they belong to.
    pub token_hash: String,
    pub csrf_token: String,
    pub created_at: u64,
    pub expires_at: u64,
    /// When the person last proved an existing factor again in this session (needed
    /// before changing factors).
    pub confirmed_at: Option<u64>,
}
