//! The browser's half of a desktop session: IronRDP's fast-path processor writing into
//! its decoded image, and what changed for the canvas. No I/O: the worker feeds it the
//! proxy's messages and paints what it returns; the player feeds it a recording.

use std::sync::Arc;

use gatehouse_proto::pb::DesktopActivated;
use ironrdp_core::WriteBuf;
use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_graphics::pointer::DecodedPointer;
use ironrdp_session::fast_path::{Processor, ProcessorBuilder, UpdateKind};
use ironrdp_session::image::DecodedImage;

/// A changed area of the screen, exclusive on the right and bottom, in desktop pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
}

impl Rect {
    fn right(&self) -> u32 {
        u32::from(self.x) + u32::from(self.width)
    }
    fn bottom(&self) -> u32 {
        u32::from(self.y) + u32::from(self.height)
    }
    fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
    fn union(&self, other: &Rect) -> Rect {
        let x = self.x.min(other.x);
        let y = self.y.min(other.y);
        Rect {
            x,
            y,
            width: (self.right().max(other.right()) - u32::from(x)) as u16,
            height: (self.bottom().max(other.bottom()) - u32::from(y)) as u16,
        }
    }
}

/// The desktop's pointer, when the desktop changed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pointer {
    Default,
    Hidden,
    /// RGBA (not premultiplied), `width * height * 4` bytes, with its hot spot.
    Shape {
        width: u16,
        height: u16,
        hot_x: u16,
        hot_y: u16,
        rgba: Vec<u8>,
    },
}

/// What one fast-path PDU did.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Areas to repaint, merged so that there are never many.
    pub dirty: Vec<Rect>,
    /// Bytes to send back to the desktop (frame acknowledgements), possibly empty.
    pub response: Vec<u8>,
    pub pointer: Option<Pointer>,
}

#[derive(Debug, thiserror::Error)]
#[error("the desktop sent graphics that cannot be decoded: {0}")]
pub struct DecodeError(String);

/// More separate rectangles than this in one PDU are painted as their bounding box.
const MAX_RECTS: usize = 16;

pub struct Decoder {
    processor: Processor,
    image: DecodedImage,
    /// Scratch for copying a rectangle out of the image.
    scratch: Vec<u8>,
}

impl Decoder {
    /// A decoder for the session `activated` describes, with a black screen.
    pub fn new(activated: &DesktopActivated) -> Decoder {
        let processor = ProcessorBuilder {
            io_channel_id: activated.io_channel_id as u16,
            user_channel_id: activated.user_channel_id as u16,
            share_id: activated.share_id,
            enable_server_pointer: true,
            pointer_software_rendering: false,
        }
        .build();
        let width = activated.width.clamp(1, 8192) as u16;
        let height = activated.height.clamp(1, 8192) as u16;
        // Black until the desktop paints (the canvas is opaque, so alpha does not show).
        let image = DecodedImage::new(PixelFormat::RgbA32, width, height);
        Decoder { processor, image, scratch: Vec::new() }
    }

    pub fn width(&self) -> u16 {
        self.image.width()
    }

    pub fn height(&self) -> u16 {
        self.image.height()
    }

    /// The whole screen, RGBA, row after row.
    pub fn pixels(&self) -> &[u8] {
        self.image.data()
    }

    /// Replaces the whole screen with `rgba` (a keyframe: `width * height * 4` bytes).
    /// IronRDP's image has no setter, so the screen goes in as the desktop would send
    /// it: uncompressed 32-bit bitmaps, 64-pixel tiles, rows bottom-up in BGRX.
    pub fn load_rgba(&mut self, rgba: &[u8]) -> bool {
        const TILE: u16 = 64;
        let (width, height) = (self.width(), self.height());
        if rgba.len() != usize::from(width) * usize::from(height) * 4 {
            return false;
        }
        let mut bgrx = Vec::with_capacity(usize::from(TILE) * usize::from(TILE) * 4);
        for top in (0..height).step_by(usize::from(TILE)) {
            for left in (0..width).step_by(usize::from(TILE)) {
                let (w, h) = (TILE.min(width - left), TILE.min(height - top));
                bgrx.clear();
                for row in (top..top + h).rev() {
                    let start = (usize::from(row) * usize::from(width) + usize::from(left)) * 4;
                    for pixel in rgba[start..start + usize::from(w) * 4].chunks_exact(4) {
                        bgrx.extend_from_slice(&[pixel[2], pixel[1], pixel[0], 0]);
                    }
                }
                let pdu = crate::testing::bitmap_pdu(left, top, w, h, &bgrx);
                if self.feed(&pdu).is_err() {
                    return false;
                }
            }
        }
        true
    }

