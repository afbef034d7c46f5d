//! RDP: the proxy's IronRDP client and the desktop clipboard.

pub mod clipboard;
pub mod connect;
