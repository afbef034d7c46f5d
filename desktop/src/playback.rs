//! Playing a desktop recording, sans I/O: the caller feeds the recording's bytes (from
//! the start of the file, or from a keyframe's offset after painting that keyframe) and
//! moves the clock; this decodes the updates that are due and says what to repaint.

use std::collections::VecDeque;

use gatehouse_proto::pb::recording_event::Event;
use gatehouse_proto::pb::{DesktopActivated, RecordingEvent};
use gatehouse_recording::{Item, ReadError, Reader};

use crate::decoder::{Decoder, Rect};

pub struct Playback {
    reader: Reader,
    queue: VecDeque<RecordingEvent>,
    queued_bytes: usize,
    decoder: Option<Decoder>,
    position_ms: u64,
    ended: bool,
    /// The file offset just past the bytes pushed so far.
    fed_until: u64,
    /// Updates that did not decode (the recording keeps them; the screen skips them).
    pub undecodable: u64,
    /// The keyframe's screen, until the first event after it: a codec context stored
    /// there is fed to the decoder first, and the screen loaded again over it.
    keyframe: Option<Vec<u8>>,
}

/// What moving the clock did.
#[derive(Debug, Default)]
pub struct Advance {
    /// The screen was (re)created at this size: clear the canvas to it.
    pub activated: Option<(u16, u16)>,
    pub dirty: Vec<Rect>,
    pub ended: bool,
}

impl Playback {
    /// Playing from the first byte of the file.
    pub fn from_start() -> Playback {
        Playback::with_reader(Reader::new(), None, 0)
    }

    /// Playing from a keyframe: the decoder starts from the keyframe's screen (`rgba`,
    /// when it is the session's size), the caller paints it and feeds the file from
    /// `byte_offset` on. `activated` is the session's (the first `DesktopActivated`).
    pub fn from_keyframe(activated: &DesktopActivated, rgba: &[u8], byte_offset: u64, offset_ms: u64) -> Playback {
        let mut decoder = Decoder::new(activated);
        decoder.load_rgba(rgba);
        let mut playback = Playback::with_reader(Reader::resume_at(byte_offset), Some(decoder), offset_ms);
        playback.keyframe = Some(rgba.to_vec());
        playback
    }

    fn with_reader(reader: Reader, decoder: Option<Decoder>, position_ms: u64) -> Playback {
        let fed_until = reader.position();
        Playback {
            reader,
            queue: VecDeque::new(),
            queued_bytes: 0,
            decoder,
            position_ms,
            ended: false,
            fed_until,
            undecodable: 0,
            keyframe: None,
        }
    }

