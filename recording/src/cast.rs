//! asciicast v2, the asciinema format: export a terminal recording to it, and import a
//! `.cast` file as a recording. No I/O here: bytes and text in, bytes and text out.
//!
//! A `.cast` file is a JSON header line (`version` 2, `width`, `height`, optional
//! `timestamp`, `title`, `env`), then one JSON array per line: `[seconds, code, data]`
//! with code `"o"` (output), `"i"` (input), `"r"` (resize, `"COLSxROWS"`) or `"m"`
//! (marker).

use gatehouse_proto::pb::{self, RecordingEvent, RecordingHeader, recording_event::Event};
use serde_json::{Value, json};

/// Writes `header` and `events` as asciicast v2. Output is split into events at byte
/// boundaries that may cut a UTF-8 character; the cut is carried to the next event so
/// every line holds valid text (bytes that are not UTF-8 at all become U+FFFD).
pub fn export(header: &RecordingHeader, events: &[RecordingEvent]) -> String {
    let title = if header.login.is_empty() {
        format!("{} on {}", header.user, header.target)
    } else {
        format!("{}@{} ({})", header.login, header.target, header.user)
    };
    let mut head = json!({
        "version": 2,
        "width": header.cols,
        "height": header.rows,
        "timestamp": header.started_at_ms / 1000,
        "title": title,
    });
    if !header.term.is_empty() {
        head["env"] = json!({ "TERM": header.term });
    }
    let mut out = head.to_string();
    out.push('\n');
    let mut pending: Vec<u8> = Vec::new();
    let seconds = |ms: u64| (ms as f64) / 1000.0;
    for event in events {
        match &event.event {
            Some(Event::Output(output)) => {
                pending.extend_from_slice(&output.data);
                let text = take_text(&mut pending);
                if !text.is_empty() {
                    out.push_str(&json!([seconds(event.offset_ms), "o", text]).to_string());
                    out.push('\n');
                }
            }
            Some(Event::Resize(resize)) => {
                out.push_str(
                    &json!([seconds(event.offset_ms), "r", format!("{}x{}", resize.cols, resize.rows)]).to_string(),
                );
                out.push('\n');
            }
            // asciicast's own code for what the client typed.
            Some(Event::Input(input)) => {
                out.push_str(&json!([seconds(event.offset_ms), "i", String::from_utf8_lossy(&input.data)]).to_string());
                out.push('\n');
            }
            _ => {}
        }
    }
    if !pending.is_empty() {
        let last = events.last().map_or(0, |e| e.offset_ms);
        out.push_str(&json!([seconds(last), "o", String::from_utf8_lossy(&pending)]).to_string());
        out.push('\n');
    }
    out
}

/// The longest prefix of `bytes` that is whole UTF-8 text (invalid bytes replaced),
/// leaving an incomplete character at the end for the next call.
fn take_text(bytes: &mut Vec<u8>) -> String {
    let keep = match std::str::from_utf8(bytes) {
        Ok(_) => 0,
        // An incomplete sequence at the very end: keep it for later.
        Err(err) if err.error_len().is_none() => bytes.len() - err.valid_up_to(),
        Err(_) => {
            // Invalid bytes somewhere: find whether the tail is merely incomplete.
            let tail_start = bytes.len().saturating_sub(3);
            (tail_start..bytes.len())
                .find(|&i| {
                    let b = bytes[i];
                    b >= 0xc0 && std::str::from_utf8(&bytes[i..]).err().is_some_and(|e| e.error_len().is_none())
                })
                .map_or(0, |i| bytes.len() - i)
        }
    };
    let rest = bytes.split_off(bytes.len() - keep);
    let text = String::from_utf8_lossy(bytes).into_owned();
    *bytes = rest;
    text
}

