//! Reading and writing the recording file, without I/O.
//!
//! A recording is [`MAGIC`], then one length-delimited [`RecordingHeader`], then
//! length-delimited [`RecordingEvent`]s (its index is [`crate::index`]). The writer appends records as a session runs, so
//! a crash can leave a torn last record; the [`Reader`] reports it and keeps everything
//! before it. A record that is whole but does not decode is skipped and reported; a
//! declared length beyond [`MAX_RECORD`] cannot be skipped safely (the length itself is
//! suspect), so reading stops there with an error.

use prost::Message;

use gatehouse_proto::pb::{End, RecordingEvent, RecordingHeader};

/// The first bytes of every recording file.
pub const MAGIC: &[u8; 8] = b"GHREC01\n";
/// The format version in the header.
pub const VERSION: u32 = 1;
/// No record may declare more than this; the proxy writes output in chunks of at most
/// one SSH packet (about 32 KiB).
pub const MAX_RECORD: usize = 1 << 20;

/// The bytes that start a recording: magic and header.
pub fn encode_start(header: &RecordingHeader) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    header.encode_length_delimited(&mut bytes).expect("a Vec grows as needed");
    bytes
}

/// One event as it is appended to the file.
pub fn encode_event(event: &RecordingEvent) -> Vec<u8> {
    event.encode_length_delimited_to_vec()
}

/// What the reader found, in file order. `at` is the byte offset of the record's length
/// prefix in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Header(RecordingHeader),
    Event {
        at: u64,
        event: RecordingEvent,
    },
    /// A whole record that does not decode; reading goes on after it.
    Skipped {
        at: u64,
        len: usize,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The file does not start with [`MAGIC`]: not a recording at all.
    NotARecording,
    /// The header does not decode: nothing after it can be trusted to be this format.
    BadHeader(String),
    /// A length prefix beyond [`MAX_RECORD`] (or an unterminated varint).
    BadLength { at: u64 },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotARecording => {
                write!(f, "this is not a Gatehouse recording (the file does not start with GHREC01)")
            }
            ReadError::BadHeader(err) => write!(f, "the recording's header is damaged: {err}"),
            ReadError::BadLength { at } => {
                write!(f, "the record at byte {at} declares an impossible length; the file is damaged from there on")
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// The end of input, as [`Reader::finish`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// The input ended exactly after a record.
    Clean,
    /// The input ended inside a record: the writer was cut off (crash, kill, full disk).
    Torn { at: u64, bytes: usize },
}

/// An incremental reader: feed it bytes as they arrive ([`Reader::push`]), take items out
/// ([`Reader::next_item`]). It never needs the whole file.
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    start: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    seen_magic: bool,
    seen_header: bool,
    failed: bool,
}

impl Reader {
    pub fn new() -> Reader {
        Reader::default()
    }

