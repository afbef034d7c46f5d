//! Times a search both ways on an asciicast file: `cargo run --release -p
//! gatehouse-recording --example search_timing -- FILE.cast NEEDLE`.

use std::time::Instant;

use gatehouse_recording::{cast, encode_event, encode_start, search};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(needle)) = (args.next(), args.next()) else {
        eprintln!("usage: search_timing FILE.cast NEEDLE");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&path).expect("a readable file");
    let imported = cast::import(&text).expect("an asciicast");
    let mut recording = encode_start(&imported.header);
    for event in &imported.events {
        recording.extend(encode_event(event));
    }
    let started = Instant::now();
    let file = search::file::build(recording.as_slice()).expect("a recording").expect("a terminal's");
    let built = started.elapsed();
    if let Ok(out) = std::env::var("SEARCH_FILE_OUT") {
        std::fs::write(out, &file).expect("a writable file");
    }
    let started = Instant::now();
    let replayed = search::search(recording.as_slice(), &needle).expect("a recording");
    let replay = started.elapsed();
    let started = Instant::now();
    let read = search::file::search(&file, recording.len() as u64, &needle).expect("a search file");
    let from_file = started.elapsed();
    assert_eq!(read, replayed, "the two answers differ");
    println!(
        "recording {} bytes, search file {} bytes (built in {built:?}); {} hits: replay {replay:?}, file {from_file:?}",
        recording.len(),
        file.len(),
        read.len()
    );
}
