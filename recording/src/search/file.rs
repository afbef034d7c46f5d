//! The search file beside a terminal recording (`ID.ghsrch`): the screen's text over
//! time, written as the recording is, so a search reads text instead of replaying the
//! recording through the terminal model. It gives the same answers as the replay
//! ([`super::search`]); the tests compare the two on generated recordings.
//!
//! What the replay decides per output event is (a) whether the text is on the screen
//! after it, and (b) whether the event's own text (escape sequences taken out) holds it,
//! for text that went past too fast to stay. So the file keeps, numbering output events
//! from 0 (their *sequence*):
//!
//! - every line of the screen's text (rows joined where they wrap, as
//!   `Terminal::text` gives them), once per stretch of events it stayed on the screen:
//!   from which event to which, the time it appeared and where on the screen (the replay
//!   quotes the topmost line that holds the text);
//! - every line of an event's own text that was not on the screen after it, with the
//!   event's number and time (the lines of a `cat` that scrolled past).
//!
//! Layout: [`SEARCH_MAGIC`], then records, each a tag byte and varints, then the line:
//! how to put its case back (nothing, the runs of capitals, or the line as it was) and
//! the line lowercased, as a varint length and UTF-8, so one substring search over the
//! whole file finds every line that holds a text; last an end record (how many output events there were and
//! how long the recording was when the file was finished), then a CRC-32 of everything
//! before it. A file without its end (a proxy killed mid-session), with a wrong
//! checksum, or for a recording of another length, is not used: [`search`] says why and
//! the caller replays (and may write the file again).

use std::collections::HashMap;
use std::io::Read;

use gatehouse_proto::api::SearchHit;
use gatehouse_proto::pb::recording_event::Event;

use super::{MAX_HITS, SAME_MOMENT_MS, SearchError, plain_text};
use crate::format::{Item, Reader, read_varint};
use crate::keyframes::TerminalKeyframes;

/// The first bytes of every search file.
pub const SEARCH_MAGIC: &[u8; 8] = b"GHSRCH1\n";

/// A line that stayed on the screen from one event to another (exclusive).
const SHOWN: u8 = 1;
/// A line of an event's own text that was not on the screen after it.
const PASSED: u8 = 2;
/// The end: the number of output events, the recording's length, then the checksum.
const END: u8 = 3;

/// How a line's case is put back: it has none to put back,
const AS_IS: u8 = 0;
/// its capitals (ASCII) are runs at these places,
const UPPER_RUNS: u8 = 1;
/// or it is stored as it was too.
const ORIGINAL: u8 = 2;

/// Why a search file cannot answer (the caller then replays the recording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("this is not a search file (it does not start with GHSRCH1)")]
    NotASearchFile,
    #[error("the search file was not finished (its writer stopped before the end)")]
    Unfinished,
    #[error("the search file is damaged or was cut short (its checksum does not match)")]
    Damaged,
    #[error("the search file is damaged at byte {0}")]
    BadRecord(usize),
    #[error("the search file is for a recording of {file} bytes, and the recording has {recording}")]
    Stale { file: u64, recording: u64 },
    #[error("a text over more than one line is searched by replaying the recording")]
    Multiline,
}

/// What a text looks like on screen while it stays: since which event, the time then,
/// and the first line it was on.
#[derive(Debug, Clone, Copy)]
struct Alive {
    since: u64,
    ms: u64,
    line: u32,
}

/// Builds a search file as a recording is written, without I/O: give it each output
/// event with the screen's text after it ([`SearchWriter::output`]), append what
/// [`SearchWriter::take`] returns to the file, and [`SearchWriter::finish`] at the end.
pub struct SearchWriter {
    /// Output events seen.
    seq: u64,
    alive: HashMap<String, Alive>,
    out: Vec<u8>,
    crc: crc32fast::Hasher,
}

