//! Everything Gatehouse persists, as one trait: what a backend implements, and what a
//! caller that works across aggregates (the [`Gatehouse`](crate::gate::Gatehouse), the
//! command line) holds.

use super::accounts::AccountStore;
use super::apps::AppStore;
use super::audit::AuditStore;
use super::cluster::ClusterStore;
use super::devices::DeviceStore;
use super::inventory::InventoryStore;
use super::locks::LockStore;
use super::passes::PassStore;
use super::passkeys::PasskeyStore;
use super::recordings::RecordingStore;
use super::requests::RequestStore;
use super::sso::SsoStore;

/// Every aggregate's store at once. Implemented for anything that implements them all.
pub trait Store:
    AccountStore
    + LockStore
    + InventoryStore
    + AuditStore
    + PasskeyStore
    + RecordingStore
    + PassStore
    + ClusterStore
    + SsoStore
    + RequestStore
    + DeviceStore
    + AppStore
{
}

impl<T> Store for T where
    T: AccountStore
        + LockStore
        + InventoryStore
        + AuditStore
        + PasskeyStore
        + RecordingStore
        + PassStore
        + ClusterStore
        + SsoStore
        + RequestStore
        + DeviceStore
        + AppStore
        + ?Sized
{
}
