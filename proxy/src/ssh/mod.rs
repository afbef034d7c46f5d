//! SSH: the recorded bridge between the browser's SSH connection and the node, and the
//! check that a node enforces Gatehouse's certificates.

pub mod bridge;
pub mod check;
