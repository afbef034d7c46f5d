//! Session recordings, without I/O: everything about a recording that is not reading a
//! file or a socket, for the proxy that writes them and the players that show them.
//!
//! - [`format`]: the recording file (writer and incremental reader) and its index.
//! - [`cast`]: asciicast v2 (asciinema's format) to and from recordings.
//! - [`search`]: the moments a text came into view, replayed through the terminal model.
//! - [`player`]: playback over a recording that arrives in pieces.

pub mod cast;
pub mod format;
pub mod player;
pub mod search;

pub use format::{
    INDEX_MAGIC, Item, MAGIC, MAX_RECORD, ReadError, Reader, Recording, Tail, VERSION, encode_event, encode_start,
    read_all, read_index,
};
