//! The recording and index readers on arbitrary bytes, whole and in pieces.
#![no_main]

use gatehouse_recording::{self as recording, Reader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = recording::read_all(data);
    let _ = recording::read_index(data);
    // As a stream brings it: split where the first byte says.
    let step = 1 + usize::from(data.first().copied().unwrap_or(0) % 32);
    let mut reader = Reader::new();
    for chunk in data.chunks(step) {
        reader.push(chunk);
        while let Ok(Some(_)) = reader.next_item() {}
    }
    let _ = reader.finish();
});