impl Default for SearchWriter {
    fn default() -> SearchWriter {
        SearchWriter::new()
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// A line as it is stored: how to put its case back, then its text lowercased (what a
/// search matches against, in one pass over the file).
fn put_line(out: &mut Vec<u8>, text: &str) {
    let lowered = text.to_lowercase();
    if lowered == text {
        out.push(AS_IS);
    } else if text.is_ascii() {
        // The runs of capitals, each as (bytes since the last run, length).
        let bytes = text.as_bytes();
        let mut runs = Vec::new();
        let (mut i, mut last) = (0, 0);
        while i < bytes.len() {
            if bytes[i].is_ascii_uppercase() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_uppercase() {
                    i += 1;
                }
                runs.push((start - last, i - start));
                last = i;
            } else {
                i += 1;
            }
        }
        out.push(UPPER_RUNS);
        put_varint(out, runs.len() as u64);
        for (gap, len) in runs {
            put_varint(out, gap as u64);
            put_varint(out, len as u64);
        }
    } else {
        // Lowercasing beyond ASCII may change lengths: the line as it was.
        out.push(ORIGINAL);
        put_text(out, text);
    }
    put_text(out, &lowered);
}

/// A line no search can find: blank (a searched text is never only blanks).
fn blank(line: &str) -> bool {
    line.trim().is_empty()
}

impl SearchWriter {
    pub fn new() -> SearchWriter {
        SearchWriter { seq: 0, alive: HashMap::new(), out: SEARCH_MAGIC.to_vec(), crc: crc32fast::Hasher::new() }
    }

    /// One output event at `offset_ms`: its bytes, and the screen's text after it
    /// (`Terminal::text`: rows joined by newlines where they do not wrap).
    pub fn output(&mut self, offset_ms: u64, data: &[u8], screen: &str) {
        let seq = self.seq;
        self.seq += 1;
        // The lines on the screen now, each with the first row it is on.
        let mut now: HashMap<&str, u32> = HashMap::new();
        for (line_no, line) in screen.lines().enumerate() {
            if !blank(line) {
                now.entry(line).or_insert(line_no as u32);
            }
        }
        // Gone since the last event: its stretch on the screen is complete.
        let gone: Vec<String> = self.alive.keys().filter(|text| !now.contains_key(text.as_str())).cloned().collect();
        for text in gone {
            if let Some(alive) = self.alive.remove(&text) {
                self.shown(&text, alive, seq);
            }
        }
        let mut new_lines: Vec<&str> = Vec::new();
        for (&line, &line_no) in &now {
            if !self.alive.contains_key(line) {
                self.alive.insert(line.to_string(), Alive { since: seq, ms: offset_ms, line: line_no });
                new_lines.push(line);
            }
        }
        // The event's own text, less what is on the screen after it (a search finds
        // that there; leaving it out only makes the file smaller). Checked exactly,
        // and as part of a line that changed, for the few lines of a keystroke's echo.
        let passing = plain_text(data);
        let few = passing.len() <= 256;
        for line in passing.lines() {
            if blank(line) || now.contains_key(line) {
                continue;
            }
            if few && line.is_ascii() && new_lines.iter().any(|shown| shown.contains(line)) {
                continue;
            }
            self.out.push(PASSED);
            put_varint(&mut self.out, seq);
            put_varint(&mut self.out, offset_ms);
            put_line(&mut self.out, line);
        }
    }

    fn shown(&mut self, text: &str, alive: Alive, until: u64) {
        self.out.push(SHOWN);
        put_varint(&mut self.out, alive.since);
        put_varint(&mut self.out, until - alive.since);
        put_varint(&mut self.out, alive.ms);
        put_varint(&mut self.out, u64::from(alive.line));
        put_line(&mut self.out, text);
    }

    /// The bytes to append to the file since the last call (the magic first).
    pub fn take(&mut self) -> Vec<u8> {
        let out = std::mem::take(&mut self.out);
        self.crc.update(&out);
        out
    }

