//! Playing a recording back: a terminal's [`terminal::Playback`] over the recording's
//! bytes as they arrive. (A desktop's is `gatehouse_desktop::playback`, on the same
//! reader.)

pub mod terminal;
