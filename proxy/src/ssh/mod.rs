//! SSH: signing the browser's key for one decision ([`certificate`]), the recorded
//! bridge between the browser's SSH connection and the node ([`bridge`]), and the check
//! that a node enforces Gatehouse's certificates ([`check`]).

pub mod bridge;
pub mod certificate;
pub mod channel;
pub mod check;
