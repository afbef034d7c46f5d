//! A desktop recording as video frames, sans I/O: the recording's updates decoded by the
//! same decoder as the player, sampled at a fixed frame rate into whole RGBA screens an
//! encoder takes one after another (the proxy pipes them to `ffmpeg`).
//!
//! The video has the size the desktop had when the recording started. If the desktop
//! changed size later (a resize), each later screen is drawn from the top-left corner
//! onto that frame, cropped or padded with black: a video cannot change size midway.

use gatehouse_proto::pb::RecordingEvent;
use gatehouse_proto::pb::recording_event::Event;

use crate::decoder::Decoder;

/// The most frames a second an export may ask for.
pub const MAX_FPS: u32 = 30;
/// The biggest video, in pixels on a side (what encoders commonly take).
const MAX_SIDE: u16 = 4096;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VideoError {
    #[error(
        "the recording has no desktop in it (it is not a desktop recording, or it ended before the desktop appeared)"
    )]
    NoDesktop,
    #[error("a video can have 1 to {MAX_FPS} frames a second, not {0}")]
    Fps(u32),
}

/// The recording's screens at `fps` frames a second, from its start to its last event.
pub struct Frames<'a> {
    events: &'a [RecordingEvent],
    next_event: usize,
    decoder: Option<Decoder>,
    width: u16,
    height: u16,
    fps: u32,
    frame: u64,
    total: u64,
    /// The frame handed out last (when the decoder's size is not the video's).
    composed: Vec<u8>,
    /// Updates that did not decode (skipped, as the player skips them).
    pub undecodable: u64,
}