    /// Decodes one fast-path output PDU (as the desktop sent it) into the image.
    pub fn feed(&mut self, pdu: &[u8]) -> Result<Decoded, DecodeError> {
        let mut response = WriteBuf::new();
        let updates = self.process(pdu, &mut response)?;
        let mut decoded = Decoded { response: response.into_inner(), ..Decoded::default() };
        for update in updates {
            match update {
                UpdateKind::Region(region) => {
                    let right = (u32::from(region.right) + 1).min(u32::from(self.width()));
                    let bottom = (u32::from(region.bottom) + 1).min(u32::from(self.height()));
                    if u32::from(region.left) >= right || u32::from(region.top) >= bottom {
                        continue;
                    }
                    let rect = Rect {
                        x: region.left,
                        y: region.top,
                        width: (right - u32::from(region.left)) as u16,
                        height: (bottom - u32::from(region.top)) as u16,
                    };
                    add_dirty(&mut decoded.dirty, rect);
                }
                UpdateKind::PointerDefault => decoded.pointer = Some(Pointer::Default),
                UpdateKind::PointerHidden => decoded.pointer = Some(Pointer::Hidden),
                UpdateKind::PointerBitmap(pointer) => decoded.pointer = Some(shape(&pointer)),
                // The browser draws its own pointer where the mouse is; server-side
                // moves (rare) and drawing orders (RemoteApp) are not followed.
                UpdateKind::PointerPosition { .. } | UpdateKind::Orders(_) | UpdateKind::None => {}
            }
        }
        Ok(decoded)
    }

    /// IronRDP's processor. Natively (the proxy's recorder) a panic inside it becomes an
    /// error: ironrdp-session 0.13 subtracts past zero on a surface-bits command whose
    /// right or bottom edge is 0 (found by our fuzz target), which panics where overflow
    /// is checked (debug builds). Release builds, the browser's included, wrap and then
    /// drop the update as out of bounds.
    fn process(&mut self, pdu: &[u8], response: &mut WriteBuf) -> Result<Vec<UpdateKind>, DecodeError> {
        let (processor, image) = (&mut self.processor, &mut self.image);
        let failed = |err: ironrdp_session::SessionError| DecodeError(format!("{err:#}"));
        #[cfg(not(target_arch = "wasm32"))]
        {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                processor.process(image, pdu, response, &mut None)
            }))
            .unwrap_or_else(|_| Err(ironrdp_session::general_err!("IronRDP failed on this update")))
            .map_err(failed)
        }
        #[cfg(target_arch = "wasm32")]
        {
            processor.process(image, pdu, response, &mut None).map_err(failed)
        }
    }

    /// The pixels of `rect`, RGBA, rows packed: what a canvas's `putImageData` takes.
    pub fn rect_pixels(&mut self, rect: Rect) -> &[u8] {
        let stride = self.image.stride();
        let data = self.image.data();
        let row_len = usize::from(rect.width) * 4;
        self.scratch.clear();
        self.scratch.reserve(row_len * usize::from(rect.height));
        for row in usize::from(rect.y)..usize::from(rect.y) + usize::from(rect.height) {
            let start = row * stride + usize::from(rect.x) * 4;
            self.scratch.extend_from_slice(&data[start..start + row_len]);
        }
        &self.scratch
    }
}

fn shape(pointer: &Arc<DecodedPointer>) -> Pointer {
    Pointer::Shape {
        width: pointer.width,
        height: pointer.height,
        hot_x: pointer.hotspot_x,
        hot_y: pointer.hotspot_y,
        rgba: pointer.bitmap_data.clone(),
    }
}