    /// The last bytes of the file: the lines still on the screen, the end record for a
    /// recording of `recording_len` bytes, and the checksum.
    pub fn finish(mut self, recording_len: u64) -> Vec<u8> {
        let mut alive: Vec<(String, Alive)> = std::mem::take(&mut self.alive).into_iter().collect();
        alive.sort_by_key(|(_, a)| (a.since, a.line));
        for (text, a) in alive {
            self.shown(&text, a, self.seq);
        }
        self.out.push(END);
        put_varint(&mut self.out, self.seq);
        put_varint(&mut self.out, recording_len);
        let mut out = std::mem::take(&mut self.out);
        self.crc.update(&out);
        let crc = self.crc.clone().finalize();
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

/// The search file of a whole recording (for recordings written before there were
/// search files, and `gatehouse recordings reindex`): the recording replayed through
/// the same terminal model the writer uses. `None` for a recording with no screen (a
/// desktop's, or one without a header). A recording damaged beyond reading gives the
/// error the replayed search would.
pub fn build(mut file: impl Read) -> Result<Option<Vec<u8>>, SearchError> {
    let mut reader = Reader::new();
    let mut terminal: Option<TerminalKeyframes> = None;
    let mut writer = SearchWriter::new();
    let mut out = Vec::new();
    let mut len = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(SearchError::Io)?;
        if n == 0 {
            break;
        }
        len += n as u64;
        reader.push(&buf[..n]);
        while let Some(item) = reader.next_item().map_err(SearchError::Read)? {
            match item {
                Item::Header(header) => {
                    if header.kind == i32::from(gatehouse_proto::pb::SessionKind::Desktop) {
                        return Ok(None);
                    }
                    terminal = Some(TerminalKeyframes::new(&header));
                }
                Item::Event { event, .. } => {
                    let Some(terminal) = terminal.as_mut() else { continue };
                    terminal.follow(&event);
                    if let Some(Event::Output(output)) = &event.event {
                        writer.output(event.offset_ms, &output.data, &terminal.text());
                    }
                }
                Item::Skipped { .. } => {}
            }
        }
        out.extend(writer.take());
    }
    if terminal.is_none() {
        return Ok(None);
    }
    out.extend(writer.finish(len));
    Ok(Some(out))
}

/// A parsed record's numbers.
#[derive(Debug, Clone, Copy)]
enum Record {
    Shown { from: u64, until: u64, ms: u64, line: u32 },
    Passed { seq: u64, ms: u64 },
}

/// Where a record's line is in the body: how to put its case back, and the lowercased
/// text.
#[derive(Debug, Clone)]
struct Line {
    case: usize,
    text: std::ops::Range<usize>,
}

/// What comes next in a file: a record and its line, or the end record (the number of
/// output events and the recording's length).
enum Next {
    Line(Record, Line),
    End { recording_len: u64 },
}

/// Reads records from a checked file body.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn varint(&mut self) -> Result<u64, FileError> {
        match read_varint(&self.bytes[self.at.min(self.bytes.len())..]) {
            Ok(Some((value, len))) => {
                self.at += len;
                Ok(value)
            }
            _ => Err(FileError::BadRecord(self.at)),
        }
    }

    /// A length-prefixed text: where it is.
    fn text(&mut self) -> Result<std::ops::Range<usize>, FileError> {
        let len = self.varint()?;
        let end = usize::try_from(len).ok().and_then(|len| self.at.checked_add(len));
        match end {
            Some(end) if end <= self.bytes.len() => {
                let text = self.at..end;
                self.at = end;
                Ok(text)
            }
            _ => Err(FileError::BadRecord(self.at)),
        }
    }

    fn line(&mut self) -> Result<Line, FileError> {
        let case = self.at;
        match self.bytes.get(self.at) {
            Some(&AS_IS) => self.at += 1,
            Some(&UPPER_RUNS) => {
                self.at += 1;
                for _ in 0..self.varint()? {
                    self.varint()?;
                    self.varint()?;
                }
            }
            Some(&ORIGINAL) => {
                self.at += 1;
                self.text()?;
            }
            _ => return Err(FileError::BadRecord(self.at)),
        }
        Ok(Line { case, text: self.text()? })
    }

