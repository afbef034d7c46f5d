//! Session recordings, without I/O: everything about a recording that is not reading a
//! file or a socket, for the proxy that writes them and the players that show them.
//!
//! - [`format`](mod@format): the recording file (writer and incremental reader).
//! - [`index`]: the index beside it, one entry per keyframe.
//! - [`keyframes`]: when the writer takes a keyframe, and what a terminal's holds.
//! - [`cast`]: asciicast v2 (asciinema's format) to and from recordings.
//! - [`search`]: the moments a text came into view, replayed through the terminal model
//!   or read from the search file written beside the recording.
//! - [`player`]: playback over a recording that arrives in pieces.

pub mod cast;
pub mod format;
pub mod index;
pub mod keyframes;
pub mod marks;
pub mod player;
pub mod search;

pub use format::{
    Item, MAGIC, MAX_RECORD, ReadError, Reader, Recording, Tail, VERSION, encode_event, encode_start, read_all,
};
pub use index::{INDEX_MAGIC, keyframe_before, read_index};