    /// A reader that starts in the middle of a file, at a record boundary `offset` (from
    /// the index), after the header has been read elsewhere.
    pub fn resume_at(offset: u64) -> Reader {
        Reader { offset, seen_magic: true, seen_header: true, ..Reader::default() }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The file offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// The next complete item, `Ok(None)` when more bytes are needed. After an error the
    /// reader yields nothing more.
    pub fn next_item(&mut self) -> Result<Option<Item>, ReadError> {
        if self.failed {
            return Ok(None);
        }
        let result = self.step();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn step(&mut self) -> Result<Option<Item>, ReadError> {
        let available = &self.buf[self.start..];
        if !self.seen_magic {
            if available.len() < MAGIC.len() {
                return if MAGIC.starts_with(available) { Ok(None) } else { Err(ReadError::NotARecording) };
            }
            if &available[..MAGIC.len()] != MAGIC {
                return Err(ReadError::NotARecording);
            }
            self.consume(MAGIC.len());
            self.seen_magic = true;
            return self.step();
        }
        let at = self.offset;
        let Some((len, prefix)) = read_varint(available).map_err(|()| ReadError::BadLength { at })? else {
            return Ok(None);
        };
        if len > MAX_RECORD as u64 {
            return Err(ReadError::BadLength { at });
        }
        let len = len as usize;
        if available.len() < prefix + len {
            return Ok(None);
        }
        let body = &available[prefix..prefix + len];
        let item = if !self.seen_header {
            let header = RecordingHeader::decode(body).map_err(|err| ReadError::BadHeader(err.to_string()))?;
            self.seen_header = true;
            Item::Header(header)
        } else {
            match RecordingEvent::decode(body) {
                Ok(event) if event.event.is_some() => Item::Event { at, event },
                Ok(_) => Item::Skipped { at, len, reason: "a record with no event in it".into() },
                Err(err) => Item::Skipped { at, len, reason: err.to_string() },
            }
        };
        self.consume(prefix + len);
        Ok(Some(item))
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Call when the input has ended: says whether it ended cleanly.
    pub fn finish(&self) -> Tail {
        let left = self.buf.len() - self.start;
        if left == 0 || self.failed { Tail::Clean } else { Tail::Torn { at: self.offset, bytes: left } }
    }
}

/// A protobuf varint: `Ok(None)` if incomplete, `Err` if longer than 10 bytes.
pub(crate) fn read_varint(bytes: &[u8]) -> Result<Option<(u64, usize)>, ()> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if bytes.len() >= 10 { Err(()) } else { Ok(None) }
}

/// Reads a whole recording held in memory: the header, the events, what was skipped, and
/// how it ended. For tools and tests; the player reads incrementally.
pub fn read_all(bytes: &[u8]) -> Result<Recording, ReadError> {
    let mut reader = Reader::new();
    reader.push(bytes);
    let mut recording = Recording::default();
    while let Some(item) = reader.next_item()? {
        match item {
            Item::Header(header) => recording.header = Some(header),
            Item::Event { event, .. } => recording.events.push(event),
            Item::Skipped { at, len, reason } => recording.skipped.push((at, len, reason)),
        }
    }
    if recording.header.is_none() {
        return Err(ReadError::BadHeader("the file ends before the header".into()));
    }
    recording.tail = reader.finish();
    Ok(recording)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub header: Option<RecordingHeader>,
    pub events: Vec<RecordingEvent>,
    pub skipped: Vec<(u64, usize, String)>,
    pub tail: Tail,
}

impl Default for Recording {
    fn default() -> Recording {
        Recording { header: None, events: Vec::new(), skipped: Vec::new(), tail: Tail::Clean }
    }
}

impl Recording {
    /// Every byte the client sent, in order (recorded for sessions without a pty).
    pub fn input(&self) -> Vec<u8> {
        use gatehouse_proto::pb::recording_event::Event;
        let mut out = Vec::new();
        for event in &self.events {
            if let Some(Event::Input(input)) = &event.event {
                out.extend_from_slice(&input.data);
            }
        }
        out
    }

    /// Every output byte, in order.
    pub fn output(&self) -> Vec<u8> {
        use gatehouse_proto::pb::recording_event::Event;
        let mut out = Vec::new();
        for event in &self.events {
            if let Some(Event::Output(output)) = &event.event {
                out.extend_from_slice(&output.data);
            }
        }
        out
    }

    /// The end record, if the session ended cleanly.
    pub fn end(&self) -> Option<&End> {
        use gatehouse_proto::pb::recording_event::Event;
        self.events.iter().rev().find_map(|e| match &e.event {
            Some(Event::End(end)) => Some(end),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_proto::pb::recording_event::Event;
    use gatehouse_proto::pb::{Output, Resize};

    fn header() -> RecordingHeader {
        RecordingHeader { version: VERSION, session_id: "s1".into(), cols: 80, rows: 24, ..Default::default() }
    }

    fn output(ms: u64, data: &[u8]) -> RecordingEvent {
        RecordingEvent { offset_ms: ms, event: Some(Event::Output(Output { data: data.to_vec() })) }
    }

    fn sample() -> (Vec<u8>, Vec<RecordingEvent>) {
        let events = vec![
            output(0, b"hello "),
            RecordingEvent { offset_ms: 5, event: Some(Event::Resize(Resize { cols: 100, rows: 30 })) },
            output(10, b"world\r\n"),
            RecordingEvent {
                offset_ms: 20,
                event: Some(Event::End(End { reason: "exit".into(), exit_status: Some(0) })),
            },
        ];
        let mut bytes = encode_start(&header());
        for event in &events {
            bytes.extend(encode_event(event));
        }
        (bytes, events)
    }

    #[test]
    fn reads_back_what_was_written() {
        let (bytes, events) = sample();
        let recording = read_all(&bytes).unwrap();
        assert_eq!(recording.header, Some(header()));
        assert_eq!(recording.events, events);
        assert_eq!(recording.tail, Tail::Clean);
        assert_eq!(recording.output(), b"hello world\r\n");
        assert_eq!(recording.end().unwrap().exit_status, Some(0));
    }

    #[test]
    fn bytes_may_arrive_one_at_a_time() {
        let (bytes, events) = sample();
        let mut reader = Reader::new();
        let mut got = Vec::new();
        for byte in &bytes {
            reader.push(std::slice::from_ref(byte));
            while let Some(item) = reader.next_item().unwrap() {
                if let Item::Event { event, .. } = item {
                    got.push(event);
                }
            }
        }
        assert_eq!(got, events);
        assert_eq!(reader.finish(), Tail::Clean);
        assert_eq!(reader.position(), bytes.len() as u64);
    }

    #[test]
    fn a_torn_tail_keeps_everything_before_it() {
        let (bytes, events) = sample();
        for cut in 1..=6 {
            let recording = read_all(&bytes[..bytes.len() - cut]).unwrap();
            assert_eq!(recording.events, events[..3]);
            assert!(matches!(recording.tail, Tail::Torn { .. }), "cut {cut}: {:?}", recording.tail);
            assert!(recording.end().is_none());
        }
    }

    #[test]
    fn a_corrupted_record_is_skipped_and_reading_goes_on() {
        let mut bytes = encode_start(&header());
        bytes.extend(encode_event(&output(0, b"one")));
        let bad_at = bytes.len();
        bytes.extend([3, 0xff, 0xff, 0xff]); // three bytes that are no protobuf message
        bytes.extend(encode_event(&output(1, b"two")));
        let recording = read_all(&bytes).unwrap();
        assert_eq!(recording.output(), b"onetwo");
        assert_eq!(recording.skipped.len(), 1);
        assert_eq!(recording.skipped[0].0, bad_at as u64);
    }

    #[test]
    fn a_huge_declared_length_stops_with_an_error_not_an_allocation() {
        let mut bytes = encode_start(&header());
        bytes.extend(encode_event(&output(0, b"kept")));
        bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f]); // 4 GiB
        let mut reader = Reader::new();
        reader.push(&bytes);
        assert!(matches!(reader.next_item(), Ok(Some(Item::Header(_)))));
        assert!(matches!(reader.next_item(), Ok(Some(Item::Event { .. }))));
        assert!(matches!(reader.next_item(), Err(ReadError::BadLength { .. })));
        assert_eq!(reader.next_item(), Ok(None));
        let endless_varint = [0xffu8; 12];
        let mut reader = Reader::resume_at(0);
        reader.push(&endless_varint);
        assert_eq!(reader.next_item(), Err(ReadError::BadLength { at: 0 }));
    }

    #[test]
    fn other_files_are_not_recordings() {
        assert_eq!(read_all(b"{\"version\": 2}\n"), Err(ReadError::NotARecording));
        assert_eq!(read_all(b"GHR").unwrap_err(), ReadError::BadHeader("the file ends before the header".into()));
        let mut reader = Reader::new();
        reader.push(b"GH");
        assert_eq!(reader.next_item(), Ok(None));
    }

    #[test]
    fn resuming_at_an_offset_reads_from_there() {
        let (bytes, events) = sample();
        let second = encode_start(&header()).len() + encode_event(&events[0]).len();
        let mut reader = Reader::resume_at(second as u64);
        reader.push(&bytes[second..]);
        match reader.next_item().unwrap() {
            Some(Item::Event { at, event }) => {
                assert_eq!(at, second as u64);
                assert_eq!(event, events[1]);
            }
            other => panic!("{other:?}"),
        }
    }
}
