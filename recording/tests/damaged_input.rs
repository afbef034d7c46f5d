//! Damaged input never panics or hangs the readers: thousands of deterministic
//! mutations of a valid recording, index and asciicast file. (The fuzz targets in
//! `fuzz/` search the same space far longer; this runs on every `cargo test`.)

use gatehouse_proto::pb::{self, Keyframe, RecordingEvent, RecordingHeader, recording_event::Event};
use gatehouse_recording::{self as recording, Reader};
use prost::Message;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            1 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            2 => bytes.truncate(rng.below(bytes.len() + 1)),
            3 => {
                let at = rng.below(bytes.len() + 1);
                let junk: Vec<u8> = (0..rng.below(12)).map(|_| rng.next() as u8).collect();
                bytes.splice(at..at, junk);
            }
            _ if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {}
        }
    }
    bytes
}

fn sample_recording() -> Vec<u8> {
    let mut bytes = recording::encode_start(&RecordingHeader { version: 1, cols: 80, rows: 24, ..Default::default() });
    for i in 0..20u64 {
        let event = match i % 4 {
            0 => Event::Resize(pb::Resize { cols: 80 + i as u32, rows: 24 }),
            3 => Event::End(pb::End { reason: "exit".into(), exit_status: Some(0) }),
            _ => Event::Output(pb::Output { data: format!("line {i} \x1b[31mred\x1b[0m\r\n").into_bytes() }),
        };
        bytes.extend(recording::encode_event(&RecordingEvent { offset_ms: i * 100, event: Some(event) }));
    }
    bytes
}

#[test]
fn damaged_recordings_read_without_panicking() {
    let valid = sample_recording();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..5000 {
        let bytes = mutate(&mut rng, &valid);
        let _ = recording::read_all(&bytes);
        // Byte by byte as well, as a stream would bring it.
        let mut reader = Reader::new();
        for chunk in bytes.chunks(1 + rng.below(64)) {
            reader.push(chunk);
            while let Ok(Some(_)) = reader.next_item() {}
        }
        let _ = reader.finish();
    }
}

#[test]
fn damaged_indexes_read_without_panicking() {
    let mut valid = recording::INDEX_MAGIC.to_vec();
    for i in 0..10u64 {
        valid.extend(
            Keyframe {
                offset_ms: i * 5000,
                byte_offset: i * 999,
                cols: 80,
                rows: 24,
                screen_at: i * 40,
                screen_len: 40,
            }
            .encode_length_delimited_to_vec(),
        );
    }
    let mut rng = Rng(42);
    for _ in 0..5000 {
        let _ = recording::read_index(&mutate(&mut rng, &valid));
    }
}

#[test]
fn damaged_asciicasts_import_without_panicking() {
    let valid = "{\"version\": 2, \"width\": 80, \"height\": 24, \"env\": {\"TERM\": \"xterm\"}}\n\
                 [0.1, \"o\", \"hello \\u001b[1mworld\\u001b[0m\\r\\n\"]\n\
                 [0.5, \"r\", \"100x30\"]\n\
                 [1.25, \"i\", \"x\"]\n\
                 [2.0, \"o\", \"caf\\u00e9\"]\n";
    let mut rng = Rng(7);
    for _ in 0..5000 {
        let bytes = mutate(&mut rng, valid.as_bytes());
        let _ = gatehouse_recording::cast::import(&String::from_utf8_lossy(&bytes));
    }
}
