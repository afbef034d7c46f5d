//! Which bytes a player fetches, and which answers it may use. The player reads the
//! recording's small index whole; then a seek takes the keyframe before the target, its
//! screen from the keyframes file and the recording from the keyframe's byte offset up
//! to the next keyframe, so any moment before that is one request away. Playing on, it
//! reads ahead a piece at a time. Every seek starts a new generation: answers to
//! requests made before it are not for the screen now shown and are dropped.
//!
//! Requests for the recording start one byte before the first byte wanted: a Range
//! that starts at the end of a file cannot be satisfied (416), and following a session
//! that is still being recorded asks exactly there. [`Planner::answer`] drops that byte.

use gatehouse_proto::pb::Keyframe;

use crate::index::keyframe_before;

/// Bytes `first..=last` of a file, as an HTTP Range header writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub first: u64,
    pub last: u64,
}

/// Which seek a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

/// A request for the recording file: the bytes from [`Request::offset`] on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    generation: Generation,
    offset: u64,
    range: Range,
}

impl Request {
    /// The first byte playback needs.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// What to ask the server for (from one byte early).
    pub fn range(&self) -> Range {
        self.range
    }

    pub fn generation(&self) -> Generation {
        self.generation
    }
}

/// An answer to a current request: the bytes from `offset` on, and the file's length
/// as the server gave it.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer<'a> {
    pub offset: u64,
    pub bytes: &'a [u8],
    pub file_len: u64,
}

impl Answer<'_> {
    /// The file has nothing after these bytes (yet: a running session's grows).
    pub fn reaches_end(&self) -> bool {
        self.offset + self.bytes.len() as u64 >= self.file_len
    }
}

/// The whole file's length, as a Range answer's `Content-Range` gives it
/// (`bytes 0-99/1000`, or `bytes */1000` when the range could not be satisfied);
/// `None` when it does not say.
pub fn whole_length(content_range: &str) -> Option<u64> {
    content_range.rsplit_once('/')?.1.trim().parse().ok()
}

/// What to fetch to show the moment a seek asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeekPlan {
    pub generation: Generation,
    /// The keyframe to start from; `None` before a desktop's first one: playback then
    /// starts from the beginning of the file.
    pub keyframe: Option<Keyframe>,
    /// The keyframe's screen in the keyframes file; `None` when it is empty.
    pub screen: Option<Range>,
    /// The recording after the keyframe, up to the next one.
    pub events: Request,
}

/// The fetch plan of one player: its index, the size of a piece, the current seek, and
/// whether a read-ahead is on its way (one at a time).
#[derive(Debug, Clone)]
pub struct Planner {
    index: Vec<Keyframe>,
    chunk: u64,
    generation: u64,
    in_flight: bool,
}

impl Planner {
    /// A planner over a recording's index, reading ahead `chunk` bytes at a time.
    pub fn new(index: Vec<Keyframe>, chunk: u64) -> Planner {
        Planner { index, chunk: chunk.max(1), generation: 0, in_flight: false }
    }

    pub fn index(&self) -> &[Keyframe] {
        &self.index
    }

    /// Starts showing `target_ms`: everything asked for before is stale from now on.
    pub fn seek(&mut self, target_ms: u64) -> SeekPlan {
        self.generation += 1;
        self.in_flight = false;
        let keyframe = keyframe_before(&self.index, target_ms).cloned();
        let from = keyframe.as_ref().map_or(0, |k| k.byte_offset);
        // Everything up to the next keyframe (at most a keyframe interval): any target
        // before it is then one request away.
        let next = self.index.iter().find(|k| k.byte_offset > from).map(|k| k.byte_offset);
        let end = next.unwrap_or(from + self.chunk).max(from + 1);
        let screen = keyframe
            .as_ref()
            .filter(|k| k.screen_len > 0)
            .map(|k| Range { first: k.screen_at, last: k.screen_at + u64::from(k.screen_len) - 1 });
        SeekPlan { generation: self.current(), keyframe, screen, events: self.span(from, end) }
    }

    fn current(&self) -> Generation {
        Generation(self.generation)
    }

    fn span(&self, offset: u64, end: u64) -> Request {
        Request { generation: self.current(), offset, range: Range { first: offset.saturating_sub(1), last: end - 1 } }
    }

    /// The next piece of the recording from `offset` (where the bytes playback has
    /// end), for the current seek while it fills in the moment it shows.
    pub fn request(&self, offset: u64) -> Request {
        self.span(offset, offset + self.chunk)
    }

    /// Reading ahead while playing: the next piece, unless one is on its way already.
    pub fn ahead(&mut self, offset: u64) -> Option<Request> {
        if self.in_flight {
            return None;
        }
        self.in_flight = true;
        Some(self.request(offset))
    }

    /// Whether answers for `generation` are still wanted (no seek since).
    pub fn is_current(&self, generation: Generation) -> bool {
        generation == self.current()
    }

