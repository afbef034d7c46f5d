//! SSH in the browser: russh runs here, over a WebSocket that the proxy relays, so the
//! proxy (and anything between) sees only SSH ciphertext. Every host certificate must
//! be signed by the pinned host CA.

pub mod identity;
pub mod mfa;
pub mod pin;
pub mod session;
pub mod socket;
