//! The RemoteFX codec context of a desktop stream, without I/O: which fast-path PDUs a
//! decoder must see before it can decode the frames that follow.
//!
//! A RemoteFX stream announces its context once (the sync, codec versions, channels and
//! context blocks, MS-RDPRFX 2.2.2.2), at the start of the first frame after each
//! activation; later frames carry only tiles. A player that starts at a keyframe has
//! the screen but not that context: [`CodecContext`] follows the stream and keeps the
//! PDUs that last announced it (every fragment of the update that carried it), so the
//! recorder can store them next to each keyframe and the player can feed them to its
//! decoder before loading the keyframe's screen.

use ironrdp_core::{ReadCursor, decode_cursor};
use ironrdp_pdu::fast_path::{FastPathHeader, FastPathUpdatePdu, Fragmentation, UpdateCode};

/// A RemoteFX sync block (TS_RFX_SYNC): block type 0xCCC0, length 12, magic 0xCACCACCA,
/// version 0x0100, little-endian: the first block of every context announcement.
const RFX_SYNC: [u8; 12] = [0xc0, 0xcc, 0x0c, 0x00, 0x00, 0x00, 0xca, 0xac, 0xcc, 0xca, 0x00, 0x01];

/// At most this many bytes of PDUs are kept (a context is a few hundred bytes, but it
/// comes inside a whole first frame). They are stored as one recording record, which
/// must stay well within the format's 1 MiB: an announcing frame larger than this is
/// not kept (a player starting after it cannot decode RemoteFX until the next
/// activation), rather than writing a record the reader refuses.
pub const MAX_BYTES: usize = 512 << 10;

#[derive(Debug, Default, Clone)]
pub struct CodecContext {
    /// The PDUs of the update that last announced a context, once it is whole.
    kept: Vec<Vec<u8>>,
    /// The fragments of an announcing update still arriving.
    collecting: Option<Vec<Vec<u8>>>,
}

impl CodecContext {
    pub fn new() -> CodecContext {
        CodecContext::default()
    }

    /// The PDUs a decoder needs to have seen before the stream's next frame: empty for a
    /// stream without RemoteFX (or before its first frame).
    pub fn pdus(&self) -> &[Vec<u8>] {
        &self.kept
    }

    /// The session activated again: the next frames announce a new context.
    pub fn reset(&mut self) {
        self.kept.clear();
        self.collecting = None;
    }

    /// One fast-path PDU of the stream, in order.
    pub fn follow(&mut self, pdu: &[u8]) {
        let Some(updates) = surface_updates(pdu) else { return };
        for (fragmentation, announces) in updates {
            match fragmentation {
                Fragmentation::Single if announces => {
                    self.kept = vec![pdu.to_vec()];
                    self.collecting = None;
                }
                Fragmentation::First => self.collecting = announces.then(|| vec![pdu.to_vec()]),
                Fragmentation::Next | Fragmentation::Last => {
                    if let Some(collecting) = &mut self.collecting {
                        collecting.push(pdu.to_vec());
                        if collecting.iter().map(Vec::len).sum::<usize>() > MAX_BYTES {
                            self.collecting = None;
                        } else if fragmentation == Fragmentation::Last {
                            self.kept = self.collecting.take().unwrap_or_default();
                        }
                    }
                }
                Fragmentation::Single => {}
            }
        }
    }
}