    /// The answer to `request` (`bytes` from the start of its range): the bytes from
    /// the offset it wanted, or `None` if a seek since made it stale.
    pub fn answer<'a>(&mut self, request: &Request, bytes: &'a [u8], file_len: u64) -> Option<Answer<'a>> {
        if !self.is_current(request.generation) {
            return None;
        }
        self.in_flight = false;
        let early = ((request.offset - request.range.first) as usize).min(bytes.len());
        Some(Answer { offset: request.offset, bytes: &bytes[early..], file_len })
    }

    /// `request` failed. True if it was current (say so); a stale one is forgotten.
    pub fn failed(&mut self, request: &Request) -> bool {
        if !self.is_current(request.generation) {
            return false;
        }
        self.in_flight = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyframe(offset_ms: u64, byte_offset: u64, screen_at: u64, screen_len: u32) -> Keyframe {
        Keyframe { offset_ms, byte_offset, cols: 80, rows: 24, screen_at, screen_len }
    }

    /// Keyframes at 0, 5 s and 10 s.
    fn index() -> Vec<Keyframe> {
        vec![keyframe(0, 40, 0, 10), keyframe(5000, 2000, 10, 30), keyframe(10_000, 9000, 40, 25)]
    }

    #[test]
    fn a_seek_fetches_the_keyframe_screen_and_the_recording_up_to_the_next_keyframe() {
        let mut planner = Planner::new(index(), 512);
        let plan = planner.seek(7000);
        assert_eq!(plan.keyframe.as_ref().map(|k| k.offset_ms), Some(5000));
        assert_eq!(plan.screen, Some(Range { first: 10, last: 39 }));
        assert_eq!(plan.events.offset(), 2000);
        assert_eq!(plan.events.range(), Range { first: 1999, last: 8999 }, "from one byte early to the next keyframe");
    }

    #[test]
    fn after_the_last_keyframe_a_seek_reads_one_piece() {
        let mut planner = Planner::new(index(), 512);
        let plan = planner.seek(60_000);
        assert_eq!(plan.keyframe.as_ref().map(|k| k.offset_ms), Some(10_000));
        assert_eq!(plan.events.range(), Range { first: 8999, last: 9511 });
    }

    #[test]
    fn before_any_keyframe_playback_starts_from_the_start_of_the_file() {
        // A desktop's first keyframe is at its first paint.
        let mut planner = Planner::new(vec![keyframe(800, 300, 0, 50)], 512);
        let plan = planner.seek(100);
        assert_eq!((plan.keyframe, plan.screen), (None, None));
        assert_eq!(plan.events.offset(), 0);
        assert_eq!(plan.events.range(), Range { first: 0, last: 299 });
        let mut empty = Planner::new(Vec::new(), 512);
        assert_eq!(empty.seek(0).events.range(), Range { first: 0, last: 511 });
    }

    #[test]
    fn a_keyframe_with_an_empty_screen_fetches_no_screen() {
        let mut planner = Planner::new(vec![keyframe(0, 40, 0, 0)], 512);
        let plan = planner.seek(0);
        assert!(plan.keyframe.is_some());
        assert_eq!(plan.screen, None);
    }

    #[test]
    fn the_early_byte_is_dropped_from_an_answer_and_its_end_is_seen() {
        let mut planner = Planner::new(index(), 4);
        let request = planner.request(100);
        assert_eq!(request.range(), Range { first: 99, last: 103 });
        let answer = planner.answer(&request, b"xabcd", 200).unwrap();
        assert_eq!((answer.offset, answer.bytes), (100, b"abcd".as_slice()));
        assert!(!answer.reaches_end());
        // At the end of a growing file: only the byte before, which is dropped.
        let at_end = planner.request(200);
        let answer = planner.answer(&at_end, b"x", 200).unwrap();
        assert!(answer.bytes.is_empty());
        assert!(answer.reaches_end());
        // From the start of the file there is no byte before.
        let first = planner.request(0);
        assert_eq!(first.range(), Range { first: 0, last: 3 });
        assert_eq!(planner.answer(&first, b"GHRE", 200).unwrap().bytes, b"GHRE");
    }

    #[test]
    fn the_file_length_is_read_from_content_range() {
        assert_eq!(whole_length("bytes 0-99/1000"), Some(1000));
        assert_eq!(whole_length("bytes */1000"), Some(1000));
        assert_eq!(whole_length("bytes 0-99/*"), None, "a length the server does not know");
        assert_eq!(whole_length("1000"), None);
    }

    #[test]
    fn reading_ahead_is_one_request_at_a_time() {
        let mut planner = Planner::new(index(), 512);
        let first = planner.ahead(100).unwrap();
        assert_eq!(planner.ahead(100), None, "one is on its way");
        assert!(planner.answer(&first, &[0; 513], 10_000).is_some());
        let second = planner.ahead(612).unwrap();
        assert!(planner.failed(&second), "a current request's failure is shown");
        assert!(planner.ahead(612).is_some(), "and may be tried again");
    }

    #[test]
    fn answers_to_requests_from_before_a_seek_are_dropped() {
        let mut planner = Planner::new(index(), 512);
        let old = planner.seek(0);
        let ahead = planner.ahead(600).unwrap();
        let new = planner.seek(7000);
        assert!(!planner.is_current(old.generation));
        assert!(planner.is_current(new.generation));
        assert_eq!(planner.answer(&old.events, b"stale", 10_000), None);
        assert!(!planner.failed(&ahead), "a stale failure is not shown");
        // The seek forgot the read-ahead that was on its way.
        let again = planner.ahead(2500).unwrap();
        assert_eq!(again.generation(), new.generation);
        assert!(planner.answer(&new.events, b"fresh", 10_000).is_some());
    }
}
