//! The proxy's side of input: what the browser says the person did, checked and turned
//! into RDP fast-path input PDUs. The browser never writes RDP itself, so a page (or
//! anything holding the socket) can only type, point and scroll.

use gatehouse_proto::pb::{
    DesktopButton, DesktopKey, DesktopLocks, DesktopPointer, DesktopUnicode, DesktopWheel, desktop_client_message,
};
use ironrdp_pdu::codecs::rfx::FrameAcknowledgePdu;
use ironrdp_pdu::input::fast_path::{FastPathInput, FastPathInputEvent, KeyboardFlags, SynchronizeFlags};
use ironrdp_pdu::input::mouse::PointerFlags;
use ironrdp_pdu::input::mouse_x::PointerXFlags;
use ironrdp_pdu::input::{MousePdu, MouseXPdu};
use ironrdp_pdu::mcs::SendDataRequest;
use ironrdp_pdu::rdp::client_info::CompressionType;
use ironrdp_pdu::rdp::headers::{
    CompressionFlags, ShareControlHeader, ShareControlPdu, ShareDataHeader, ShareDataPdu, StreamPriority,
};
use ironrdp_pdu::x224::X224;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("a scan code must be below 256 (got {0})")]
    Scancode(u32),
    #[error("a character must be a UTF-16 code unit or a Unicode code point (got {0:#x})")]
    CodeUnit(u32),
    #[error(
        "text typed at once must be at most {MAX_TEXT_UNITS} UTF-16 code units (got {0}); paste longer text instead"
    )]
    TextTooLong(usize),
    #[error("unknown mouse button {0}")]
    Button(i32),
    #[error("the browser's response is not a frame acknowledgement for this session")]
    Response,
}

/// Turns input into PDUs for one session; knows the desktop's size to keep the pointer on it.
pub struct InputEncoder {
    width: u16,
    height: u16,
    io_channel_id: u16,
    user_channel_id: u16,
    share_id: u32,
    /// Where the pointer last was: button and wheel events happen there.
    x: u16,
    y: u16,
}

/// The most text one message may type (in UTF-16 code units): an input method's commit
/// or a dictated sentence, not a document (the clipboard carries those).
pub const MAX_TEXT_UNITS: usize = 1024;
/// Fast-path input PDUs carry at most this many events each (the count is one byte).
const EVENTS_PER_PDU: usize = 255;

/// The UTF-16 code units a character is typed as: one, or a surrogate pair for a code
/// point above 0xFFFF. A single code unit passes as it is (a surrogate half included:
/// pages sent pairs as two messages); anything above 0x10FFFF is refused.
pub fn code_units(value: u32) -> Result<Vec<u16>, InputError> {
    if let Ok(unit) = u16::try_from(value) {
        return Ok(vec![unit]);
    }
    let c = char::from_u32(value).ok_or(InputError::CodeUnit(value))?;
    Ok(c.encode_utf16(&mut [0; 2]).to_vec())
}

/// Text as Unicode keyboard events: each UTF-16 code unit pressed then released, in
/// order (astral characters as their surrogate pairs, high half first).
pub fn text_events(text: &str) -> Vec<FastPathInputEvent> {
    text.encode_utf16()
        .flat_map(|unit| {
            [
                FastPathInputEvent::UnicodeKeyboardEvent(KeyboardFlags::empty(), unit),
                FastPathInputEvent::UnicodeKeyboardEvent(KeyboardFlags::RELEASE, unit),
            ]
        })
        .collect()
}

/// One wheel event carries at most this many units (9-bit signed on the wire).
const WHEEL_STEP: i32 = 255;
/// Bigger wheel motions than this in one message are cut (ten notches).
const WHEEL_MAX: i32 = 1200;

impl InputEncoder {
    pub fn new(width: u16, height: u16, io_channel_id: u16, user_channel_id: u16, share_id: u32) -> InputEncoder {
        InputEncoder {
            width: width.max(1),
            height: height.max(1),
            io_channel_id,
            user_channel_id,
            share_id,
            x: 0,
            y: 0,
        }
    }

