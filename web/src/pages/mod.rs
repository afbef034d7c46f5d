pub mod account;
pub mod invite;
pub mod not_found;
pub mod resources;
pub mod signin;
pub mod ssh;
pub mod player;
pub mod recordings;
