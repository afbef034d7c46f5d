//! The index written beside a recording: [`INDEX_MAGIC`], then one length-delimited
//! [`Keyframe`] per keyframe, in time order. Each says when it was taken, where its
//! screen is in the keyframes file, and the byte offset in the recording of the first
//! event after it, so a seek reads one screen and the events from there on.

use gatehouse_proto::pb::Keyframe;
use prost::Message;

use crate::format::{ReadError, Tail, read_varint};

/// The first bytes of every index file (then length-delimited `Keyframe`s).
pub const INDEX_MAGIC: &[u8; 8] = b"GHIDX01\n";
/// Entries are tiny: a length beyond this means damage.
const MAX_ENTRY: u64 = 4096;

/// One entry as it is appended to the index file.
pub fn encode_entry(keyframe: &Keyframe) -> Vec<u8> {
    keyframe.encode_length_delimited_to_vec()
}

/// Reads an index file: its keyframes in order, and whether it ended cleanly (a torn
/// last entry is left out). Entries are tiny, so a length beyond 4 KiB means damage.
pub fn read_index(bytes: &[u8]) -> Result<(Vec<Keyframe>, Tail), ReadError> {
    let body = bytes.strip_prefix(INDEX_MAGIC.as_slice()).ok_or(ReadError::NotARecording)?;
    let mut keyframes = Vec::new();
    let mut at = 0usize;
    while at < body.len() {
        let file_at = (at + INDEX_MAGIC.len()) as u64;
        let Some((len, prefix)) = read_varint(&body[at..]).map_err(|()| ReadError::BadLength { at: file_at })? else {
            return Ok((keyframes, Tail::Torn { at: file_at, bytes: body.len() - at }));
        };
        if len > MAX_ENTRY {
            return Err(ReadError::BadLength { at: file_at });
        }
        let end = at + prefix + len as usize;
        if end > body.len() {
            return Ok((keyframes, Tail::Torn { at: file_at, bytes: body.len() - at }));
        }
        if let Ok(keyframe) = Keyframe::decode(&body[at + prefix..end]) {
            keyframes.push(keyframe);
        }
        at = end;
    }
    Ok((keyframes, Tail::Clean))
}

/// The last keyframe at or before `ms` (the index is in time order; a terminal's first
/// keyframe is at 0, a desktop's at its first paint).
pub fn keyframe_before(index: &[Keyframe], ms: u64) -> Option<&Keyframe> {
    let after = index.partition_point(|k| k.offset_ms <= ms);
    index[..after].last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_reads_back_and_survives_a_torn_tail() {
        let keyframe =
            |ms| Keyframe { offset_ms: ms, byte_offset: ms * 10, cols: 80, rows: 24, screen_at: 0, screen_len: 5 };
        let mut bytes = INDEX_MAGIC.to_vec();
        for ms in [0, 5000, 10000] {
            bytes.extend(encode_entry(&keyframe(ms)));
        }
        let (all, tail) = read_index(&bytes).unwrap();
        assert_eq!(all.iter().map(|k| k.offset_ms).collect::<Vec<_>>(), [0, 5000, 10000]);
        assert_eq!(tail, Tail::Clean);
        let (some, tail) = read_index(&bytes[..bytes.len() - 2]).unwrap();
        assert_eq!(some.len(), 2);
        assert!(matches!(tail, Tail::Torn { .. }));
        assert_eq!(read_index(b"nonsense"), Err(ReadError::NotARecording));
    }

    #[test]
    fn a_seek_starts_from_the_keyframe_before_the_target() {
        let index = [
            Keyframe { offset_ms: 0, ..Default::default() },
            Keyframe { offset_ms: 5000, ..Default::default() },
            Keyframe { offset_ms: 10_000, ..Default::default() },
        ];
        assert_eq!(keyframe_before(&index, 0).unwrap().offset_ms, 0);
        assert_eq!(keyframe_before(&index, 7000).unwrap().offset_ms, 5000);
        assert_eq!(keyframe_before(&index, 10_000).unwrap().offset_ms, 10_000);
        assert_eq!(keyframe_before(&index, 99_999).unwrap().offset_ms, 10_000);
        assert!(keyframe_before(&[], 5).is_none());
    }
}