    fn pdu(events: Vec<FastPathInputEvent>) -> Vec<u8> {
        let input = FastPathInput::new(events).expect("between 1 and 255 events");
        ironrdp_core::encode_vec(&input).expect("fast-path input always encodes")
    }

    pub fn key(&mut self, key: &DesktopKey) -> Result<Vec<u8>, InputError> {
        let code = u8::try_from(key.scancode).map_err(|_| InputError::Scancode(key.scancode))?;
        let mut flags = KeyboardFlags::empty();
        flags.set(KeyboardFlags::EXTENDED, key.extended);
        flags.set(KeyboardFlags::RELEASE, !key.down);
        Ok(Self::pdu(vec![FastPathInputEvent::KeyboardEvent(flags, code)]))
    }

    pub fn unicode(&mut self, unicode: &DesktopUnicode) -> Result<Vec<u8>, InputError> {
        let flags = if unicode.down { KeyboardFlags::empty() } else { KeyboardFlags::RELEASE };
        let events = code_units(unicode.code_unit)?
            .into_iter()
            .map(|unit| FastPathInputEvent::UnicodeKeyboardEvent(flags, unit))
            .collect();
        Ok(Self::pdu(events))
    }

    /// Text with no key position, typed as Unicode keyboard events: one or more PDUs,
    /// back to back; nothing for empty text.
    pub fn text(&mut self, text: &str) -> Result<Option<Vec<u8>>, InputError> {
        let units = text.encode_utf16().count();
        if units > MAX_TEXT_UNITS {
            return Err(InputError::TextTooLong(units));
        }
        let events = text_events(text);
        Ok((!events.is_empty())
            .then(|| events.chunks(EVENTS_PER_PDU).flat_map(|chunk| Self::pdu(chunk.to_vec())).collect()))
    }

    pub fn locks(&mut self, locks: &DesktopLocks) -> Vec<u8> {
        let mut flags = SynchronizeFlags::empty();
        flags.set(SynchronizeFlags::CAPS_LOCK, locks.caps_lock);
        flags.set(SynchronizeFlags::NUM_LOCK, locks.num_lock);
        flags.set(SynchronizeFlags::SCROLL_LOCK, locks.scroll_lock);
        Self::pdu(vec![FastPathInputEvent::SyncEvent(flags)])
    }

    pub fn pointer(&mut self, pointer: &DesktopPointer) -> Result<Vec<u8>, InputError> {
        self.x = u16::try_from(pointer.x).unwrap_or(u16::MAX).min(self.width - 1);
        self.y = u16::try_from(pointer.y).unwrap_or(u16::MAX).min(self.height - 1);
        let (x_position, y_position) = (self.x, self.y);
        let button = DesktopButton::try_from(pointer.button).map_err(|_| InputError::Button(pointer.button))?;
        let basic = |flag: PointerFlags| {
            let flags = if pointer.down { flag | PointerFlags::DOWN } else { flag };
            FastPathInputEvent::MouseEvent(MousePdu {
                flags,
                number_of_wheel_rotation_units: 0,
                x_position,
                y_position,
            })
        };
        let extra = |flag: PointerXFlags| {
            let flags = if pointer.down { flag | PointerXFlags::DOWN } else { flag };
            FastPathInputEvent::MouseEventEx(MouseXPdu { flags, x_position, y_position })
        };
        let event = match button {
            DesktopButton::None => basic(PointerFlags::MOVE),
            DesktopButton::Left => basic(PointerFlags::LEFT_BUTTON),
            DesktopButton::Right => basic(PointerFlags::RIGHT_BUTTON),
            DesktopButton::Middle => basic(PointerFlags::MIDDLE_BUTTON_OR_WHEEL),
            DesktopButton::Back => extra(PointerXFlags::BUTTON1),
            DesktopButton::Forward => extra(PointerXFlags::BUTTON2),
        };
        Ok(Self::pdu(vec![event]))
    }