/// The surface-command updates in a fast-path PDU: each one's fragmentation and whether
/// its bytes announce a RemoteFX context. `None` for what does not decode.
fn surface_updates(pdu: &[u8]) -> Option<Vec<(Fragmentation, bool)>> {
    let mut input = ReadCursor::new(pdu);
    decode_cursor::<FastPathHeader>(&mut input).ok()?;
    let mut updates = Vec::new();
    while !input.is_empty() {
        let update = decode_cursor::<FastPathUpdatePdu<'_>>(&mut input).ok()?;
        // Bulk compression is never negotiated by the proxy: the bytes are the update's.
        if update.update_code == UpdateCode::SurfaceCommands && update.compression_flags.is_none() {
            let announces = update.data.windows(RFX_SYNC.len()).any(|w| w == RFX_SYNC);
            updates.push((update.fragmentation, announces));
        }
    }
    Some(updates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_pdu::fast_path::EncryptionFlags;

    /// A fast-path PDU of one surface-commands update with `data`.
    fn surface_pdu(fragmentation: Fragmentation, data: &[u8]) -> Vec<u8> {
        let update = FastPathUpdatePdu {
            fragmentation,
            update_code: UpdateCode::SurfaceCommands,
            compression_flags: None,
            compression_type: None,
            data,
        };
        let body = ironrdp_core::encode_vec(&update).unwrap();
        let mut pdu = ironrdp_core::encode_vec(&FastPathHeader::new(EncryptionFlags::empty(), body.len())).unwrap();
        pdu.extend_from_slice(&body);
        pdu
    }

    fn announcing(tail: &[u8]) -> Vec<u8> {
        let mut data = vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        data.extend_from_slice(&RFX_SYNC);
        data.extend_from_slice(tail);
        data
    }

    #[test]
    fn the_update_that_announced_the_context_is_kept_and_later_frames_are_not() {
        let mut context = CodecContext::new();
        assert!(context.pdus().is_empty());
        let first = surface_pdu(Fragmentation::Single, &announcing(b"tiles"));
        context.follow(&first);
        assert_eq!(context.pdus(), std::slice::from_ref(&first));
        context.follow(&surface_pdu(Fragmentation::Single, b"only tiles here"));
        assert_eq!(context.pdus(), [first], "a frame without a context keeps the one in force");
        context.reset();
        assert!(context.pdus().is_empty());
    }

    #[test]
    fn a_fragmented_announcement_is_kept_whole_once_its_last_fragment_came() {
        let mut context = CodecContext::new();
        let old = surface_pdu(Fragmentation::Single, &announcing(b"old"));
        context.follow(&old);
        let parts = [
            surface_pdu(Fragmentation::First, &announcing(b"new")),
            surface_pdu(Fragmentation::Next, b"more tiles"),
            surface_pdu(Fragmentation::Last, b"the end"),
        ];
        context.follow(&parts[0]);
        context.follow(&parts[1]);
        assert_eq!(context.pdus(), [old], "the old context until the new one is whole");
        context.follow(&parts[2]);
        assert_eq!(context.pdus(), parts);
        // A fragmented frame without a context changes nothing.
        context.follow(&surface_pdu(Fragmentation::First, b"tiles"));
        context.follow(&surface_pdu(Fragmentation::Last, b"tiles"));
        assert_eq!(context.pdus(), parts);
    }

    #[test]
    fn an_announcement_too_big_for_one_record_is_not_kept() {
        let mut context = CodecContext::new();
        let small = surface_pdu(Fragmentation::Single, &announcing(b"small"));
        context.follow(&small);
        context.follow(&surface_pdu(Fragmentation::First, &announcing(&[7; 16000])));
        for _ in 0..(MAX_BYTES / 16000 + 1) {
            context.follow(&surface_pdu(Fragmentation::Next, &[9; 16000]));
        }
        context.follow(&surface_pdu(Fragmentation::Last, b"end"));
        assert_eq!(context.pdus(), [small], "the last one that fits stays");
        assert!(context.pdus().iter().map(Vec::len).sum::<usize>() < gatehouse_recording::MAX_RECORD / 2);
    }

    #[test]
    fn bitmaps_and_garbage_are_not_a_context() {
        let mut context = CodecContext::new();
        context.follow(&crate::testing::solid_bitmap(0, 0, 4, 4, [1, 2, 3, 0]));
        context.follow(&[0xff, 0x00]);
        context.follow(&[]);
        assert!(context.pdus().is_empty());
    }
}
