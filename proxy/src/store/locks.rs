//! An admin's locks as persisted: on a user, a node or a desktop, until they expire or
//! are removed.

use super::Result;
use crate::access::locks::{Lock, NewLock};

/// Locks on users, nodes and desktops.
pub trait LockStore: Send + Sync {
    fn add_lock(&self, lock: &NewLock, now: u64) -> Result<i64>;
    /// The locks in force at `now`, oldest first.
    fn active_locks(&self, now: u64) -> Result<Vec<Lock>>;
    fn remove_lock(&self, id: i64) -> Result<bool>;
}
