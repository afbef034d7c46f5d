//! RDP: the proxy's IronRDP client ([`connect`]), a session's decisions without I/O
//! ([`session`]), live resize over the display control channel ([`resize`]), and the
//! desktop clipboard ([`clipboard`]).

pub mod clipboard;
pub mod connect;
pub mod resize;
pub mod session;