    /// More of the file, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), ReadError> {
        self.fed_until += bytes.len() as u64;
        self.reader.push(bytes);
        while let Some(item) = self.reader.next_item()? {
            if let Item::Event { event, .. } = item {
                self.queued_bytes += match &event.event {
                    Some(Event::DesktopUpdate(pdu)) => pdu.len(),
                    _ => 16,
                };
                self.queue.push_back(event);
            }
        }
        Ok(())
    }

    /// The file offset the next bytes must start at.
    pub fn next_byte(&self) -> u64 {
        self.fed_until
    }

    /// Bytes of updates waiting for their time.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    pub fn position_ms(&self) -> u64 {
        self.position_ms
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The time of the next event waiting, if any.
    pub fn next_event_ms(&self) -> Option<u64> {
        self.queue.front().map(|e| e.offset_ms)
    }

    pub fn decoder_mut(&mut self) -> Option<&mut Decoder> {
        self.decoder.as_mut()
    }

    /// Decodes everything due by `to_ms`.
    pub fn advance(&mut self, to_ms: u64) -> Advance {
        let mut advance = Advance::default();
        while let Some(event) = self.queue.front() {
            if event.offset_ms > to_ms {
                break;
            }
            let event = self.queue.pop_front().expect("front exists");
            self.position_ms = self.position_ms.max(event.offset_ms);
            let keyframe = self.keyframe.take();
            match event.event {
                Some(Event::DesktopCodecContext(context)) => {
                    self.queued_bytes = self.queued_bytes.saturating_sub(16);
                    // Only a decoder that starts here needs it (and what it draws is
                    // the past: the keyframe goes back over it).
                    if let (Some(rgba), Some(decoder)) = (keyframe, &mut self.decoder) {
                        for update in &context.updates {
                            let _ = decoder.feed(update);
                        }
                        decoder.load_rgba(&rgba);
                    }
                }
                Some(Event::DesktopActivated(activated)) => {
                    self.queued_bytes = self.queued_bytes.saturating_sub(16);
                    let decoder = Decoder::new(&activated);
                    advance.activated = Some((decoder.width(), decoder.height()));
                    advance.dirty.clear();
                    self.decoder = Some(decoder);
                }
                Some(Event::DesktopUpdate(pdu)) => {
                    self.queued_bytes = self.queued_bytes.saturating_sub(pdu.len());
                    if let Some(decoder) = &mut self.decoder {
                        match decoder.feed(&pdu) {
                            Ok(decoded) => {
                                for rect in decoded.dirty {
                                    merge(&mut advance.dirty, rect);
                                }
                            }
                            Err(_) => self.undecodable += 1,
                        }
                    }
                }
                Some(Event::End(_)) => {
                    self.queued_bytes = self.queued_bytes.saturating_sub(16);
                    self.ended = true;
                    advance.ended = true;
                }
                _ => self.queued_bytes = self.queued_bytes.saturating_sub(16),
            }
        }
        if self.queue.is_empty() || self.queue.front().is_some_and(|e| e.offset_ms > to_ms) {
            self.position_ms = self.position_ms.max(to_ms);
        }
        advance
    }
}

