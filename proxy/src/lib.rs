//! Gatehouse, the proxy: signs people in, decides what they may reach, certifies their
//! SSH keys for one decision at a time, carries and records their SSH and desktop
//! sessions, forwards their requests to web apps with a signed identity, and ends it all
//! when the identity behind them goes.
//!
//! The `gatehouse` binary is [`cli`]; the HTTPS face is [`http`]. Below them the
//! [`gate::Gatehouse`] composes the services and admits sessions; below it, the
//! capabilities it is made of. Nothing but `cli` imports `http`.

pub mod access;
pub mod accounts;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod ca;
pub mod cli;
pub mod config;
pub mod devices;
pub mod gate;
pub mod http;
pub mod inventory;
pub mod metrics;
pub mod passkeys;
pub mod rdp;
pub mod recordings;
pub mod sessions;
pub mod ssh;
pub mod sso;
pub mod store;
pub mod vault;
pub mod webhook;
