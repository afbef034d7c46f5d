//! Gatehouse's state, behind one small interface per aggregate, so that a multi-proxy
//! deployment can put PostgreSQL behind them later: [`accounts::AccountStore`] (users,
//! credentials, invites, sign-in attempts, web sessions), [`locks::LockStore`],
//! [`inventory::InventoryStore`] (nodes, desktops, apps), [`audit::AuditStore`],
//! [`passkeys::PasskeyStore`] (passkeys, WebAuthn challenges),
//! [`recordings::RecordingStore`], [`passes::PassStore`] (MFA tickets, certified
//! logins), [`cluster::ClusterStore`] (the keys proxies agree on), [`sso::SsoStore`]
//! (single sign-ons under way, accounts linked to a provider's subjects),
//! [`requests::RequestStore`] (access requests and their reviews) and
//! [`devices::DeviceStore`] (trusted devices) and [`apps::AppStore`] (web apps' signing
//! keys, launches and sessions). A backend
//! implements them all, which makes it a [`backend::Store`]; a service holds only the
//! ones it needs. [`sqlite::SqliteStore`] keeps everything in one file in the data
//! directory (the embedded default); [`postgres::PostgresStore`] in a PostgreSQL server
//! that several proxies share. [`crate::cli::open::open_store`] picks one from the config.
//!
//! The interfaces name no backend's types. Times are Unix seconds, passed in by the
//! caller; token arguments are SHA-256 hashes, never tokens. This file holds only what
//! every store returns, so each interface can name it without a cycle.

pub mod accounts;
pub mod apps;
pub mod audit;
pub mod backend;
pub mod cluster;
#[cfg(test)]
mod conformance;
pub mod copy;
pub mod devices;
pub mod inventory;
pub mod locks;
pub mod passes;
pub mod passkeys;
pub mod postgres;
pub mod recordings;
pub mod requests;
pub mod sqlite;
pub mod sso;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend itself failed; its own error says how.
    #[error("the database failed: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("a user named {0:?} already exists")]
    UserExists(String),
    #[error("the stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One value of a row, as [`copy`] moves it between backends.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Integer(i64),
    Text(String),
    Blob(Vec<u8>),
}
