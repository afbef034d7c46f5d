//! Decodes a desktop recording's updates natively with the same decoder the browser
//! runs in wasm, and prints what it took as JSON: the native side of the desktop
//! benchmark (e2e/bench/desktop.mjs, BENCHMARKS.md).
//!
//! `cargo run --release -p gatehouse-desktop --example decode_recording -- FILE.ghrec [FROM_MS TO_MS]`

use std::time::Instant;

use gatehouse_desktop::decoder::Decoder;
use gatehouse_proto::pb::recording_event::Event;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: decode_recording FILE.ghrec [FROM_MS TO_MS]");
    let from: u64 = args.next().map_or(0, |a| a.parse().expect("FROM_MS"));
    let to: u64 = args.next().map_or(u64::MAX, |a| a.parse().expect("TO_MS"));
    let bytes = std::fs::read(&path).expect("read the recording");
    let recording = gatehouse_recording::read_all(&bytes).expect("a recording");
    let mut decoder = None;
    let (mut pdus, mut painted, mut pixels, mut wire, mut errors) = (0u64, 0u64, 0u64, 0u64, 0u64);
    // Updates that are surface commands (RemoteFX's carrier; plain bitmaps never are).
    let mut remotefx = 0u64;
    let mut decode_ms = 0.0f64;
    for event in &recording.events {
        match &event.event {
            Some(Event::DesktopActivated(activated)) => decoder = Some(Decoder::new(activated)),
            Some(Event::DesktopUpdate(pdu)) => {
                let Some(decoder) = decoder.as_mut() else { continue };
                let counted = event.offset_ms >= from && event.offset_ms <= to;
                let started = Instant::now();
                let result = decoder.feed(pdu);
                // Copying the changed rectangles out is part of the browser's paint; do it here too.
                let mut area = 0u64;
                if let Ok(decoded) = &result {
                    for rect in &decoded.dirty {
                        area += u64::from(rect.width) * u64::from(rect.height);
                        std::hint::black_box(decoder.rect_pixels(*rect));
                    }
                }
                let took = started.elapsed().as_secs_f64() * 1000.0;
                if counted {
                    remotefx += u64::from(is_surface_commands(pdu));
                    pdus += 1;
                    wire += pdu.len() as u64;
                    decode_ms += took;
                    errors += u64::from(result.is_err());
                    if area > 0 {
                        painted += 1;
                        pixels += area;
                    }
                }
            }
            _ => {}
        }
    }
    println!(
        "{{\"pdus\":{pdus},\"painted\":{painted},\"pixels\":{pixels},\"bytes\":{wire},\"decodeMs\":{decode_ms:.3},\"errors\":{errors},\"remotefx\":{remotefx}}}"
    );
}

/// Whether the first update of a fast-path PDU is surface commands (update code 4).
fn is_surface_commands(pdu: &[u8]) -> bool {
    // The header byte, then a length of one byte or (top bit set) two.
    let at = if pdu.get(1).is_some_and(|b| b & 0x80 != 0) { 3 } else { 2 };
    pdu.get(at).is_some_and(|b| b & 0x0f == 4)
}
