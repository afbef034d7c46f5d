//! The desktop protocol's logic, without I/O, shared by the browser's worker, the
//! player and the proxy (see ARCHITECTURE.md, "Desktops").

pub mod codec_context;
pub mod decoder;
pub mod input;
pub mod keys;
pub mod playback;
pub mod slow_path;
pub mod testing;
pub mod video;
