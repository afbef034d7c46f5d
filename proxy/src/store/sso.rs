//! Single sign-on as persisted: the sign-ins under way (one row per browser that went to
//! an identity provider and has not come back), and which account each provider's
//! subject is. Flow tokens arrive as SHA-256 hashes, never tokens.

use super::Result;
use crate::accounts::user::UserId;
use crate::sso::flow::Flow;

/// Sign-ins under way, and the accounts linked to a provider's subjects.
pub trait SsoStore: Send + Sync {
    /// Keeps a sign-in under way until it is taken or expires (expired ones are dropped
    /// here).
    fn put_flow(&self, token_hash: &str, flow: &Flow, now: u64) -> Result<()>;
    /// Takes the flow out, whatever comes next: a second take (a replayed callback)
    /// finds nothing. Expired ones are `None`.
    fn take_flow(&self, token_hash: &str, now: u64) -> Result<Option<Flow>>;

    /// The account `subject` of the connector `connector` signed in as before, and the
    /// issuer that made the link (a subject is only unique at its issuer).
    fn sso_user(&self, connector: &str, subject: &str) -> Result<Option<(UserId, String)>>;
    /// Links a subject at `issuer` to an account. False, and nothing changes, if the
    /// subject is linked already (two first sign-ins racing: the first wins).
    fn link_sso(&self, connector: &str, subject: &str, issuer: &str, user: UserId, now: u64) -> Result<bool>;
    /// The connectors `user` is linked to, by name.
    fn sso_links(&self, user: UserId) -> Result<Vec<String>>;
}
