//! SSH in the browser: russh runs here, over a WebSocket that the proxy relays, so the
//! proxy (and anything between) sees only SSH ciphertext. Each connection signs in with
//! a certificate issued for it alone; every host certificate must be signed by the
//! pinned host CA.

pub mod connect;
pub mod files;
pub mod identity;
pub mod key;
pub mod mfa;
pub mod pin;
pub mod session;
pub mod socket;
pub mod transfer;
