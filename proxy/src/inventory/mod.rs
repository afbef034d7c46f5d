//! What people can reach: SSH nodes and remote desktops, from the config file and the
//! database.

pub mod desktops;
pub mod nodes;