/// Keeps the repaint list short: a rectangle inside another is dropped, and past a few
/// the list becomes their bounding box.
fn merge(dirty: &mut Vec<Rect>, rect: Rect) {
    let inside = |outer: &Rect, inner: &Rect| {
        inner.x >= outer.x
            && inner.y >= outer.y
            && u32::from(inner.x) + u32::from(inner.width) <= u32::from(outer.x) + u32::from(outer.width)
            && u32::from(inner.y) + u32::from(inner.height) <= u32::from(outer.y) + u32::from(outer.height)
    };
    if dirty.iter().any(|d| inside(d, &rect)) {
        return;
    }
    dirty.retain(|d| !inside(&rect, d));
    dirty.push(rect);
    if dirty.len() > 32 {
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
        for d in dirty.iter() {
            x0 = x0.min(u32::from(d.x));
            y0 = y0.min(u32::from(d.y));
            x1 = x1.max(u32::from(d.x) + u32::from(d.width));
            y1 = y1.max(u32::from(d.y) + u32::from(d.height));
        }
        dirty.clear();
        dirty.push(Rect { x: x0 as u16, y: y0 as u16, width: (x1 - x0) as u16, height: (y1 - y0) as u16 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoder::tests::solid_bitmap;
    use gatehouse_proto::pb::{End, RecordingHeader, SessionKind};
    use gatehouse_recording::{encode_event, encode_start};

    fn event(offset_ms: u64, event: Event) -> RecordingEvent {
        RecordingEvent { offset_ms, event: Some(event) }
    }

    fn activated() -> DesktopActivated {
        DesktopActivated { io_channel_id: 1003, user_channel_id: 1007, share_id: 1, width: 64, height: 32 }
    }

    /// A recording: activation, a red square at 1 s, a blue one at 2 s, the end at 3 s.
    fn recording() -> (Vec<u8>, u64) {
        let header =
            RecordingHeader { session_id: "t".into(), kind: SessionKind::Desktop.into(), ..Default::default() };
        let mut bytes = encode_start(&header);
        bytes.extend(encode_event(&event(0, Event::DesktopActivated(activated()))));
        bytes.extend(encode_event(&event(1000, Event::DesktopUpdate(solid_bitmap(0, 0, 8, 8, [0, 0, 255, 0])))));
        let second = bytes.len() as u64;
        bytes.extend(encode_event(&event(2000, Event::DesktopUpdate(solid_bitmap(16, 8, 8, 8, [255, 0, 0, 0])))));
        bytes.extend(encode_event(&event(3000, Event::End(End { reason: "done".into(), exit_status: None }))));
        (bytes, second)
    }

    #[test]
    fn plays_in_time_from_the_start_even_fed_byte_by_byte() {
        let (bytes, _) = recording();
        let mut playback = Playback::from_start();
        for byte in &bytes {
            playback.push(std::slice::from_ref(byte)).unwrap();
        }
        assert_eq!(playback.next_byte(), bytes.len() as u64);
        let first = playback.advance(500);
        assert_eq!(first.activated, Some((64, 32)));
        assert!(first.dirty.is_empty());
        let second = playback.advance(1500);
        assert_eq!(second.dirty, vec![Rect { x: 0, y: 0, width: 8, height: 8 }]);
        let pixels = playback.decoder_mut().unwrap().rect_pixels(Rect { x: 0, y: 0, width: 1, height: 1 }).to_vec();
        assert_eq!(pixels, [255, 0, 0, 255]);
        assert!(!playback.ended());
        let last = playback.advance(10_000);
        assert_eq!(last.dirty, vec![Rect { x: 16, y: 8, width: 8, height: 8 }]);
        assert!(last.ended);
    }

    #[test]
    fn a_keyframe_start_decodes_only_what_follows_it() {
        let (bytes, second) = recording();
        let mut playback = Playback::from_keyframe(&activated(), &[], second, 1000);
        playback.push(&bytes[second as usize..]).unwrap();
        assert_eq!(playback.position_ms(), 1000);
        let advance = playback.advance(2500);
        assert_eq!(advance.dirty, vec![Rect { x: 16, y: 8, width: 8, height: 8 }]);
        assert_eq!(playback.undecodable, 0);
    }

    #[test]
    fn a_codec_context_after_a_keyframe_reaches_the_decoder_before_the_keyframes_screen() {
        use gatehouse_proto::pb::DesktopCodecContext;
        // The keyframe: all green. The context stored after it draws red where it passes
        // (as an old frame would): the decoder sees it, then the keyframe goes back over.
        let green: Vec<u8> = [0u8, 255, 0, 255].repeat(64 * 32);
        let context = DesktopCodecContext { updates: vec![solid_bitmap(0, 0, 8, 8, [0, 0, 255, 0])] };
        let mut bytes = Vec::new();
        bytes.extend(encode_event(&event(1000, Event::DesktopCodecContext(context.clone()))));
        bytes.extend(encode_event(&event(2000, Event::DesktopUpdate(solid_bitmap(16, 8, 8, 8, [255, 0, 0, 0])))));
        let mut playback = Playback::from_keyframe(&activated(), &green, 0, 1000);
        playback.push(&bytes).unwrap();
        let advance = playback.advance(2500);
        assert_eq!(
            advance.dirty,
            vec![Rect { x: 16, y: 8, width: 8, height: 8 }],
            "the context's drawing is not shown"
        );
        let decoder = playback.decoder_mut().unwrap();
        assert_eq!(decoder.rect_pixels(Rect { x: 0, y: 0, width: 1, height: 1 }), [0, 255, 0, 255], "the keyframe's");
        assert_eq!(decoder.rect_pixels(Rect { x: 16, y: 8, width: 1, height: 1 }), [0, 0, 255, 255]);
        // Read through from the start, the same event changes nothing on the screen.
        let (mut whole, _) = recording();
        let end = whole.len()
            - encode_event(&event(3000, Event::End(End { reason: "done".into(), exit_status: None }))).len();
        whole.truncate(end);
        whole.extend(encode_event(&event(2500, Event::DesktopCodecContext(context))));
        let mut playback = Playback::from_start();
        playback.push(&whole).unwrap();
        playback.advance(2400);
        let before = playback.decoder_mut().unwrap().pixels().to_vec();
        let advance = playback.advance(2600);
        assert!(advance.dirty.is_empty());
        assert_eq!(playback.decoder_mut().unwrap().pixels(), before.as_slice());
    }
}
