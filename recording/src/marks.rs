//! The marks a player shows on its timeline: who joined and left a session, and when.

use gatehouse_proto::api::TimelineMark;
use gatehouse_proto::pb::{ParticipantMode, RecordingEvent, recording_event::Event};

/// Every join and leave in `events`, in order.
pub fn participants(events: &[RecordingEvent]) -> Vec<TimelineMark> {
    events
        .iter()
        .filter_map(|event| match &event.event {
            Some(Event::Participant(p)) => {
                let mode = match ParticipantMode::try_from(p.mode) {
                    Ok(ParticipantMode::Peer) => "peer",
                    _ => "observer",
                };
                let moderator = if p.moderator { ", moderator" } else { "" };
                let (kind, verb) = if p.joined { ("joined", "joined") } else { ("left", "left") };
                Some(TimelineMark {
                    at_ms: event.offset_ms,
                    kind: kind.to_string(),
                    label: format!("{} {verb} ({mode}{moderator})", p.user),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_proto::pb::{Output, Participant};

    #[test]
    fn joins_and_leaves_become_marks_at_their_time() {
        let join = |ms, joined, mode: ParticipantMode| RecordingEvent {
            offset_ms: ms,
            event: Some(Event::Participant(Participant {
                user: "wes".into(),
                mode: mode.into(),
                joined,
                moderator: false,
            })),
        };
        let events = vec![
            RecordingEvent { offset_ms: 5, event: Some(Event::Output(Output { data: b"x".to_vec() })) },
            join(1_200, true, ParticipantMode::Observer),
            join(9_000, false, ParticipantMode::Peer),
        ];
        let marks = participants(&events);
        assert_eq!(marks.len(), 2);
        assert_eq!(
            (marks[0].at_ms, marks[0].kind.as_str(), marks[0].label.as_str()),
            (1_200, "joined", "wes joined (observer)")
        );
        assert_eq!(marks[1].label, "wes left (peer)");
    }
}
