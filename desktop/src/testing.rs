//! Desktop updates made up: for tests (of this crate and of the proxy's recordings), and
//! for loading a keyframe into the decoder (which takes screens only as updates).

use ironrdp_pdu::bitmap::{BitmapData, BitmapUpdateData, Compression};
use ironrdp_pdu::fast_path::{EncryptionFlags, FastPathHeader, FastPathUpdatePdu, Fragmentation, UpdateCode};
use ironrdp_pdu::geometry::InclusiveRectangle;

/// A fast-path PDU carrying one uncompressed 32 bpp bitmap filling the rectangle
/// with `bgrx` (RDP's byte order), as a desktop would send it.
pub fn solid_bitmap(left: u16, top: u16, width: u16, height: u16, bgrx: [u8; 4]) -> Vec<u8> {
    let pixels: Vec<u8> = bgrx.iter().copied().cycle().take(usize::from(width) * usize::from(height) * 4).collect();
    bitmap_pdu(left, top, width, height, &pixels)
}

/// A fast-path PDU with one uncompressed 32 bpp bitmap: `pixels` in RDP's order (BGRX,
/// rows bottom-up), at most 16 KiB.
pub fn bitmap_pdu(left: u16, top: u16, width: u16, height: u16, pixels: &[u8]) -> Vec<u8> {
    let update = BitmapUpdateData {
        rectangles: vec![BitmapData {
            rectangle: InclusiveRectangle { left, top, right: left + width - 1, bottom: top + height - 1 },
            width,
            height,
            bits_per_pixel: 32,
            compression_flags: Compression::empty(),
            compressed_data_header: None,
            bitmap_data: pixels,
        }],
    };
    let body = ironrdp_core::encode_vec(&update).expect("a bitmap of at most 16 KiB always encodes");
    let pdu = FastPathUpdatePdu {
        fragmentation: Fragmentation::Single,
        update_code: UpdateCode::Bitmap,
        compression_flags: None,
        compression_type: None,
        data: &body,
    };
    let pdu = ironrdp_core::encode_vec(&pdu).expect("an update of at most 16 KiB always encodes");
    let mut out = ironrdp_core::encode_vec(&FastPathHeader::new(EncryptionFlags::empty(), pdu.len()))
        .expect("a fast-path header always encodes");
    out.extend_from_slice(&pdu);
    out
}