impl<'a> Frames<'a> {
    pub fn new(events: &'a [RecordingEvent], fps: u32) -> Result<Frames<'a>, VideoError> {
        if fps == 0 || fps > MAX_FPS {
            return Err(VideoError::Fps(fps));
        }
        let first = events
            .iter()
            .find_map(|e| match &e.event {
                Some(Event::DesktopActivated(activated)) => Some(activated),
                _ => None,
            })
            .ok_or(VideoError::NoDesktop)?;
        let size = |v: u32| v.clamp(2, u32::from(MAX_SIDE)) as u16;
        let (width, height) = (size(first.width), size(first.height));
        let last_ms = events.iter().map(|e| e.offset_ms).max().unwrap_or(0);
        Ok(Frames {
            events,
            next_event: 0,
            decoder: None,
            width,
            height,
            fps,
            frame: 0,
            // The frame at 0 and one for every 1/fps up to the last event, inclusive.
            total: last_ms * u64::from(fps) / 1000 + 1,
            composed: Vec::new(),
            undecodable: 0,
        })
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    /// How many frames the video has.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many have been handed out.
    pub fn done(&self) -> u64 {
        self.frame
    }

    /// The next frame, `width * height * 4` bytes of RGBA (alpha opaque), or `None`
    /// after the last.
    pub fn next_frame(&mut self) -> Option<&[u8]> {
        if self.frame >= self.total {
            return None;
        }
        let at_ms = self.frame * 1000 / u64::from(self.fps);
        self.frame += 1;
        while let Some(event) = self.events.get(self.next_event).filter(|e| e.offset_ms <= at_ms) {
            self.next_event += 1;
            match &event.event {
                Some(Event::DesktopActivated(activated)) => self.decoder = Some(Decoder::new(activated)),
                Some(Event::DesktopUpdate(pdu)) => {
                    if let Some(decoder) = self.decoder.as_mut()
                        && decoder.feed(pdu).is_err()
                    {
                        self.undecodable += 1;
                    }
                }
                _ => {}
            }
        }
        let (width, height) = (usize::from(self.width), usize::from(self.height));
        match &self.decoder {
            Some(decoder) if (decoder.width(), decoder.height()) == (self.width, self.height) => {
                self.composed.clear();
                self.composed.extend_from_slice(decoder.pixels());
                opaque(&mut self.composed);
            }
            Some(decoder) => {
                // Another size than the video's: drawn from the top-left corner.
                self.composed.clear();
                self.composed.resize(width * height * 4, 0);
                opaque(&mut self.composed);
                let (w, h) = (usize::from(decoder.width()).min(width), usize::from(decoder.height()).min(height));
                let source = decoder.pixels();
                let stride = usize::from(decoder.width()) * 4;
                for row in 0..h {
                    let from = &source[row * stride..row * stride + w * 4];
                    self.composed[row * width * 4..row * width * 4 + w * 4].copy_from_slice(from);
                }
                opaque(&mut self.composed[..]);
            }
            // Before the desktop's first screen: black.
            None => {
                self.composed.clear();
                self.composed.resize(width * height * 4, 0);
                opaque(&mut self.composed);
            }
        }
        Some(&self.composed)
    }
}

/// Every pixel's alpha to 255 (the decoder leaves some at 0; a video has no alpha).
fn opaque(rgba: &mut [u8]) {
    for pixel in rgba.chunks_exact_mut(4) {
        pixel[3] = 255;
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_proto::pb::DesktopActivated;

    use super::*;
    use crate::testing::bitmap_pdu;

    fn activated(at: u64, width: u32, height: u32) -> RecordingEvent {
        RecordingEvent {
            offset_ms: at,
            event: Some(Event::DesktopActivated(DesktopActivated { width, height, ..Default::default() })),
        }
    }

    /// A solid `bgr` tile at (x, y) as the desktop would send it.
    fn tile(at: u64, x: u16, y: u16, size: u16, bgr: [u8; 3]) -> RecordingEvent {
        let pixels: Vec<u8> =
            (0..usize::from(size) * usize::from(size)).flat_map(|_| [bgr[0], bgr[1], bgr[2], 0]).collect();
        RecordingEvent { offset_ms: at, event: Some(Event::DesktopUpdate(bitmap_pdu(x, y, size, size, &pixels))) }
    }

    fn pixel(frame: &[u8], width: usize, x: usize, y: usize) -> [u8; 4] {
        let at = (y * width + x) * 4;
        frame[at..at + 4].try_into().unwrap()
    }

    #[test]
    fn frames_sample_the_screen_at_the_rate_asked() {
        let events = vec![activated(0, 64, 32), tile(250, 0, 0, 16, [0, 0, 255]), tile(1000, 16, 0, 16, [255, 0, 0])];
        let mut frames = Frames::new(&events, 4).unwrap();
        assert_eq!((frames.width(), frames.height()), (64, 32));
        // 0, 250, 500, 750 and 1000 ms.
        assert_eq!(frames.total(), 5);
        let first = frames.next_frame().unwrap().to_vec();
        assert_eq!(first.len(), 64 * 32 * 4);
        assert_eq!(pixel(&first, 64, 0, 0), [0, 0, 0, 255], "black before the first update");
        let second = frames.next_frame().unwrap().to_vec();
        assert_eq!(pixel(&second, 64, 0, 0), [255, 0, 0, 255], "the red tile at 250 ms");
        assert_eq!(pixel(&second, 64, 20, 0), [0, 0, 0, 255], "the blue one is not there yet");
        frames.next_frame();
        frames.next_frame();
        let last = frames.next_frame().unwrap().to_vec();
        assert_eq!(pixel(&last, 64, 20, 0), [0, 0, 255, 255], "the blue tile at 1000 ms");
        assert_eq!(frames.next_frame(), None);
        assert_eq!(frames.done(), 5);
        assert_eq!(frames.undecodable, 0);
    }

    #[test]
    fn a_desktop_that_changes_size_is_drawn_from_the_corner() {
        let events = vec![activated(0, 32, 32), activated(100, 64, 16), tile(100, 0, 0, 16, [0, 255, 0])];
        let mut frames = Frames::new(&events, 10).unwrap();
        frames.next_frame();
        let resized = frames.next_frame().unwrap();
        assert_eq!(resized.len(), 32 * 32 * 4, "still the first size");
        assert_eq!(pixel(resized, 32, 0, 0), [0, 255, 0, 255]);
        assert_eq!(pixel(resized, 32, 0, 20), [0, 0, 0, 255], "below the smaller screen: black");
    }

    #[test]
    fn bad_requests_are_refused() {
        let events = vec![activated(0, 32, 32)];
        assert_eq!(Frames::new(&events, 0).err(), Some(VideoError::Fps(0)));
        assert_eq!(Frames::new(&events, 31).err(), Some(VideoError::Fps(31)));
        let terminal = vec![RecordingEvent { offset_ms: 5, event: None }];
        assert_eq!(Frames::new(&terminal, 10).err(), Some(VideoError::NoDesktop));
        let broken =
            [activated(0, 32, 32), RecordingEvent { offset_ms: 0, event: Some(Event::DesktopUpdate(vec![0xff; 7])) }];
        let mut garbage = Frames::new(&broken, 10).unwrap();
        assert!(garbage.next_frame().is_some(), "a broken update is skipped, the video goes on");
        assert_eq!(garbage.undecodable, 1);
    }
}
