//! Playing a recording, without I/O: the player pushes the bytes of the recording as
//! they arrive (HTTP Range answers), asks [`Playback::advance_to`] for the screen at a
//! time, and asks [`Playback::wants`] which bytes to fetch next. A seek starts from the
//! nearest keyframe before the target, so it replays only the events after it, however
//! long the recording is.

use std::collections::VecDeque;

use crate::format::{Item, ReadError, Reader};
use gatehouse_proto::pb::{End, Keyframe, RecordingEvent, recording_event::Event};

use gatehouse_terminal::Terminal;

/// Fetch more once fewer than this many decoded events wait.
const LOW_WATER: usize = 256;
/// And never hold more than this many bytes of decoded, unplayed output.
const HIGH_WATER_BYTES: usize = 8 << 20;

fn size(n: u32) -> u16 {
    n.clamp(1, 1000) as u16
}

pub struct Playback {
    terminal: Terminal,
    reader: Reader,
    queue: VecDeque<RecordingEvent>,
    queued_bytes: usize,
    position_ms: u64,
    /// Bytes of the file fed to the reader so far end here.
    fetched_to: u64,
    /// The file's length, once a fetch has told us.
    file_len: Option<u64>,
    ended: Option<End>,
    damaged: Option<String>,
}

/// What changed when playback moved on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Advance {
    /// Events were applied: the screen may have changed.
    pub changed: bool,
    /// The recording resized its terminal to (rows, cols).
    pub resized: Option<(u16, u16)>,
}

impl Playback {
    /// Starts at a keyframe: the screen it holds, then events from its byte offset.
    pub fn from_keyframe(keyframe: &Keyframe, screen: &[u8], scrollback: usize) -> Playback {
        let mut terminal = Terminal::new(size(keyframe.rows), size(keyframe.cols), scrollback);
        terminal.feed(screen);
        Playback {
            terminal,
            reader: Reader::resume_at(keyframe.byte_offset),
            queue: VecDeque::new(),
            queued_bytes: 0,
            position_ms: keyframe.offset_ms,
            fetched_to: keyframe.byte_offset,
            file_len: None,
            ended: None,
            damaged: None,
        }
    }

    pub fn terminal(&mut self) -> &mut Terminal {
        &mut self.terminal
    }

    pub fn position_ms(&self) -> u64 {
        self.position_ms
    }

    /// The byte offset to fetch from next, if playback needs more and the file has more.
    pub fn wants(&self) -> Option<u64> {
        let more_in_file = self.file_len.is_none_or(|len| self.fetched_to < len);
        let hungry = self.queue.len() < LOW_WATER && self.queued_bytes < HIGH_WATER_BYTES;
        (more_in_file && hungry && self.damaged.is_none()).then_some(self.fetched_to)
    }

    /// The bytes of the file from `offset` (which must be what [`Playback::wants`] asked
    /// for), and the file's whole length.
    pub fn push(&mut self, offset: u64, bytes: &[u8], file_len: u64) {
        self.file_len = Some(file_len);
        if offset != self.fetched_to {
            return;
        }
        self.fetched_to += bytes.len() as u64;
        self.reader.push(bytes);
        loop {
            match self.reader.next_item() {
                Ok(Some(Item::Event { event, .. })) => {
                    if let Some(Event::Output(output)) = &event.event {
                        self.queued_bytes += output.data.len();
                    }
                    self.queue.push_back(event);
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    self.damaged = Some(describe(&err));
                    break;
                }
            }
        }
    }

    /// For a recording still being written: forget the file's length, so the next
    /// [`Playback::wants`] asks for whatever was appended since.
    pub fn expect_more(&mut self) {
        if self.ended.is_none() && self.damaged.is_none() {
            self.file_len = None;
        }
    }

    /// The time of the next event not yet played.
    pub fn next_event_ms(&self) -> Option<u64> {
        self.queue.front().map(|e| e.offset_ms)
    }

    /// Whether every event up to the end of the file has been played.
    pub fn at_end(&self) -> bool {
        self.queue.is_empty() && (self.file_len.is_some_and(|len| self.fetched_to >= len) || self.damaged.is_some())
    }

    /// Whether playback to `ms` is waiting on bytes not fetched yet.
    pub fn starved(&self, ms: u64) -> bool {
        self.queue.back().is_none_or(|last| last.offset_ms < ms) && !self.at_end()
    }

    /// Plays every event up to `ms`. Stops early at the queue's end; the position is
    /// then the last event played (call again after more bytes arrive).
    pub fn advance_to(&mut self, ms: u64) -> Advance {
        let mut advance = Advance::default();
        while let Some(event) = self.queue.front() {
            if event.offset_ms > ms {
                break;
            }
            let event = self.queue.pop_front().expect("front exists");
            self.position_ms = event.offset_ms;
            match event.event {
                Some(Event::Output(output)) => {
                    self.queued_bytes -= output.data.len();
                    self.terminal.feed(&output.data);
                    advance.changed = true;
                }
                Some(Event::Resize(resize)) => {
                    let (rows, cols) = (size(resize.rows), size(resize.cols));
                    self.terminal.resize(rows, cols);
                    advance.resized = Some((rows, cols));
                    advance.changed = true;
                }
                Some(Event::End(end)) => self.ended = Some(end),
                // Desktop recordings play in the desktop player, not in a terminal; what
                // the client typed is not what the screen showed; a file transfer and who
                // joined or left show on the timeline (`marks`), not on the screen.
                Some(
                    Event::DesktopActivated(_)
                    | Event::DesktopUpdate(_)
                    | Event::DesktopCodecContext(_)
                    | Event::Input(_)
                    | Event::Transfer(_)
                    | Event::Participant(_),
                ) => {}
                None => {}
            }
        }
        if !self.starved(ms) {
            self.position_ms = self.position_ms.max(ms);
        }
        advance
    }

