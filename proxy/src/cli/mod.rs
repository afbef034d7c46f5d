//! The `gatehouse` command line.

pub mod logging;
