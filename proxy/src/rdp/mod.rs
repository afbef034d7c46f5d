//! RDP: the proxy's IronRDP client ([`connect`]), a session's decisions without I/O
//! ([`session`]), and the desktop clipboard ([`clipboard`]).

pub mod clipboard;
pub mod connect;
pub mod session;
