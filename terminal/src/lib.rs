//! The terminal model, with no I/O and no browser: bytes from the node go in, and out
//! come the rows that changed since the last paint, the screen text, and the modes the
//! keyboard needs. Keys and pastes become the bytes a native terminal would send; text from an input
//! method, dictation or an on-screen keyboard goes out as UTF-8 (`text_input`).
//! The canvas renderer (web) and the recording player (`gatehouse-recording`'s
//! terminal playback) both sit on this.

pub mod emulator;
pub mod keys;
pub mod paste;
pub mod screen;
pub mod scrollback;
pub mod text_input;

pub use emulator::Emulator;
pub use keys::{KeyInput, encode_key};
pub use paste::encode_paste;
pub use screen::{Found, Frame, Selection, Terminal, ViewCell, ViewRow};
pub use scrollback::Scrollback;
pub use text_input::{TextInput, key_is_text_input};
pub use vt100;
