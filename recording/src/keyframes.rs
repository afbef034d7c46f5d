//! Keyframes: when the writer takes one ([`Policy`]), and what a terminal's holds
//! ([`TerminalKeyframes`]). A keyframe is a screen a player can start from, so a seek
//! replays at most one keyframe interval of the recording whatever its length. (A
//! desktop's keyframe is its whole decoded screen; the proxy makes it with the same
//! decoder as the browser.)

use std::num::NonZeroU16;

use gatehouse_proto::pb::{RecordingEvent, RecordingHeader, recording_event::Event};
use gatehouse_terminal::Emulator;

/// A keyframe at least this often while events are written.
pub const EVERY_MS: u64 = 5_000;
/// And after this much of the recording, whatever the time, so a seek never replays much.
pub const EVERY_BYTES: u64 = 2 << 20;

/// When to take a keyframe, given where the last one was.
#[derive(Debug, Default, Clone)]
pub struct Policy {
    /// The last keyframe's time and the recording's length when it was taken.
    last: Option<(u64, u64)>,
}

impl Policy {
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Whether a keyframe is due before `event` is appended at byte `at` of the
    /// recording: [`EVERY_MS`] or [`EVERY_BYTES`] after the last one, if anything was
    /// written since. The first one (when none was taken at the start) comes with the
    /// first event that draws, once there is a screen to take (`has_screen`).
    pub fn due(&self, event: &RecordingEvent, at: u64, has_screen: bool) -> bool {
        match self.last {
            Some((at_ms, at_byte)) => {
                (event.offset_ms >= at_ms + EVERY_MS || at >= at_byte + EVERY_BYTES) && at > at_byte
            }
            None => has_screen && matches!(event.event, Some(Event::DesktopUpdate(_) | Event::Output(_))),
        }
    }

    /// A keyframe was taken at `offset_ms`, pointing at byte `at` of the recording.
    pub fn taken(&mut self, offset_ms: u64, at: u64) {
        self.last = Some((offset_ms, at));
    }
}

fn size(n: u32) -> u16 {
    NonZeroU16::new(n.clamp(1, 1000) as u16).unwrap_or(NonZeroU16::MIN).get()
}

/// A terminal recording's keyframes: the terminal model follows the output, so a
/// keyframe of the screen can be taken at any moment. Inside a full-screen program it
/// holds both screens, so leaving the program in the player shows the shell again.
pub struct TerminalKeyframes {
    screen: Emulator,
    /// The main screen as it was when a full-screen program switched to the alternate
    /// screen (it does not change until the program switches back).
    main_screen: Option<String>,
}

impl TerminalKeyframes {
    /// The empty screen at the size the recording starts with.
    pub fn new(header: &RecordingHeader) -> TerminalKeyframes {
        TerminalKeyframes { screen: Emulator::new(size(header.rows), size(header.cols), 0), main_screen: None }
    }

    /// Follows one event of the recording (output and resizes; the rest does not show).
    pub fn follow(&mut self, event: &RecordingEvent) {
        match &event.event {
            Some(Event::Output(output)) => self.output(&output.data),
            Some(Event::Resize(resize)) => self.screen.set_size(size(resize.rows), size(resize.cols)),
            _ => {}
        }
    }

    /// Feeds output to the model, noting the main screen just before any switch to the
    /// alternate screen.
    fn output(&mut self, mut data: &[u8]) {
        const ENTER: [&[u8]; 3] = [b"\x1b[?1049h", b"\x1b[?1047h", b"\x1b[?47h"];
        while let Some((at, len)) = ENTER
            .iter()
            .filter_map(|seq| data.windows(seq.len()).position(|w| w == *seq).map(|at| (at, seq.len())))
            .min()
        {
            self.screen.process(&data[..at]);
            if !self.screen.screen().alternate_screen() {
                self.main_screen = Some(self.screen.screen().state_formatted());
            }
            self.screen.process(&data[at..at + len]);
            data = &data[at + len..];
        }
        self.screen.process(data);
    }

