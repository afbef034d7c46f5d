//! What proxies sharing one database agree on: the fingerprints of the keys every proxy
//! must hold the same (the CAs, the desktop vault key), so a proxy started with other
//! keys refuses to serve instead of signing what the others' nodes do not trust.

use super::Result;

/// Key fingerprints, and whether the database answers.
pub trait ClusterStore: Send + Sync {
    /// The fingerprint the cluster knows for the key `name`, recording `fingerprint` if
    /// it knows none yet (the first proxy's keys become the cluster's).
    fn agree_key(&self, name: &str, fingerprint: &str) -> Result<String>;
    /// The fingerprint the cluster knows for `name`, if any.
    fn cluster_key(&self, name: &str) -> Result<Option<String>>;
    /// Whether the database answers now (`/readyz`).
    fn ping(&self) -> Result<()>;
}
