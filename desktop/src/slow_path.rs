//! Slow-path graphics, rewritten as fast-path. Some servers (xrdp) send their bitmaps in
//! slow-path Update PDUs inside X.224 data. The bitmap (and palette) payload there is
//! byte for byte the payload of a fast-path update of the same kind, so the proxy
//! re-wraps it as fast-path PDUs: the browser's decoder and the recordings then know one
//! path only.

use gatehouse_proto::pb::DesktopActivated;
use ironrdp_pdu::fast_path::{EncryptionFlags, FastPathHeader, FastPathUpdatePdu, Fragmentation, UpdateCode};
use ironrdp_pdu::mcs::SendDataIndication;
use ironrdp_pdu::rdp::headers::{CompressionFlags, ShareControlHeader, ShareControlPdu, ShareDataPdu};
use ironrdp_pdu::x224::X224;

/// Fragment size: well under the fast-path header's 15-bit length.
const FRAGMENT: usize = 8 * 1024;

/// If `frame` (one X.224 PDU from the desktop) is a slow-path bitmap or palette update on
/// this session's I/O channel, the same update as fast-path PDUs (fragmented when big).
pub fn to_fast_path(frame: &[u8], session: &DesktopActivated) -> Option<Vec<Vec<u8>>> {
    let X224(indication) = ironrdp_core::decode::<X224<SendDataIndication<'_>>>(frame).ok()?;
    if u32::from(indication.channel_id) != session.io_channel_id {
        return None;
    }
    let header = ironrdp_core::decode::<ShareControlHeader>(&indication.user_data).ok()?;
    let ShareControlPdu::Data(data) = header.share_control_pdu else { return None };
    if !data.compression_flags.is_empty() && data.compression_flags != CompressionFlags::empty() {
        return None;
    }
    let ShareDataPdu::Update(update) = data.share_data_pdu else { return None };
    let kind = u16::from_le_bytes([*update.first()?, *update.get(1)?]);
    let code = match kind {
        1 => UpdateCode::Bitmap,
        2 => UpdateCode::Palette,
        _ => return None,
    };
    let pieces: Vec<&[u8]> = update.chunks(FRAGMENT).collect();
    let last = pieces.len() - 1;
    Some(
        pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| {
                let fragmentation = match (i, last) {
                    (_, 0) => Fragmentation::Single,
                    (0, _) => Fragmentation::First,
                    (i, last) if i == last => Fragmentation::Last,
                    _ => Fragmentation::Next,
                };
                let pdu = FastPathUpdatePdu {
                    fragmentation,
                    update_code: code,
                    compression_flags: None,
                    compression_type: None,
                    data: piece,
                };
                let body = ironrdp_core::encode_vec(&pdu).expect("a fast-path update encodes");
                let mut out = ironrdp_core::encode_vec(&FastPathHeader::new(EncryptionFlags::empty(), body.len()))
                    .expect("a fast-path header encodes");
                out.extend_from_slice(&body);
                out
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoder::{Decoder, Rect};
    use ironrdp_pdu::bitmap::{BitmapData, BitmapUpdateData, Compression};
    use ironrdp_pdu::geometry::InclusiveRectangle;

    fn session() -> DesktopActivated {
        DesktopActivated { io_channel_id: 1003, user_channel_id: 1007, share_id: 0x1_0000, width: 256, height: 128 }
    }

    /// A slow-path bitmap update as a server sends it, `width`×`height` of one colour.
    fn slow_path_bitmap(channel_id: u16, width: u16, height: u16, bgrx: [u8; 4]) -> Vec<u8> {
        let pixels: Vec<u8> = bgrx.iter().copied().cycle().take(usize::from(width) * usize::from(height) * 4).collect();
        let bitmap = BitmapUpdateData {
            rectangles: vec![BitmapData {
                rectangle: InclusiveRectangle { left: 0, top: 0, right: width - 1, bottom: height - 1 },
                width,
                height,
                bits_per_pixel: 32,
                compression_flags: Compression::empty(),
                compressed_data_header: None,
                bitmap_data: &pixels,
            }],
        };
        // IronRDP does not encode Update PDUs (a client never sends one): by hand,
        // MS-RDPBCGR 2.2.8.1.1.1.1 and 2.2.8.1.1.1.2.
        let update = ironrdp_core::encode_vec(&bitmap).unwrap();
        let mut user_data = Vec::new();
        let total = (6 + 12 + update.len()) as u16;
        user_data.extend(total.to_le_bytes());
        user_data.extend(0x0017u16.to_le_bytes()); // data PDU, version 1
        user_data.extend(1002u16.to_le_bytes());
        user_data.extend(0x1_0000u32.to_le_bytes()); // share id
        user_data.extend([0, 2]); // pad, stream priority medium
        user_data.extend(((4 + update.len()) as u16).to_le_bytes());
        user_data.extend([2, 0]); // Update, no compression
        user_data.extend(0u16.to_le_bytes());
        user_data.extend(&update);
        ironrdp_core::encode_vec(&X224(SendDataIndication {
            initiator_id: 1002,
            channel_id,
            user_data: user_data.into(),
        }))
        .unwrap()
    }

    #[test]
    fn a_slow_path_bitmap_decodes_like_the_fast_path_one() {
        let frame = slow_path_bitmap(1003, 16, 8, [0x30, 0x20, 0x10, 0]);
        let pdus = to_fast_path(&frame, &session()).expect("a bitmap update");
        assert_eq!(pdus.len(), 1);
        let mut decoder = Decoder::new(&session());
        let decoded = decoder.feed(&pdus[0]).unwrap();
        assert_eq!(decoded.dirty, vec![Rect { x: 0, y: 0, width: 16, height: 8 }]);
        assert_eq!(&decoder.pixels()[..4], &[0x10, 0x20, 0x30, 255]);
    }

    #[test]
    fn a_big_update_is_fragmented_and_reassembled() {
        // 12.8 KB of pixels: near the most one MCS PDU carries unfragmented (16 KB).
        let frame = slow_path_bitmap(1003, 64, 50, [1, 2, 3, 0]);
        let pdus = to_fast_path(&frame, &session()).unwrap();
        assert_eq!(pdus.len(), 2, "first and last");
        let mut decoder = Decoder::new(&session());
        let mut dirty = Vec::new();
        for pdu in &pdus {
            assert!(pdu.len() < 0x7FFF);
            dirty.extend(decoder.feed(pdu).unwrap().dirty);
        }
        assert_eq!(dirty, vec![Rect { x: 0, y: 0, width: 64, height: 50 }]);
        let last = (49 * 256 + 63) * 4;
        assert_eq!(&decoder.pixels()[last..last + 4], &[3, 2, 1, 255]);
    }

    #[test]
    fn other_channels_and_other_pdus_are_left_alone() {
        assert!(to_fast_path(&slow_path_bitmap(1004, 4, 4, [0; 4]), &session()).is_none());
        assert!(to_fast_path(b"\\x03\\x00\\x00\\x0bgarbage", &session()).is_none());
        assert!(to_fast_path(&[], &session()).is_none());
    }
}