    /// Wheel motion where the pointer is; big motions become several events.
    pub fn wheel(&mut self, wheel: &DesktopWheel) -> Option<Vec<u8>> {
        let mut left = wheel.units.clamp(-WHEEL_MAX, WHEEL_MAX);
        let axis = if wheel.horizontal { PointerFlags::HORIZONTAL_WHEEL } else { PointerFlags::VERTICAL_WHEEL };
        let mut events = Vec::new();
        while left != 0 {
            let step = left.clamp(-WHEEL_STEP, WHEEL_STEP);
            left -= step;
            events.push(FastPathInputEvent::MouseEvent(MousePdu {
                flags: axis,
                number_of_wheel_rotation_units: step as i16,
                x_position: self.x,
                y_position: self.y,
            }));
        }
        (!events.is_empty()).then(|| Self::pdu(events))
    }

    /// What one browser message asks of the desktop: the PDU to send, nothing, or why it
    /// is refused.
    pub fn handle(&mut self, message: desktop_client_message::Message) -> Result<Option<Vec<u8>>, InputError> {
        use desktop_client_message::Message as M;
        match message {
            M::Response(response) => self.acknowledgement(&response).map(Some),
            M::Key(key) => self.key(&key).map(Some),
            M::Unicode(unicode) => self.unicode(&unicode).map(Some),
            M::Text(text) => self.text(&text),
            M::Pointer(pointer) => self.pointer(&pointer).map(Some),
            M::Wheel(wheel) => Ok(self.wheel(&wheel)),
            M::Locks(locks) => Ok(Some(self.locks(&locks))),
            // Clipboard text is the session's to hand to the clipboard channel (it never
            // reaches here); live resizing (display control) is not built: the page
            // reconnects at a new size instead.
            M::Clipboard(_) | M::Resize(_) => Ok(None),
        }
    }

