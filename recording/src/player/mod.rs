//! Playing a recording back, for the terminal player (web) and the desktop player
//! (the desktop worker): [`fetch`] says which bytes to fetch for a moment and which
//! answers still count, [`clock`] where playback should be, and [`terminal`] plays a
//! terminal recording's events as they arrive. (A desktop's events are played by
//! `gatehouse_desktop::playback`, on the same reader.)

pub mod clock;
pub mod fetch;
pub mod terminal;

pub use clock::{Clock, DEFAULT_IDLE_LIMIT_MS, SPEEDS};
pub use fetch::{Answer, Generation, Planner, Range, Request, SeekPlan, whole_length};
