//! The desktop protocol's decoders on arbitrary bytes, both directions: the proxy's
//! reading of a browser message and its input checks, and the browser's reading of a
//! proxy message, its fast-path decoder and the recording player.
#![no_main]

use gatehouse_desktop::decoder::Decoder;
use gatehouse_desktop::input::InputEncoder;
use gatehouse_desktop::playback::Playback;
use gatehouse_proto::pb::{DesktopActivated, DesktopClientMessage, DesktopServerMessage, desktop_server_message};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let mut input = InputEncoder::new(640, 480, 1003, 1007, 1);
    if let Ok(DesktopClientMessage { message: Some(message) }) = DesktopClientMessage::decode(data) {
        let _ = input.handle(message);
    }
    let activated = DesktopActivated { io_channel_id: 1003, user_channel_id: 1007, share_id: 1, width: 64, height: 48 };
    let mut decoder = Decoder::new(&activated);
    if let Ok(DesktopServerMessage { message: Some(desktop_server_message::Message::FastPath(pdu)) }) =
        DesktopServerMessage::decode(data)
    {
        let _ = decoder.feed(&pdu);
    }
    // The raw bytes as one fast-path PDU, and as a recording.
    if let Ok(decoded) = decoder.feed(data) {
        for rect in decoded.dirty {
            assert!(u32::from(rect.x) + u32::from(rect.width) <= 64 && u32::from(rect.y) + u32::from(rect.height) <= 48);
            let _ = decoder.rect_pixels(rect);
        }
    }
    let mut playback = Playback::from_start();
    let _ = playback.push(data);
    let advance = playback.advance(u64::MAX);
    if let Some(decoder) = playback.decoder_mut() {
        for rect in advance.dirty {
            assert!(u32::from(rect.x) + u32::from(rect.width) <= u32::from(decoder.width()));
            assert!(u32::from(rect.y) + u32::from(rect.height) <= u32::from(decoder.height()));
            let _ = decoder.rect_pixels(rect);
        }
    }
});
