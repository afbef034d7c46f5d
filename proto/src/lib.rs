//! What the browser and the proxy must agree on, in one place.
//!
//! - [`api`]: the JSON bodies of the `/api/v1` endpoints (serde).
//! - [`pb`]: protobuf messages built from `proto/` (prost): the recording format's
//!   records (read and written by `gatehouse-recording`) and the desktop protocol.
//! - [`worker`]: the messages between the page and the desktop worker.
//! - [`layout`]: the keyboard layouts a desktop session may announce, by tag.

pub mod api;
pub mod layout;
pub mod worker;

/// Messages generated from `proto/gatehouse/v1/*.proto`.
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/gatehouse.v1.rs"));
}

#[cfg(test)]
mod tests {
    use super::pb;
    use prost::Message;

    #[test]
    fn recording_event_round_trips_through_protobuf() {
        let event = pb::RecordingEvent {
            offset_ms: 1500,
            event: Some(pb::recording_event::Event::Output(pb::Output { data: b"\x1b[1mhello\x1b[0m\r\n".to_vec() })),
        };
        let bytes = event.encode_length_delimited_to_vec();
        let back = pb::RecordingEvent::decode_length_delimited(bytes.as_slice()).unwrap();
        assert_eq!(back, event);
    }
}