    /// The browser's decoder answers frame markers with frame acknowledgements (the
    /// desktop paces itself by them). Only that passes, and not as the browser's bytes:
    /// the proxy reads the frame number and writes the acknowledgement itself, for this
    /// session's user and channel, so nothing the browser appends can ride along.
    pub fn acknowledgement(&self, response: &[u8]) -> Result<Vec<u8>, InputError> {
        let X224(request) =
            ironrdp_core::decode::<X224<SendDataRequest<'_>>>(response).map_err(|_| InputError::Response)?;
        if request.initiator_id != self.user_channel_id || request.channel_id != self.io_channel_id {
            return Err(InputError::Response);
        }
        let header =
            ironrdp_core::decode::<ShareControlHeader>(&request.user_data).map_err(|_| InputError::Response)?;
        let ShareControlPdu::Data(data) = header.share_control_pdu else { return Err(InputError::Response) };
        let ShareDataPdu::FrameAcknowledge(ack) = data.share_data_pdu else { return Err(InputError::Response) };
        let share = ShareControlHeader {
            share_control_pdu: ShareControlPdu::Data(ShareDataHeader {
                share_data_pdu: ShareDataPdu::FrameAcknowledge(FrameAcknowledgePdu { frame_id: ack.frame_id }),
                stream_priority: StreamPriority::Medium,
                compression_flags: CompressionFlags::empty(),
                compression_type: CompressionType::K8,
            }),
            pdu_source: self.user_channel_id,
            share_id: self.share_id,
        };
        let user_data = ironrdp_core::encode_vec(&share).map_err(|_| InputError::Response)?;
        let request = SendDataRequest {
            initiator_id: self.user_channel_id,
            channel_id: self.io_channel_id,
            user_data: user_data.into(),
        };
        ironrdp_core::encode_vec(&X224(request)).map_err(|_| InputError::Response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<FastPathInputEvent> {
        ironrdp_core::decode::<FastPathInput>(bytes).unwrap().input_events().to_vec()
    }

    fn encoder() -> InputEncoder {
        InputEncoder::new(1024, 768, 1003, 1007, 0x10000)
    }

    #[test]
    fn keys_carry_their_scancode_and_direction() {
        let mut enc = encoder();
        let down = enc.key(&DesktopKey { scancode: 0x1E, extended: false, down: true }).unwrap();
        assert_eq!(decode(&down), vec![FastPathInputEvent::KeyboardEvent(KeyboardFlags::empty(), 0x1E)]);
        let up = enc.key(&DesktopKey { scancode: 0x38, extended: true, down: false }).unwrap();
        assert_eq!(
            decode(&up),
            vec![FastPathInputEvent::KeyboardEvent(KeyboardFlags::RELEASE | KeyboardFlags::EXTENDED, 0x38)]
        );
        assert_eq!(enc.key(&DesktopKey { scancode: 300, extended: false, down: true }), Err(InputError::Scancode(300)));
    }

    #[test]
    fn characters_beyond_the_basic_plane_go_as_surrogate_pairs() {
        assert_eq!(code_units(u32::from('é')), Ok(vec![0xE9]));
        assert_eq!(code_units(0x1F642), Ok(vec![0xD83D, 0xDE42]), "🙂");
        assert_eq!(code_units(0xD83D), Ok(vec![0xD83D]), "a half sent on its own passes as it is");
        assert_eq!(code_units(0x11_0000), Err(InputError::CodeUnit(0x11_0000)));
        let mut enc = encoder();
        let down = enc.unicode(&DesktopUnicode { code_unit: 0x1F642, down: true }).unwrap();
        assert_eq!(
            decode(&down),
            vec![
                FastPathInputEvent::UnicodeKeyboardEvent(KeyboardFlags::empty(), 0xD83D),
                FastPathInputEvent::UnicodeKeyboardEvent(KeyboardFlags::empty(), 0xDE42),
            ]
        );
        assert_eq!(
            enc.unicode(&DesktopUnicode { code_unit: u32::MAX, down: true }),
            Err(InputError::CodeUnit(u32::MAX))
        );
    }

    #[test]
    fn text_is_each_code_unit_pressed_then_released_in_order() {
        use KeyboardFlags as F;
        let press = |unit| FastPathInputEvent::UnicodeKeyboardEvent(F::empty(), unit);
        let release = |unit| FastPathInputEvent::UnicodeKeyboardEvent(F::RELEASE, unit);
        assert_eq!(
            text_events("日🙂"),
            vec![press(0x65E5), release(0x65E5), press(0xD83D), release(0xD83D), press(0xDE42), release(0xDE42)]
        );
        let mut enc = encoder();
        assert_eq!(decode(&enc.text("日🙂").unwrap().unwrap()), text_events("日🙂"));
        assert_eq!(enc.text(""), Ok(None));
    }

    #[test]
    fn long_text_fills_several_pdus_and_too_long_text_is_refused() {
        let mut enc = encoder();
        let text = "a".repeat(MAX_TEXT_UNITS);
        let bytes = enc.text(&text).unwrap().unwrap();
        // The PDUs back to back, each decoded where the one before it ended.
        let (mut rest, mut events) = (&bytes[..], Vec::new());
        while !rest.is_empty() {
            let mut cursor = ironrdp_core::ReadCursor::new(rest);
            let pdu = <FastPathInput as ironrdp_core::Decode>::decode(&mut cursor).unwrap();
            assert!(pdu.input_events().len() <= EVENTS_PER_PDU);
            events.extend_from_slice(pdu.input_events());
            rest = &rest[cursor.pos()..];
        }
        assert_eq!(events, text_events(&text));
        let refused = enc.text(&"🙂".repeat(MAX_TEXT_UNITS / 2 + 1));
        assert_eq!(refused, Err(InputError::TextTooLong(MAX_TEXT_UNITS + 2)));
        assert!(refused.unwrap_err().to_string().contains("at most 1024"));
    }

    #[test]
    fn the_pointer_stays_on_the_desktop_and_buttons_press_where_it_is() {
        let mut enc = encoder();
        let moved = enc.pointer(&DesktopPointer { x: 5000, y: 10, button: 0, down: false }).unwrap();
        let FastPathInputEvent::MouseEvent(mouse) = decode(&moved)[0] else { panic!() };
        assert_eq!((mouse.x_position, mouse.y_position, mouse.flags), (1023, 10, PointerFlags::MOVE));
        let pressed =
            enc.pointer(&DesktopPointer { x: 20, y: 30, button: DesktopButton::Right as i32, down: true }).unwrap();
        let FastPathInputEvent::MouseEvent(mouse) = decode(&pressed)[0] else { panic!() };
        assert_eq!(mouse.flags, PointerFlags::RIGHT_BUTTON | PointerFlags::DOWN);
        let back =
            enc.pointer(&DesktopPointer { x: 20, y: 30, button: DesktopButton::Back as i32, down: false }).unwrap();
        assert!(matches!(decode(&back)[0], FastPathInputEvent::MouseEventEx(m) if m.flags == PointerXFlags::BUTTON1));
        assert_eq!(enc.pointer(&DesktopPointer { x: 0, y: 0, button: 99, down: true }), Err(InputError::Button(99)));
    }

    #[test]
    fn big_wheel_motions_split_into_events_that_fit_the_wire() {
        let mut enc = encoder();
        let events = decode(&enc.wheel(&DesktopWheel { units: -600, horizontal: false }).unwrap());
        let units: Vec<i16> = events
            .iter()
            .map(|e| match e {
                FastPathInputEvent::MouseEvent(m) => {
                    assert!(m.flags.contains(PointerFlags::VERTICAL_WHEEL));
                    m.number_of_wheel_rotation_units
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(units.iter().map(|&u| i32::from(u)).sum::<i32>(), -600);
        assert!(units.iter().all(|u| MousePdu::WHEEL_ROTATION_RANGE.contains(u)));
        assert!(enc.wheel(&DesktopWheel { units: 0, horizontal: true }).is_none());
        let huge = decode(&enc.wheel(&DesktopWheel { units: i32::MAX, horizontal: true }).unwrap());
        assert!(huge.len() <= 5);
    }

    fn acknowledgement(initiator_id: u16, channel_id: u16) -> Vec<u8> {
        let share = ShareControlHeader {
            share_control_pdu: ShareControlPdu::Data(ShareDataHeader {
                share_data_pdu: ShareDataPdu::FrameAcknowledge(FrameAcknowledgePdu { frame_id: 7 }),
                stream_priority: StreamPriority::Medium,
                compression_flags: CompressionFlags::empty(),
                compression_type: CompressionType::K8,
            }),
            pdu_source: initiator_id,
            share_id: 0x10000,
        };
        let user_data = ironrdp_core::encode_vec(&share).unwrap();
        ironrdp_core::encode_vec(&X224(SendDataRequest { initiator_id, channel_id, user_data: user_data.into() }))
            .unwrap()
    }

    #[test]
    fn frame_acknowledgements_of_this_session_pass_as_the_proxy_writes_them() {
        let enc = encoder();
        let ack = acknowledgement(1007, 1003);
        assert_eq!(enc.acknowledgement(&ack), Ok(ack.clone()), "the same PDU, written by us");
        assert_eq!(enc.acknowledgement(&acknowledgement(1007, 1004)), Err(InputError::Response));
        assert_eq!(enc.acknowledgement(&acknowledgement(1008, 1003)), Err(InputError::Response));
        // Bytes smuggled after a valid acknowledgement do not reach the desktop.
        let mut smuggled = ack.clone();
        smuggled
            .extend_from_slice(&encoder().key(&DesktopKey { scancode: 0x1D, extended: false, down: true }).unwrap());
        assert_eq!(enc.acknowledgement(&smuggled), Ok(ack));
    }

    #[test]
    fn responses_other_than_acknowledgements_are_refused() {
        let enc = encoder();
        assert_eq!(enc.acknowledgement(b"\x03\x00\x00\x07garbage"), Err(InputError::Response));
        assert_eq!(enc.acknowledgement(&[]), Err(InputError::Response));
        // An input PDU is not a response.
        let key = encoder().key(&DesktopKey { scancode: 1, extended: false, down: true }).unwrap();
        assert_eq!(enc.acknowledgement(&key), Err(InputError::Response));
    }
}
