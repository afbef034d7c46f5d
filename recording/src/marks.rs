//! Marks: the moments on a recording's timeline worth a tick in the player, read from
//! its events (the proxy answers `/recordings/{id}/marks` with them): each file moved
//! over SFTP in the session ([`Event::Transfer`]), and each person joining or leaving it
//! ([`Event::Participant`]).

use std::io::Read;

use crate::format::{Item, Reader};
use crate::search::SearchError;
use gatehouse_proto::api::Mark;
use gatehouse_proto::pb::ParticipantMode;
use gatehouse_proto::pb::recording_event::Event;

/// Enough ticks for a timeline; a session that moved more files stops here.
const MAX_MARKS: usize = 1000;

/// Every mark in the recording, oldest first.
pub fn marks(mut file: impl Read) -> Result<Vec<Mark>, SearchError> {
    let mut reader = Reader::new();
    let mut marks = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(SearchError::Io)?;
        if n == 0 {
            return Ok(marks);
        }
        reader.push(&buf[..n]);
        while let Some(item) = reader.next_item().map_err(SearchError::Read)? {
            let Item::Event { event, .. } = item else { continue };
            if marks.len() >= MAX_MARKS {
                continue;
            }
            if let Some(Event::Participant(p)) = &event.event {
                let mode = match ParticipantMode::try_from(p.mode) {
                    Ok(ParticipantMode::Peer) => "peer",
                    _ => "observer",
                };
                let moderator = if p.moderator { ", moderator" } else { "" };
                let (kind, verb) = if p.joined { ("joined", "joined") } else { ("left", "left") };
                marks.push(Mark {
                    at_ms: event.offset_ms,
                    kind: kind.to_string(),
                    label: format!("{} {verb} ({mode}{moderator})", p.user),
                });
            }
            if let Some(Event::Transfer(transfer)) = &event.event {
                let arrow = if transfer.direction == "upload" { "↑" } else { "↓" };
                let hash = if transfer.sha256.is_empty() {
                    "no hash".to_string()
                } else {
                    format!("sha256 {}", transfer.sha256)
                };
                marks.push(Mark {
                    at_ms: event.offset_ms,
                    kind: "transfer".into(),
                    label: format!("{arrow} {} ({} bytes, {hash})", transfer.path, transfer.bytes),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{VERSION, encode_event, encode_start};
    use gatehouse_proto::pb::{self, RecordingEvent};

    #[test]
    fn transfers_are_marks_at_their_moments() {
        let header = pb::RecordingHeader { version: VERSION, cols: 80, rows: 24, ..Default::default() };
        let mut bytes = encode_start(&header);
        bytes.extend(encode_event(&RecordingEvent {
            offset_ms: 5,
            event: Some(Event::Output(pb::Output { data: b"$ ".to_vec() })),
        }));
        let transfer =
            pb::Transfer { path: "/tmp/a.bin".into(), direction: "upload".into(), bytes: 3, sha256: "ab".into() };
        bytes.extend(encode_event(&RecordingEvent { offset_ms: 1500, event: Some(Event::Transfer(transfer)) }));
        let found = marks(bytes.as_slice()).unwrap();
        assert_eq!(
            found,
            vec![Mark { at_ms: 1500, kind: "transfer".into(), label: "↑ /tmp/a.bin (3 bytes, sha256 ab)".into() }]
        );
    }

    #[test]
    fn joins_and_leaves_are_marks_at_their_moments() {
        let header = pb::RecordingHeader { version: VERSION, cols: 80, rows: 24, ..Default::default() };
        let mut bytes = encode_start(&header);
        let join = |ms, joined, mode: ParticipantMode| RecordingEvent {
            offset_ms: ms,
            event: Some(Event::Participant(pb::Participant {
                user: "wes".into(),
                mode: mode.into(),
                joined,
                moderator: false,
            })),
        };
        bytes.extend(encode_event(&join(1_200, true, ParticipantMode::Observer)));
        bytes.extend(encode_event(&join(9_000, false, ParticipantMode::Peer)));
        let found = marks(bytes.as_slice()).unwrap();
        let seen: Vec<_> = found.iter().map(|m| (m.at_ms, m.kind.as_str(), m.label.as_str())).collect();
        assert_eq!(seen, [(1_200, "joined", "wes joined (observer)"), (9_000, "left", "wes left (peer)")]);
    }
}
