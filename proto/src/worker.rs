//! The messages between the page and the desktop worker (`desktop-worker/`), one enum
//! per direction: [`ToWorker`] (what the person does, and the player's controls) and
//! [`FromWorker`] (what the desktop or the recording did). They are the oneofs of
//! `proto/gatehouse/v1/worker.proto` and travel through `postMessage` as protobuf
//! bytes, made and read only by [`to_worker`], [`read_to_worker`] and their twins, so
//! the two sides cannot disagree on a field's name or type. Protobuf rather than JSON:
//! both bundles carry prost already for the desktop protocol, where JSON would add
//! serde_json and its derived readers (measured: 50 KB more desktop worker).
//!
//! The one thing that cannot be encoded, the `OffscreenCanvas` the worker draws on, is
//! transferred on its own just before [`ToWorker::Open`] or [`ToWorker::PlayOpen`]
//! (messages arrive in the order they were posted); those take the canvas last given.

use prost::Message as _;

pub use crate::pb::from_worker::Message as FromWorker;
pub use crate::pb::to_worker::Message as ToWorker;
pub use crate::pb::worker_cursor::Shape as CursorShape;
pub use crate::pb::{
    Nothing, WorkerClosed, WorkerCursor, WorkerCursorImage, WorkerKey, WorkerKeys, WorkerPosition, WorkerStats,
};

/// The bytes to post for `message`.
pub fn to_worker(message: ToWorker) -> Vec<u8> {
    crate::pb::ToWorker { message: Some(message) }.encode_to_vec()
}

/// The page's message in `bytes`, if they hold one.
pub fn read_to_worker(bytes: &[u8]) -> Option<ToWorker> {
    crate::pb::ToWorker::decode(bytes).ok()?.message
}

/// The bytes to post for `message`.
pub fn from_worker(message: FromWorker) -> Vec<u8> {
    crate::pb::FromWorker { message: Some(message) }.encode_to_vec()
}

/// The worker's message in `bytes`, if they hold one.
pub fn read_from_worker(bytes: &[u8]) -> Option<FromWorker> {
    crate::pb::FromWorker::decode(bytes).ok()?.message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::{DesktopButton, DesktopLocks, DesktopPointer, DesktopSize, DesktopWheel};

    #[test]
    fn every_message_to_the_worker_reads_back_as_it_was_sent() {
        let messages = [
            ToWorker::Open("wss://gatehouse.example/api/v1/desktops/lab-1/connect?width=800&height=600".into()),
            ToWorker::Key(WorkerKey { code: "KeyA".into(), key: Some("a".into()), down: true }),
            ToWorker::Key(WorkerKey { code: "IntlRo".into(), key: None, down: false }),
            ToWorker::Keys(WorkerKeys { codes: vec!["ControlLeft".into(), "AltLeft".into(), "Delete".into()] }),
            ToWorker::Release(Nothing {}),
            ToWorker::Pointer(DesktopPointer { x: 10, y: 20, button: DesktopButton::None.into(), down: false }),
            ToWorker::Pointer(DesktopPointer { x: 799, y: 599, button: DesktopButton::Right.into(), down: true }),
            ToWorker::Wheel(DesktopWheel { units: -120, horizontal: false }),
            ToWorker::Locks(DesktopLocks { caps_lock: true, num_lock: false, scroll_lock: true }),
            ToWorker::Clipboard("naïve \"quoted\"\n\u{1f600}".into()),
            ToWorker::Stats(Nothing {}),
            ToWorker::Close(Nothing {}),
            ToWorker::PlayOpen("/api/v1/recordings/0123abcd".into()),
            ToWorker::Play(Nothing {}),
            ToWorker::Pause(Nothing {}),
            ToWorker::SeekMs(0),
            ToWorker::SeekMs(3_600_000),
            ToWorker::Speed(0.25),
        ];
        for message in messages {
            assert_eq!(read_to_worker(&to_worker(message.clone())), Some(message));
        }
    }

    #[test]
    fn every_message_from_the_worker_reads_back_as_it_was_sent() {
        let cursor = |shape| FromWorker::Cursor(WorkerCursor { shape: Some(shape) });
        let messages = [
            FromWorker::Ready(Nothing {}),
            FromWorker::Activated(DesktopSize { width: 1024, height: 768 }),
            cursor(CursorShape::Default(Nothing {})),
            cursor(CursorShape::Hidden(Nothing {})),
            cursor(CursorShape::Image(WorkerCursorImage {
                width: 2,
                height: 1,
                hot_x: 1,
                hot_y: 0,
                rgba: vec![0, 255, 7, 128, 1, 2, 3, 4],
            })),
            FromWorker::Closed(WorkerClosed { code: 4410, reason: "The session ended: you signed out.".into() }),
            FromWorker::Clipboard("from the desktop".into()),
            FromWorker::PaintedAt(1_764_590_000_123.456),
            FromWorker::Stats(WorkerStats {
                pdus: 12,
                bytes: 34_567,
                painted: 11,
                pixels: 786_432,
                decode_ms: 1.5,
                paint_ms: 0.25,
            }),
            FromWorker::Loaded(DesktopSize { width: 1280, height: 720 }),
            FromWorker::Position(WorkerPosition { ms: 1500, playing: true, seeked: false }),
            FromWorker::EndedMs(9000),
            FromWorker::Error("The recording could not be read (the server answered 404).".into()),
        ];
        for message in messages {
            assert_eq!(read_from_worker(&from_worker(message.clone())), Some(message));
        }
    }

    #[test]
    fn bytes_that_hold_no_message_are_refused_not_guessed() {
        assert_eq!(read_to_worker(&[]), None, "an empty envelope");
        assert_eq!(read_from_worker(&[]), None);
        assert_eq!(read_to_worker(&[0x0a, 0x05, b'w', b's']), None, "cut short");
        assert_eq!(read_from_worker(b"{\"ready\":{}}"), None, "not protobuf");
    }
}
