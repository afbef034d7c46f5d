//! Search: the moments a text appeared in a recording (the proxy answers searches with it).
//!
//! "Appeared" means what a person watching would have seen: the text arriving on the
//! screen, or going past in output too fast to stay (a `cat` of a long file). [`search`]
//! finds it by replaying the recording through the terminal model; [`file`](mod@file) writes the
//! screen's text over time beside the recording as it is written, and answers the same
//! from it without a replay.

use std::io::Read;

pub mod file;

use crate::format::{Item, ReadError, Reader};
use gatehouse_proto::api::SearchHit;
use gatehouse_proto::pb::recording_event::Event;
use gatehouse_terminal::Terminal;

/// Hits closer together than this are one moment.
const SAME_MOMENT_MS: u64 = 1000;
/// Enough for a person to scan; a text on every screen of a long session stops here.
const MAX_HITS: usize = 500;

/// Every moment `needle` (case-insensitive) came into view, oldest first.
pub fn search(mut file: impl Read, needle: &str) -> Result<Vec<SearchHit>, SearchError> {
    let needle = needle.to_lowercase();
    if needle.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut reader = Reader::new();
    let mut term: Option<Terminal> = None;
    let mut on_screen = false;
    let mut hits: Vec<SearchHit> = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(SearchError::Io)?;
        if n == 0 {
            break;
        }
        reader.push(&buf[..n]);
        while let Some(item) = reader.next_item().map_err(SearchError::Read)? {
            match item {
                Item::Header(header) => {
                    term = Some(Terminal::new(header.rows.clamp(1, 1000) as u16, header.cols.clamp(1, 1000) as u16, 0));
                }
                Item::Event { event, .. } => {
                    let Some(term) = term.as_mut() else { continue };
                    match event.event {
                        Some(Event::Output(output)) => {
                            term.feed(&output.data);
                            let screen = term.text();
                            let now_on_screen = screen.to_lowercase().contains(&needle);
                            let passing = plain_text(&output.data);
                            let line_with = |text: &str| {
                                text.lines().find(|l| l.to_lowercase().contains(&needle)).map(str::to_string)
                            };
                            let line = if now_on_screen && !on_screen {
                                line_with(&screen)
                            } else if !now_on_screen && passing.to_lowercase().contains(&needle) {
                                line_with(&passing)
                            } else {
                                None
                            };
                            on_screen = now_on_screen;
                            if let Some(line) = line {
                                let recent =
                                    hits.last().is_some_and(|h| event.offset_ms < h.offset_ms + SAME_MOMENT_MS);
                                if !recent {
                                    hits.push(SearchHit {
                                        offset_ms: event.offset_ms,
                                        line: line.trim().chars().take(200).collect(),
                                    });
                                    if hits.len() >= MAX_HITS {
                                        return Ok(hits);
                                    }
                                }
                            }
                        }
                        Some(Event::Resize(resize)) => {
                            term.resize(resize.rows.clamp(1, 1000) as u16, resize.cols.clamp(1, 1000) as u16);
                        }
                        _ => {}
                    }
                }
                Item::Skipped { .. } => {}
            }
        }
    }
    Ok(hits)
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("cannot read the recording: {0}")]
    Io(std::io::Error),
    #[error("{0}")]
    Read(ReadError),
}

/// Output with escape sequences and control characters taken out, lines kept.
fn plain_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI: parameters, then one final byte in @..~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ST (ESC \).
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.peek() == Some(&'\\')) {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\n' => out.push('\n'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_event, encode_start};
    use gatehouse_proto::pb::{Output, RecordingEvent, RecordingHeader};

    fn file(events: &[(u64, &str)]) -> Vec<u8> {
        let mut bytes = encode_start(&RecordingHeader { cols: 20, rows: 3, ..Default::default() });
        for (ms, text) in events {
            let event = RecordingEvent {
                offset_ms: *ms,
                event: Some(Event::Output(Output { data: text.as_bytes().to_vec() })),
            };
            bytes.extend(encode_event(&event));
        }
        bytes
    }

    #[test]
    fn finds_when_a_text_comes_into_view_and_text_that_only_went_past() {
        let bytes = file(&[
            (0, "$ "),
            (1000, "echo \x1b[1mNeedle\x1b[0m\r\n"),
            (1500, "more\r\n"),
            (9000, "a\r\nb\r\nc\r\nd\r\n"),
            (20_000, "x\r\nneedle again\r\ny\r\nz\r\nw\r\n"),
        ]);
        let hits = search(bytes.as_slice(), "NEEDLE").unwrap();
        assert_eq!(hits.iter().map(|h| h.offset_ms).collect::<Vec<_>>(), [1000, 20_000]);
        assert_eq!(hits[0].line, "$ echo Needle");
        assert_eq!(hits[1].line, "needle again");
        assert!(search(bytes.as_slice(), "absent").unwrap().is_empty());
        assert!(search(bytes.as_slice(), "  ").unwrap().is_empty());
    }

    #[test]
    fn escape_sequences_are_not_text() {
        assert_eq!(plain_text(b"\x1b[1;31mred\x1b[0m \x1b]0;title\x07ok\r\n\x1b]2;t\x1b\\z"), "red ok\nz");
    }
}