/// Adds `rect` to `dirty`, merging it with a rectangle it touches, and collapsing the
/// list to its bounding box when it grows long (painting a little more beats many calls).
fn add_dirty(dirty: &mut Vec<Rect>, rect: Rect) {
    if let Some(existing) = dirty.iter_mut().find(|d| {
        let merged = d.union(&rect);
        merged.area() <= d.area() + rect.area()
    }) {
        *existing = existing.union(&rect);
        return;
    }
    dirty.push(rect);
    if dirty.len() > MAX_RECTS {
        let all = dirty.iter().skip(1).fold(dirty[0], |acc, r| acc.union(r));
        dirty.clear();
        dirty.push(all);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    pub(crate) use crate::testing::solid_bitmap;

    fn activated(width: u32, height: u32) -> DesktopActivated {
        DesktopActivated { io_channel_id: 1003, user_channel_id: 1007, share_id: 0x10000, width, height }
    }

    fn pixel(decoder: &Decoder, x: usize, y: usize) -> [u8; 4] {
        let at = (y * usize::from(decoder.width()) + x) * 4;
        decoder.pixels()[at..at + 4].try_into().unwrap()
    }

    #[test]
    fn starts_black() {
        let decoder = Decoder::new(&activated(64, 48));
        assert_eq!(decoder.pixels().len(), 64 * 48 * 4);
        assert_eq!(pixel(&decoder, 10, 10)[..3], [0, 0, 0]);
    }

    #[test]
    fn a_bitmap_lands_in_its_rectangle_in_rgba_and_is_reported_dirty() {
        let mut decoder = Decoder::new(&activated(64, 48));
        let decoded = decoder.feed(&solid_bitmap(8, 4, 16, 8, [0x30, 0x20, 0x10, 0])).unwrap();
        assert_eq!(decoded.dirty, vec![Rect { x: 8, y: 4, width: 16, height: 8 }]);
        assert_eq!(pixel(&decoder, 8, 4), [0x10, 0x20, 0x30, 255]);
        assert_eq!(pixel(&decoder, 23, 11), [0x10, 0x20, 0x30, 255]);
        assert_eq!(pixel(&decoder, 24, 11)[..3], [0, 0, 0]);
        assert_eq!(pixel(&decoder, 8, 12)[..3], [0, 0, 0]);
        let rect = decoder.rect_pixels(Rect { x: 8, y: 4, width: 16, height: 8 }).to_vec();
        assert_eq!(rect.len(), 16 * 8 * 4);
        assert!(rect.chunks(4).all(|p| p == [0x10, 0x20, 0x30, 255]));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic_and_the_screen_survives() {
        let mut decoder = Decoder::new(&activated(32, 32));
        decoder.feed(&solid_bitmap(0, 0, 4, 4, [1, 2, 3, 0])).unwrap();
        for garbage in [&[][..], &[0u8][..], &[0, 0xFF, 0xFF, 0xFF][..], &[0x00, 0x05, 0x01, 0xFF, 0xFF][..]] {
            let _ = decoder.feed(garbage);
        }
        // A bitmap that claims to be bigger than the screen.
        let _ = decoder.feed(&solid_bitmap(30, 30, 8, 8, [9, 9, 9, 0]));
        assert_eq!(pixel(&decoder, 0, 0), [3, 2, 1, 255]);
        assert_eq!(decoder.pixels().len(), 32 * 32 * 4);
    }

    #[test]
    fn a_keyframe_loads_pixel_for_pixel_the_right_way_up() {
        let mut decoder = Decoder::new(&activated(100, 70));
        let rgba: Vec<u8> =
            (0..100 * 70).flat_map(|i: u32| [(i % 251) as u8, (i / 100) as u8, (i % 100) as u8, 255]).collect();
        assert!(decoder.load_rgba(&rgba));
        assert_eq!(decoder.pixels(), &rgba[..]);
        assert!(!decoder.load_rgba(&rgba[4..]), "the wrong size is refused");
    }

    #[test]
    fn the_update_that_made_ironrdp_panic_is_only_an_error() {
        // From the fuzz target: a surface-bits command with a zero right edge.
        let crash = include_bytes!("../tests/data/surface-bits-right-zero.bin");
        let mut decoder = Decoder::new(&activated(64, 48));
        let _ = decoder.feed(crash);
        let _ = decoder.feed(&crash[..crash.len() / 2]);
        // And the decoder still works afterwards.
        let decoded = decoder.feed(&solid_bitmap(0, 0, 4, 4, [9, 9, 9, 0])).unwrap();
        assert_eq!(decoded.dirty.len(), 1);
    }

    #[test]
    fn touching_rectangles_merge_and_many_collapse_to_their_bounds() {
        let mut dirty = Vec::new();
        add_dirty(&mut dirty, Rect { x: 0, y: 0, width: 10, height: 10 });
        add_dirty(&mut dirty, Rect { x: 10, y: 0, width: 10, height: 10 });
        assert_eq!(dirty, vec![Rect { x: 0, y: 0, width: 20, height: 10 }]);
        add_dirty(&mut dirty, Rect { x: 100, y: 100, width: 5, height: 5 });
        assert_eq!(dirty.len(), 2);
        for i in 0..40u16 {
            add_dirty(&mut dirty, Rect { x: i * 20, y: 300 + (i % 2) * 50, width: 2, height: 2 });
        }
        assert!(dirty.len() <= MAX_RECTS);
        let covered = |x: u16, y: u16| {
            dirty.iter().any(|r| x >= r.x && y >= r.y && u32::from(x) < r.right() && u32::from(y) < r.bottom())
        };
        assert!(covered(0, 0) && covered(19, 9) && covered(102, 102) && covered(780, 350));
    }
}