/// An imported cast: its header and events, and the lines that were skipped with why.
#[derive(Debug)]
pub struct Imported {
    pub header: RecordingHeader,
    pub events: Vec<RecordingEvent>,
    pub skipped: Vec<(usize, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CastError {
    #[error("the file is empty")]
    Empty,
    #[error("line 1 is not an asciicast header: {0}")]
    BadHeader(String),
    #[error("this is asciicast version {0}; only version 2 can be imported")]
    Version(u64),
}

/// Parses a `.cast` file. A bad header is an error; a bad event line is skipped and
/// reported (with its line number), so one damaged line does not lose the rest.
pub fn import(text: &str) -> Result<Imported, CastError> {
    let mut lines = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
    let (_, first) = lines.next().ok_or(CastError::Empty)?;
    let head: Value = serde_json::from_str(first).map_err(|err| CastError::BadHeader(err.to_string()))?;
    let Some(head) = head.as_object() else {
        return Err(CastError::BadHeader("it is not a JSON object".into()));
    };
    match head.get("version").and_then(Value::as_u64) {
        Some(2) => {}
        Some(other) => return Err(CastError::Version(other)),
        None => return Err(CastError::BadHeader("it has no version".into())),
    }
    let dimension = |key: &str| -> Result<u32, CastError> {
        head.get(key)
            .and_then(Value::as_u64)
            .filter(|v| (1..=1000).contains(v))
            .map(|v| v as u32)
            .ok_or_else(|| CastError::BadHeader(format!("{key} must be a number from 1 to 1000")))
    };
    let header = RecordingHeader {
        version: crate::format::VERSION,
        kind: pb::SessionKind::Ssh.into(),
        cols: dimension("width")?,
        rows: dimension("height")?,
        started_at_ms: head.get("timestamp").and_then(Value::as_u64).unwrap_or(0) * 1000,
        term: head.get("env").and_then(|e| e.get("TERM")).and_then(Value::as_str).unwrap_or("").to_string(),
        command: head.get("title").and_then(Value::as_str).unwrap_or("").to_string(),
        ..Default::default()
    };
    let mut events = Vec::new();
    let mut skipped = Vec::new();
    let mut last_ms = 0u64;
    for (index, line) in lines {
        match event_line(line) {
            Ok(None) => {}
            Ok(Some((ms, event))) => {
                // Times must not go backwards; a line that does is kept at the last time.
                last_ms = last_ms.max(ms);
                events.push(RecordingEvent { offset_ms: last_ms, event: Some(event) });
            }
            Err(why) => skipped.push((index + 1, why)),
        }
    }
    Ok(Imported { header, events, skipped })
}

fn event_line(line: &str) -> Result<Option<(u64, Event)>, String> {
    let value: Value = serde_json::from_str(line).map_err(|err| format!("not JSON: {err}"))?;
    let Some([time, code, data]) = value.as_array().map(Vec::as_slice) else {
        return Err("not a [time, code, data] array".into());
    };
    let seconds = time.as_f64().ok_or("the time is not a number")?;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("the time {seconds} is negative"));
    }
    if seconds > 1e9 {
        return Err(format!("the time {seconds} is beyond any session"));
    }
    let ms = (seconds * 1000.0).round() as u64;
    let data = data.as_str().ok_or("the data is not a string")?;
    match code.as_str() {
        Some("o") => Ok(Some((ms, Event::Output(pb::Output { data: data.as_bytes().to_vec() })))),
        Some("r") => {
            let (cols, rows) = data.split_once('x').ok_or("a resize is COLSxROWS")?;
            let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|n| (1..=1000).contains(n));
            match (parse(cols), parse(rows)) {
                (Some(cols), Some(rows)) => Ok(Some((ms, Event::Resize(pb::Resize { cols, rows })))),
                _ => Err(format!("the resize {data:?} is not COLSxROWS")),
            }
        }
        Some("i") => {
            Ok(Some((ms, Event::Input(pb::Input { data: data.as_bytes().to_vec(), participant: String::new() }))))
        }
        // Markers are a player's bookmarks, not part of the session.
        Some("m") => Ok(None),
        _ => Err(format!("unknown event code {code}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(ms: u64, data: &[u8]) -> RecordingEvent {
        RecordingEvent { offset_ms: ms, event: Some(Event::Output(pb::Output { data: data.to_vec() })) }
    }

    #[test]
    fn export_then_import_gives_the_same_output_and_sizes() {
        let header = RecordingHeader {
            cols: 80,
            rows: 24,
            user: "alice".into(),
            target: "web-1".into(),
            login: "ubuntu".into(),
            term: "xterm-256color".into(),
            started_at_ms: 1_700_000_000_000,
            ..Default::default()
        };
        // "é" split across two events, colours, a resize.
        let events = vec![
            output(0, b"caf\xc3"),
            output(250, b"\xa9 \x1b[31mred\x1b[0m\r\n"),
            RecordingEvent { offset_ms: 1000, event: Some(Event::Resize(pb::Resize { cols: 100, rows: 30 })) },
            output(1500, b"done\r\n"),
        ];
        let cast = export(&header, &events);
        let mut lines = cast.lines();
        let head: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(
            (head["version"].as_u64(), head["width"].as_u64(), head["height"].as_u64()),
            (Some(2), Some(80), Some(24))
        );
        assert_eq!(head["env"]["TERM"], "xterm-256color");
        let back = import(&cast).unwrap();
        assert!(back.skipped.is_empty());
        let bytes: Vec<u8> = back
            .events
            .iter()
            .filter_map(|e| match &e.event {
                Some(Event::Output(o)) => Some(o.data.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(bytes, "café \x1b[31mred\x1b[0m\r\ndone\r\n".as_bytes());
        assert!(back.events.iter().any(|e| matches!(e.event, Some(Event::Resize(pb::Resize { cols: 100, rows: 30 })))));
        assert_eq!(back.events.last().unwrap().offset_ms, 1500);
    }

    #[test]
    fn a_real_asciinema_file_imports() {
        // As asciinema 2 writes it.
        let cast = "{\"version\": 2, \"width\": 94, \"height\": 26, \"timestamp\": 1700000000, \"env\": {\"SHELL\": \"/bin/bash\", \"TERM\": \"xterm-256color\"}}\n\
                    [0.014587, \"o\", \"\\u001b[?2004h$ \"]\n\
                    [1.271203, \"i\", \"l\"]\n\
                    [1.271801, \"o\", \"ls\\r\\n\"]\n\
                    [2.5, \"r\", \"100x30\"]\n\
                    [3.0, \"m\", \"\"]\n";
        let imported = import(cast).unwrap();
        assert_eq!((imported.header.cols, imported.header.rows), (94, 26));
        // Output, the typed "l" (asciicast's input), output, the resize; markers are dropped.
        assert_eq!(imported.events.len(), 4);
        assert_eq!(imported.events[0].offset_ms, 15);
        assert!(matches!(&imported.events[1].event, Some(Event::Input(input)) if input.data == b"l"));
        assert!(imported.skipped.is_empty());
    }

    #[test]
    fn bad_lines_are_skipped_with_their_number_and_a_bad_header_is_an_error() {
        let cast = "{\"version\": 2, \"width\": 80, \"height\": 24}\n\
                    [0.5, \"o\", \"ok\"]\n\
                    not json\n\
                    [-1.0, \"o\", \"negative\"]\n\
                    [1.0, \"x\", \"unknown\"]\n\
                    [1.0, \"r\", \"wide\"]\n\
                    [2.0, \"o\", \"also ok\"]\n";
        let imported = import(cast).unwrap();
        assert_eq!(imported.events.len(), 2);
        assert_eq!(imported.skipped.iter().map(|(line, _)| *line).collect::<Vec<_>>(), [3, 4, 5, 6]);
        assert!(imported.skipped[1].1.contains("negative"));
        assert!(matches!(import(""), Err(CastError::Empty)));
        assert!(matches!(import("{\"version\": 1}"), Err(CastError::Version(1))));
        assert!(matches!(import("[1, 2]"), Err(CastError::BadHeader(_))));
        assert!(matches!(import("{\"version\": 2, \"width\": 0, \"height\": 24}"), Err(CastError::BadHeader(_))));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_lost_and_a_cut_character_is_carried() {
        let mut pending = b"ab\xffc\xe2\x82".to_vec();
        assert_eq!(take_text(&mut pending), "ab\u{fffd}c");
        assert_eq!(pending, b"\xe2\x82");
        pending.extend_from_slice(b"\xac!");
        assert_eq!(take_text(&mut pending), "€!");
        assert!(pending.is_empty());
    }
}