    /// The next record and its line, or the end.
    fn record(&mut self) -> Result<Next, FileError> {
        let at = self.at;
        let Some(&tag) = self.bytes.get(at) else { return Err(FileError::Unfinished) };
        self.at += 1;
        match tag {
            SHOWN => {
                let from = self.varint()?;
                let span = self.varint()?;
                let ms = self.varint()?;
                let line = u32::try_from(self.varint()?).map_err(|_| FileError::BadRecord(at))?;
                let until = from.checked_add(span).ok_or(FileError::BadRecord(at))?;
                Ok(Next::Line(Record::Shown { from, until, ms, line }, self.line()?))
            }
            PASSED => {
                let seq = self.varint()?;
                let ms = self.varint()?;
                Ok(Next::Line(Record::Passed { seq, ms }, self.line()?))
            }
            END => {
                let _events = self.varint()?;
                Ok(Next::End { recording_len: self.varint()? })
            }
            _ => Err(FileError::BadRecord(at)),
        }
    }

    /// A line as it was on the screen: its lowercased text with the case put back.
    fn original(&mut self, line: &Line) -> Result<String, FileError> {
        let lowered = String::from_utf8_lossy(&self.bytes[line.text.clone()]);
        self.at = line.case;
        match self.bytes.get(self.at) {
            Some(&UPPER_RUNS) => {
                self.at += 1;
                let mut text = lowered.into_owned().into_bytes();
                let mut at = 0usize;
                for _ in 0..self.varint()? {
                    let gap = usize::try_from(self.varint()?).map_err(|_| FileError::BadRecord(self.at))?;
                    let len = usize::try_from(self.varint()?).map_err(|_| FileError::BadRecord(self.at))?;
                    let start = at.saturating_add(gap).min(text.len());
                    let end = start.saturating_add(len).min(text.len());
                    text[start..end].make_ascii_uppercase();
                    at = end;
                }
                Ok(String::from_utf8_lossy(&text).into_owned())
            }
            Some(&ORIGINAL) => {
                self.at += 1;
                let text = self.text()?;
                Ok(String::from_utf8_lossy(&self.bytes[text]).into_owned())
            }
            _ => Ok(lowered.into_owned()),
        }
    }
}

/// The body of a whole, undamaged search file: its records, from after the magic to
/// the end record (included).
fn checked(file: &[u8]) -> Result<&[u8], FileError> {
    if !file.starts_with(SEARCH_MAGIC) {
        return Err(if SEARCH_MAGIC.starts_with(file) { FileError::Unfinished } else { FileError::NotASearchFile });
    }
    if file.len() < SEARCH_MAGIC.len() + 4 {
        return Err(FileError::Unfinished);
    }
    let (body, crc) = file.split_at(file.len() - 4);
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(body) != crc {
        return Err(FileError::Damaged);
    }
    Ok(&body[SEARCH_MAGIC.len()..])
}

/// Whether a search file is whole and belongs to a recording of `recording_len` bytes.
pub fn check(file: &[u8], recording_len: u64) -> Result<(), FileError> {
    lines(checked(file)?, recording_len).map(|_| ())
}

/// Every record's start and the place of its lowercased text, in file order, once the
/// end record says the file is for this recording.
fn lines(body: &[u8], recording_len: u64) -> Result<Vec<(usize, std::ops::Range<usize>)>, FileError> {
    let mut cursor = Cursor { bytes: body, at: 0 };
    let mut lines = Vec::new();
    loop {
        let at = cursor.at;
        match cursor.record()? {
            Next::Line(_, line) => lines.push((at, line.text)),
            Next::End { recording_len: file_len } => {
                if cursor.at != body.len() {
                    return Err(FileError::BadRecord(cursor.at));
                }
                if file_len != recording_len {
                    return Err(FileError::Stale { file: file_len, recording: recording_len });
                }
                return Ok(lines);
            }
        }
    }
}