    /// The screen's text now, as `Terminal::text` gives it (what search looks at).
    pub fn text(&self) -> String {
        self.screen.screen().contents()
    }

    /// The keyframe of the screen now: bytes that rebuild it in a fresh terminal of
    /// (`cols`, `rows`), the size returned with them.
    pub fn take(&self) -> (Vec<u8>, u32, u32) {
        let screen = self.screen.screen();
        let mut state = Vec::new();
        if screen.alternate_screen() {
            // Both screens: the main one first, so leaving the program shows it again.
            if let Some(main) = &self.main_screen {
                state.extend_from_slice(main.as_bytes());
            }
            state.extend_from_slice(b"\x1b[?1049h");
        }
        // The screen, then the modes vt100 does not keep (character sets, tab stops).
        state.extend_from_slice(&self.screen.state_formatted());
        let (rows, cols) = screen.size();
        (state, u32::from(cols.get()), u32::from(rows.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_proto::pb::{Output, Resize};
    use gatehouse_terminal::Terminal;

    fn output(ms: u64, text: &str) -> RecordingEvent {
        RecordingEvent { offset_ms: ms, event: Some(Event::Output(Output { data: text.as_bytes().to_vec() })) }
    }

    #[test]
    fn a_keyframe_every_five_seconds_or_two_megabytes_once_something_was_written() {
        let mut policy = Policy::new();
        policy.taken(0, 100);
        assert!(!policy.due(&output(4_999, "x"), 200, true));
        assert!(policy.due(&output(5_000, "x"), 200, true), "five seconds on");
        assert!(!policy.due(&output(60_000, "x"), 100, true), "nothing written since the last one");
        assert!(policy.due(&output(1_000, "x"), 100 + EVERY_BYTES, true), "two megabytes on");
        policy.taken(5_000, 200);
        assert!(!policy.due(&output(9_999, "x"), 300, true));
        assert!(policy.due(&output(10_000, "x"), 300, true));
    }

    #[test]
    fn without_a_keyframe_at_the_start_the_first_comes_with_the_first_drawing() {
        let policy = Policy::new();
        let activated = RecordingEvent {
            offset_ms: 0,
            event: Some(Event::DesktopActivated(gatehouse_proto::pb::DesktopActivated::default())),
        };
        let update = RecordingEvent { offset_ms: 10, event: Some(Event::DesktopUpdate(vec![0])) };
        assert!(!policy.due(&activated, 50, true), "activation draws nothing");
        assert!(!policy.due(&update, 60, false), "no screen yet");
        assert!(policy.due(&update, 60, true));
    }

    fn rebuilt(keyframes: &TerminalKeyframes) -> Terminal {
        let (state, cols, rows) = keyframes.take();
        let mut term = Terminal::new(rows as u16, cols as u16, 0);
        term.feed(&state);
        term
    }

    #[test]
    fn a_terminal_keyframe_rebuilds_the_screen_at_its_size() {
        let header = RecordingHeader { cols: 20, rows: 4, ..Default::default() };
        let mut keyframes = TerminalKeyframes::new(&header);
        keyframes.follow(&output(0, "one\r\n\x1b[31mtwo\x1b[0m"));
        keyframes.follow(&RecordingEvent { offset_ms: 1, event: Some(Event::Resize(Resize { cols: 30, rows: 5 })) });
        let (_, cols, rows) = keyframes.take();
        assert_eq!((cols, rows), (30, 5));
        assert_eq!(rebuilt(&keyframes).text(), "one\ntwo");
    }

    #[test]
    fn inside_a_full_screen_program_the_keyframe_keeps_the_screen_beneath() {
        let header = RecordingHeader { cols: 20, rows: 4, ..Default::default() };
        let mut keyframes = TerminalKeyframes::new(&header);
        keyframes.follow(&output(0, "$ vi\r\n\x1b[?1049h\x1b[H\x1b[2Jin vi"));
        let mut term = rebuilt(&keyframes);
        assert_eq!(term.text(), "in vi");
        term.feed(b"\x1b[?1049l");
        assert_eq!(term.text(), "$ vi", "leaving vi shows the shell again");
    }
}