    /// The end record, once played.
    pub fn ended(&self) -> Option<&End> {
        self.ended.as_ref()
    }

    /// Why the rest of the file cannot be played, if it is damaged.
    pub fn damaged(&self) -> Option<&str> {
        self.damaged.as_deref()
    }
}

fn describe(err: &ReadError) -> String {
    format!("The recording is damaged and plays only up to here: {err}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_event, encode_start};
    use gatehouse_proto::pb::{Output, RecordingHeader, Resize};

    fn output(ms: u64, text: &str) -> RecordingEvent {
        RecordingEvent { offset_ms: ms, event: Some(Event::Output(Output { data: text.as_bytes().to_vec() })) }
    }

    /// A recording, and a keyframe at its start.
    fn recording(events: &[RecordingEvent]) -> (Vec<u8>, Keyframe) {
        let mut bytes = encode_start(&RecordingHeader { cols: 20, rows: 4, ..Default::default() });
        let start =
            Keyframe { offset_ms: 0, byte_offset: bytes.len() as u64, cols: 20, rows: 4, screen_at: 0, screen_len: 0 };
        for event in events {
            bytes.extend(encode_event(event));
        }
        (bytes, start)
    }

    #[test]
    fn plays_events_up_to_a_time_and_asks_for_bytes_as_it_goes() {
        let (bytes, start) = recording(&[output(0, "a\r\n"), output(1000, "b\r\n"), output(5000, "c")]);
        let mut playback = Playback::from_keyframe(&start, b"", 100);
        assert_eq!(playback.wants(), Some(start.byte_offset));
        // The bytes arrive in two pieces, the first ending mid-record.
        let cut = start.byte_offset as usize + 7;
        playback.push(start.byte_offset, &bytes[start.byte_offset as usize..cut], bytes.len() as u64);
        assert!(playback.starved(2000));
        playback.push(cut as u64, &bytes[cut..], bytes.len() as u64);
        assert_eq!(playback.wants(), None, "the whole file is here");
        assert!(playback.advance_to(1500).changed);
        assert_eq!(playback.terminal().text(), "a\nb");
        assert_eq!(playback.position_ms(), 1500);
        assert_eq!(playback.next_event_ms(), Some(5000));
        playback.advance_to(10_000);
        assert_eq!(playback.terminal().text(), "a\nb\nc");
        assert!(playback.at_end());
    }

    #[test]
    fn a_growing_recording_is_followed() {
        let (bytes, start) = recording(&[output(0, "a\r\n"), output(1000, "b\r\n")]);
        let first = start.byte_offset as usize + 7; // the first event, whole
        let mut playback = Playback::from_keyframe(&start, b"", 0);
        playback.push(start.byte_offset, &bytes[start.byte_offset as usize..first], first as u64);
        playback.advance_to(5000);
        assert!(playback.at_end());
        assert_eq!(playback.wants(), None);
        playback.expect_more();
        assert_eq!(playback.wants(), Some(first as u64));
        playback.push(first as u64, &bytes[first..], bytes.len() as u64);
        playback.advance_to(5000);
        assert_eq!(playback.terminal().text(), "a\nb");
    }

    #[test]
    fn bytes_for_another_offset_are_ignored() {
        let (bytes, start) = recording(&[output(0, "x")]);
        let mut playback = Playback::from_keyframe(&start, b"", 0);
        playback.push(start.byte_offset + 3, &bytes[3..], bytes.len() as u64);
        assert_eq!(playback.wants(), Some(start.byte_offset));
    }

    #[test]
    fn a_keyframe_screen_then_later_events_and_resizes() {
        let screen = b"\x1b[H\x1b[2Jkept\r\n";
        let keyframe = Keyframe {
            offset_ms: 5000,
            byte_offset: 0,
            cols: 20,
            rows: 4,
            screen_at: 0,
            screen_len: screen.len() as u32,
        };
        let mut bytes = Vec::new();
        let resize = RecordingEvent { offset_ms: 6000, event: Some(Event::Resize(Resize { cols: 30, rows: 5 })) };
        for event in [output(5500, "more"), resize] {
            bytes.extend(encode_event(&event));
        }
        let mut playback = Playback::from_keyframe(&keyframe, screen, 0);
        // A Reader resumed at offset 0 of this byte string: the events follow directly.
        playback.push(0, &bytes, bytes.len() as u64);
        assert_eq!(playback.advance_to(5600).resized, None);
        assert_eq!(playback.terminal().text(), "kept\nmore");
        assert_eq!(playback.advance_to(6000).resized, Some((5, 30)));
        assert_eq!(playback.terminal().size(), (5, 30));
    }

    #[test]
    fn a_damaged_file_plays_up_to_the_damage_and_says_so() {
        let (mut bytes, start) = recording(&[output(0, "fine")]);
        bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        let mut playback = Playback::from_keyframe(&start, b"", 0);
        playback.push(start.byte_offset, &bytes[start.byte_offset as usize..], bytes.len() as u64);
        playback.advance_to(1000);
        assert_eq!(playback.terminal().text(), "fine");
        assert!(playback.damaged().unwrap().contains("damaged"));
        assert!(playback.at_end());
        assert_eq!(playback.wants(), None);
    }
}