/// Every moment `needle` (case-insensitive) came into view, oldest first: the answer
/// [`super::search`] gives for the recording of `recording_len` bytes this file is of.
pub fn search(file: &[u8], recording_len: u64, needle: &str) -> Result<Vec<SearchHit>, FileError> {
    let needle = needle.to_lowercase();
    if needle.trim().is_empty() {
        return Ok(Vec::new());
    }
    if needle.contains('\n') {
        return Err(FileError::Multiline);
    }
    let body = checked(file)?;
    let lines = lines(body, recording_len)?;
    // The texts are stored lowercased: one pass over the whole body finds the needle;
    // a find that is not inside one text (it runs over a record's numbers) is not one.
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let mut matching: Vec<usize> = Vec::new(); // record starts
    let (mut from, mut k) = (0usize, 0usize);
    while let Some(found) = finder.find(&body[from..]) {
        let at = from + found;
        while k + 1 < lines.len() && lines[k + 1].1.start <= at {
            k += 1;
        }
        match lines.get(k) {
            Some((record, text)) if text.start <= at && at + needle.len() <= text.end => {
                matching.push(*record);
                from = text.end;
            }
            _ => from = at + 1,
        }
    }
    let mut shown: Vec<(u64, u64, u64, u32, usize)> = Vec::new();
    let mut passed: Vec<(u64, u64, usize)> = Vec::new();
    for at in matching {
        let mut cursor = Cursor { bytes: body, at };
        match cursor.record()? {
            Next::Line(Record::Shown { from, until, ms, line }, _) => shown.push((from, until, ms, line, at)),
            Next::Line(Record::Passed { seq, ms }, _) => passed.push((seq, ms, at)),
            Next::End { .. } => {}
        }
    }
    // When the text came into view: the start of a stretch that no earlier line
    // holding it covered, quoting the topmost line that brought it.
    shown.sort_unstable_by_key(|&(from, _, _, line, at)| (from, line, at));
    let mut moments: Vec<(u64, u64, usize)> = Vec::new(); // (sequence, ms, record)
    let mut covered: Vec<(u64, u64)> = Vec::new(); // disjoint stretches on screen, in order
    let mut reach = 0u64; // the end of the stretches starting before the current one
    let mut i = 0;
    while i < shown.len() {
        let from = shown[i].0;
        let same = shown[i..].iter().take_while(|s| s.0 == from).count();
        let until = shown[i..i + same].iter().map(|s| s.1).max().unwrap_or(from);
        // Nothing holding it was on the screen at the event before: it came into view.
        if covered.is_empty() || reach < from {
            moments.push((from, shown[i].2, shown[i].4));
            covered.push((from, until));
        } else if let Some(last) = covered.last_mut() {
            last.1 = last.1.max(until);
        }
        reach = reach.max(until);
        i += same;
    }
    // Text that went past: at an event after which it was not on the screen.
    let on_screen = |seq: u64| {
        let after = covered.partition_point(|&(from, _)| from <= seq);
        after > 0 && covered[after - 1].1 > seq
    };
    let mut last_passed = None;
    for &(seq, ms, record) in &passed {
        // The first line of the event's text that holds it (records keep their order).
        if last_passed == Some(seq) || on_screen(seq) {
            continue;
        }
        last_passed = Some(seq);
        moments.push((seq, ms, record));
    }
    moments.sort_unstable_by_key(|&(seq, _, record)| (seq, record));
    let mut hits: Vec<SearchHit> = Vec::new();
    for (_, ms, record) in moments {
        if hits.last().is_some_and(|h| ms < h.offset_ms + SAME_MOMENT_MS) {
            continue;
        }
        let mut cursor = Cursor { bytes: body, at: record };
        let Next::Line(_, line) = cursor.record()? else { continue };
        let line = cursor.original(&line)?;
        hits.push(SearchHit { offset_ms: ms, line: line.trim().chars().take(200).collect() });
        if hits.len() >= MAX_HITS {
            break;
        }
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_event, encode_start};
    use gatehouse_proto::pb::{Output, RecordingEvent, RecordingHeader, Resize};

    /// A deterministic pseudo-random source.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const WORDS: &[&str] = &[
        "needle",
        "NEEDLE",
        "Needle",
        "haystack",
        "ls",
        "-la",
        "src",
        "README.md",
        "Straße",
        "ΣΑΣ",
        "Kelvin\u{212a}",
        "proc-29",
        "proc-2",
        "x",
        "  ",
        "é",
        "日本語",
        "needles",
        "top",
    ];

    fn output(ms: u64, data: &[u8]) -> RecordingEvent {
        RecordingEvent { offset_ms: ms, event: Some(Event::Output(Output { data: data.to_vec() })) }
    }

    /// A session of prompts typed a key at a time, floods of lines (more than the
    /// screen holds, some in one event), lines rewritten with a carriage return, text
    /// split by colours and across events, wrapping lines, clears, a full-screen
    /// program, resizes, and events at the same millisecond.
    fn generated(seed: u64) -> Vec<u8> {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let rows = 2 + rng.below(7) as u32;
        let cols = 8 + rng.below(30) as u32;
        let mut bytes = encode_start(&RecordingHeader { cols, rows, ..Default::default() });
        let mut ms = 0u64;
        let mut events = Vec::new();
        for _ in 0..60 + rng.below(120) {
            ms += [0, 0, 1, 30, 400, 999, 1000, 1500, 7000][rng.below(9)] as u64;
            let word = rng.pick(WORDS);
            match rng.below(12) {
                0 | 1 => {
                    events.push(output(ms, b"\x1b[32m$\x1b[0m "));
                    for ch in format!("echo {word}").chars() {
                        ms += rng.below(300) as u64;
                        events.push(output(ms, ch.to_string().as_bytes()));
                    }
                    events.push(output(ms, b"\r\n"));
                }
                2 | 3 => {
                    let mut block = String::new();
                    for i in 0..1 + rng.below(3 * rows as usize) {
                        block.push_str(&format!("{i} {} {}\r\n", rng.pick(WORDS), rng.pick(WORDS)));
                    }
                    events.push(output(ms, block.as_bytes()));
                }
                4 => events.push(output(ms, format!("{word}\r{}\r\n", rng.pick(WORDS)).as_bytes())),
                5 => {
                    // A word split by a colour change, and across two events.
                    let (a, b) = word.split_at(word.char_indices().nth(word.chars().count() / 2).map_or(0, |(i, _)| i));
                    events.push(output(ms, format!("{a}\x1b[1m{b}\x1b[0m ").as_bytes()));
                    events.push(output(ms, a.as_bytes()));
                    events.push(output(ms + rng.below(2) as u64, format!("{b}\r\n").as_bytes()));
                }
                6 => events
                    .push(output(ms, format!("{}{word}\r\n", "w".repeat(rng.below(2 * cols as usize))).as_bytes())),
                7 => events.push(output(ms, b"\x1b[H\x1b[2J")),
                8 => {
                    events.push(output(ms, format!("\x1b[?1049h\x1b[H\x1b[2J{word} in a program").as_bytes()));
                    for f in 0..rng.below(4) {
                        ms += 1000;
                        events.push(output(ms, format!("\x1b[H{} {f}\x1b[K", rng.pick(WORDS)).as_bytes()));
                    }
                    events.push(output(ms, b"\x1b[?1049l"));
                }
                9 => {
                    let (c, r) = (8 + rng.below(30) as u32, 2 + rng.below(7) as u32);
                    events.push(RecordingEvent {
                        offset_ms: ms,
                        event: Some(Event::Resize(Resize { cols: c, rows: r })),
                    });
                }
                10 => events.push(output(ms, format!("\x1b[{}A{word}\x1b[B\r", 1 + rng.below(3)).as_bytes())),
                _ => events.push(output(ms, b"")),
            }
        }
        for event in &events {
            bytes.extend(encode_event(event));
        }
        bytes
    }

    const NEEDLES: &[&str] = &[
        "needle",
        "NEEDLE",
        "eedl",
        "needles",
        "haystack",
        "e",
        "x",
        "proc-2",
        "proc-29",
        "straße",
        "STRASSE",
        "σας",
        "ς",
        "k",
        "kelvin",
        "日本",
        "echo n",
        "0 n",
        "w needle",
        "in a program",
        "ls -la",
        " src",
        "$",
        "absent",
    ];

    #[test]
    fn the_search_file_answers_as_the_replay_does() {
        let mut compared = 0;
        for seed in 0..200 {
            let recording = generated(seed);
            let file = build(recording.as_slice()).unwrap().unwrap();
            for needle in NEEDLES {
                let replayed = super::super::search(recording.as_slice(), needle).unwrap();
                let read = search(&file, recording.len() as u64, needle).unwrap();
                assert_eq!(read, replayed, "seed {seed}, {needle:?}");
                compared += usize::from(!replayed.is_empty());
            }
        }
        assert!(compared > 1000, "the needles were found often enough to prove something: {compared}");
    }

    #[test]
    fn a_flood_that_goes_past_is_found_where_it_went_past() {
        let mut bytes = encode_start(&RecordingHeader { cols: 20, rows: 3, ..Default::default() });
        let mut flood = String::from("cat big\r\n");
        for i in 0..100 {
            flood.push_str(if i == 50 { "the Needle line\r\n" } else { "filler\r\n" });
        }
        bytes.extend(encode_event(&output(2000, flood.as_bytes())));
        bytes.extend(encode_event(&output(9000, b"needle\r\n")));
        let file = build(bytes.as_slice()).unwrap().unwrap();
        let hits = search(&file, bytes.len() as u64, "NEEDLE").unwrap();
        assert_eq!(
            hits.iter().map(|h| (h.offset_ms, h.line.as_str())).collect::<Vec<_>>(),
            [(2000, "the Needle line"), (9000, "needle")]
        );
        assert_eq!(hits, super::super::search(bytes.as_slice(), "NEEDLE").unwrap());
    }

    #[test]
    fn a_cut_short_damaged_or_stale_file_is_not_used() {
        let recording = generated(7);
        let len = recording.len() as u64;
        let file = build(recording.as_slice()).unwrap().unwrap();
        assert!(search(&file, len, "needle").is_ok());
        assert_eq!(search(&file[..file.len() - 10], len, "needle"), Err(FileError::Damaged));
        assert_eq!(search(&file[..5], len, "needle"), Err(FileError::Unfinished));
        let mut flipped = file.clone();
        flipped[file.len() / 2] ^= 0x20;
        assert_eq!(search(&flipped, len, "needle"), Err(FileError::Damaged));
        assert_eq!(search(b"GHREC01\nxxxx", len, "needle"), Err(FileError::NotASearchFile));
        assert_eq!(search(&file, len + 1, "needle"), Err(FileError::Stale { file: len, recording: len + 1 }));
        assert_eq!(search(&file, len, "two\nlines"), Err(FileError::Multiline));
        assert_eq!(search(&file, len, "   "), Ok(Vec::new()));
    }

    #[test]
    fn written_in_pieces_it_is_the_same_file() {
        let recording = generated(11);
        let whole = build(recording.as_slice()).unwrap().unwrap();
        // As the recorder writes it: a piece at every flush, the end at the finish.
        let mut reader = Reader::new();
        reader.push(&recording);
        let mut terminal = None;
        let mut writer = SearchWriter::new();
        let mut pieces = Vec::new();
        while let Some(item) = reader.next_item().unwrap() {
            match item {
                Item::Header(header) => terminal = Some(TerminalKeyframes::new(&header)),
                Item::Event { event, .. } => {
                    let terminal = terminal.as_mut().unwrap();
                    terminal.follow(&event);
                    if let Some(Event::Output(o)) = &event.event {
                        writer.output(event.offset_ms, &o.data, &terminal.text());
                    }
                    pieces.extend(writer.take());
                }
                Item::Skipped { .. } => {}
            }
        }
        pieces.extend(writer.finish(recording.len() as u64));
        assert_eq!(pieces.len(), whole.len());
        assert!(search(&pieces, recording.len() as u64, "needle").is_ok());
    }

    #[test]
    fn a_desktop_recording_has_no_search_file() {
        let header = RecordingHeader { kind: gatehouse_proto::pb::SessionKind::Desktop.into(), ..Default::default() };
        assert_eq!(build(encode_start(&header).as_slice()).unwrap(), None);
    }
}
