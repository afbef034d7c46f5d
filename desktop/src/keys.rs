//! Key positions to PC/AT scan codes (set 1), the way RDP carries keys.
//!
//! The browser reports each key by its position (`KeyboardEvent.code`, named after the US
//! layout's legend), not by the character it types; sending the position lets the
//! desktop's own keyboard layout decide the character, so AZERTY, QWERTZ and AltGr
//! combinations type what they say on the keycap.

/// A scan code and whether it carries the extended (0xE0) prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scancode {
    pub code: u8,
    pub extended: bool,
}

const fn plain(code: u8) -> Option<Scancode> {
    Some(Scancode { code, extended: false })
}

const fn extended(code: u8) -> Option<Scancode> {
    Some(Scancode { code, extended: true })
}

/// The scan code of the key at `code` (a `KeyboardEvent.code` value), or `None` for a
/// position RDP has no scan code for (the caller may send the character instead).
pub fn scancode(code: &str) -> Option<Scancode> {
    match code {
        "Escape" => plain(0x01),
        "Digit1" => plain(0x02),
        "Digit2" => plain(0x03),
        "Digit3" => plain(0x04),
        "Digit4" => plain(0x05),
        "Digit5" => plain(0x06),
        "Digit6" => plain(0x07),
        "Digit7" => plain(0x08),
        "Digit8" => plain(0x09),
        "Digit9" => plain(0x0A),
        "Digit0" => plain(0x0B),
        "Minus" => plain(0x0C),
        "Equal" => plain(0x0D),
        "Backspace" => plain(0x0E),
        "Tab" => plain(0x0F),
        "KeyQ" => plain(0x10),
        "KeyW" => plain(0x11),
        "KeyE" => plain(0x12),
        "KeyR" => plain(0x13),
        "KeyT" => plain(0x14),
        "KeyY" => plain(0x15),
        "KeyU" => plain(0x16),
        "KeyI" => plain(0x17),
        "KeyO" => plain(0x18),
        "KeyP" => plain(0x19),
        "BracketLeft" => plain(0x1A),
        "BracketRight" => plain(0x1B),
        "Enter" => plain(0x1C),
        "ControlLeft" => plain(0x1D),
        "KeyA" => plain(0x1E),
        "KeyS" => plain(0x1F),
        "KeyD" => plain(0x20),
        "KeyF" => plain(0x21),
        "KeyG" => plain(0x22),
        "KeyH" => plain(0x23),
        "KeyJ" => plain(0x24),
        "KeyK" => plain(0x25),
        "KeyL" => plain(0x26),
        "Semicolon" => plain(0x27),
        "Quote" => plain(0x28),
        "Backquote" => plain(0x29),
        "ShiftLeft" => plain(0x2A),
        "Backslash" => plain(0x2B),
        "KeyZ" => plain(0x2C),
        "KeyX" => plain(0x2D),
        "KeyC" => plain(0x2E),
        "KeyV" => plain(0x2F),
        "KeyB" => plain(0x30),
        "KeyN" => plain(0x31),
        "KeyM" => plain(0x32),
        "Comma" => plain(0x33),
        "Period" => plain(0x34),
        "Slash" => plain(0x35),
        "ShiftRight" => plain(0x36),
        "NumpadMultiply" => plain(0x37),
        "AltLeft" => plain(0x38),
        "Space" => plain(0x39),
        "CapsLock" => plain(0x3A),
        "F1" => plain(0x3B),
        "F2" => plain(0x3C),
        "F3" => plain(0x3D),
        "F4" => plain(0x3E),
        "F5" => plain(0x3F),
        "F6" => plain(0x40),
        "F7" => plain(0x41),
        "F8" => plain(0x42),
        "F9" => plain(0x43),
        "F10" => plain(0x44),
        // Num Lock is a plain 0x45 in RDP (Pause is the odd one, below).
        "NumLock" => plain(0x45),
        "ScrollLock" => plain(0x46),
        "Numpad7" => plain(0x47),
        "Numpad8" => plain(0x48),
        "Numpad9" => plain(0x49),
        "NumpadSubtract" => plain(0x4A),
        "Numpad4" => plain(0x4B),
        "Numpad5" => plain(0x4C),
        "Numpad6" => plain(0x4D),
        "NumpadAdd" => plain(0x4E),
        "Numpad1" => plain(0x4F),
        "Numpad2" => plain(0x50),
        "Numpad3" => plain(0x51),
        "Numpad0" => plain(0x52),
        "NumpadDecimal" => plain(0x53),
        // The key between left Shift and Z on ISO keyboards (< > on many layouts).
        "IntlBackslash" => plain(0x56),
        "F11" => plain(0x57),
        "F12" => plain(0x58),
        "NumpadEqual" => plain(0x59),
        "F13" => plain(0x64),
        "F14" => plain(0x65),
        "F15" => plain(0x66),
        "F16" => plain(0x67),
        "F17" => plain(0x68),
        "F18" => plain(0x69),
        "F19" => plain(0x6A),
        "F20" => plain(0x6B),
        "F21" => plain(0x6C),
        "F22" => plain(0x6D),
        "F23" => plain(0x6E),
        "KanaMode" => plain(0x70),
        "Lang2" => plain(0x71),
        "Lang1" => plain(0x72),
        "IntlRo" => plain(0x73),
        "F24" => plain(0x76),
        "Convert" => plain(0x79),
        "NonConvert" => plain(0x7B),
        "IntlYen" => plain(0x7D),
        "NumpadComma" => plain(0x7E),
        "MediaTrackPrevious" => extended(0x10),
        "MediaTrackNext" => extended(0x19),
        "NumpadEnter" => extended(0x1C),
        "ControlRight" => extended(0x1D),
        "AudioVolumeMute" => extended(0x20),
        "LaunchApp2" => extended(0x21),
        "MediaPlayPause" => extended(0x22),
        "MediaStop" => extended(0x24),
        "AudioVolumeDown" => extended(0x2E),
        "AudioVolumeUp" => extended(0x30),
        "BrowserHome" => extended(0x32),
        "NumpadDivide" => extended(0x35),
        "PrintScreen" => extended(0x37),
        // AltGr on layouts that have it.
        "AltRight" => extended(0x38),
        "Pause" => extended(0x46),
        "Home" => extended(0x47),
        "ArrowUp" => extended(0x48),
        "PageUp" => extended(0x49),
        "ArrowLeft" => extended(0x4B),
        "ArrowRight" => extended(0x4D),
        "End" => extended(0x4F),
        "ArrowDown" => extended(0x50),
        "PageDown" => extended(0x51),
        "Insert" => extended(0x52),
        "Delete" => extended(0x53),
        "MetaLeft" => extended(0x5B),
        "MetaRight" => extended(0x5C),
        "ContextMenu" => extended(0x5D),
        "Power" => extended(0x5E),
        "Sleep" => extended(0x5F),
        "WakeUp" => extended(0x63),
        "BrowserSearch" => extended(0x65),
        "BrowserFavorites" => extended(0x66),
        "BrowserRefresh" => extended(0x67),
        "BrowserStop" => extended(0x68),
        "BrowserForward" => extended(0x69),
        "BrowserBack" => extended(0x6A),
        "LaunchApp1" => extended(0x6B),
        "LaunchMail" => extended(0x6C),
        "MediaSelect" => extended(0x6D),
        _ => None,
    }
}

/// The keys a menu sends for combinations the person's own computer keeps for itself.
pub const CTRL_ALT_DEL: [&str; 3] = ["ControlLeft", "AltLeft", "Delete"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_follow_the_rows_of_the_keyboard() {
        assert_eq!(scancode("KeyQ"), plain(0x10));
        assert_eq!(scancode("KeyA"), plain(0x1E));
        assert_eq!(scancode("KeyZ"), plain(0x2C));
        assert_eq!(scancode("KeyM"), plain(0x32));
    }

    #[test]
    fn navigation_keys_and_right_hand_modifiers_are_extended() {
        for code in
            ["ArrowUp", "ArrowDown", "Home", "End", "Delete", "Insert", "ControlRight", "AltRight", "NumpadEnter"]
        {
            assert!(scancode(code).unwrap().extended, "{code}");
        }
        // Their numeric-keypad twins share the code without the prefix.
        assert_eq!(scancode("Numpad8").unwrap().code, scancode("ArrowUp").unwrap().code);
        assert!(!scancode("Numpad8").unwrap().extended);
    }

    #[test]
    fn unknown_positions_have_no_scancode() {
        assert_eq!(scancode(""), None);
        assert_eq!(scancode("Unidentified"), None);
        assert_eq!(scancode("Fn"), None);
    }

    #[test]
    fn no_two_positions_share_a_scancode() {
        let codes = [
            "Escape",
            "Digit1",
            "Digit0",
            "Minus",
            "Equal",
            "Backspace",
            "Tab",
            "KeyQ",
            "KeyP",
            "BracketLeft",
            "BracketRight",
            "Enter",
            "ControlLeft",
            "KeyA",
            "Semicolon",
            "Quote",
            "Backquote",
            "ShiftLeft",
            "Backslash",
            "KeyZ",
            "Slash",
            "ShiftRight",
            "NumpadMultiply",
            "AltLeft",
            "Space",
            "CapsLock",
            "F1",
            "F10",
            "NumLock",
            "ScrollLock",
            "Numpad7",
            "NumpadSubtract",
            "NumpadAdd",
            "Numpad0",
            "NumpadDecimal",
            "IntlBackslash",
            "F11",
            "F12",
            "NumpadEnter",
            "ControlRight",
            "NumpadDivide",
            "PrintScreen",
            "AltRight",
            "Pause",
            "Home",
            "ArrowUp",
            "PageUp",
            "ArrowLeft",
            "ArrowRight",
            "End",
            "ArrowDown",
            "PageDown",
            "Insert",
            "Delete",
            "MetaLeft",
            "MetaRight",
            "ContextMenu",
        ];
        let mut seen = std::collections::HashMap::new();
        for code in codes {
            let sc = scancode(code).unwrap_or_else(|| panic!("{code} has no scancode"));
            if let Some(other) = seen.insert((sc.code, sc.extended), code) {
                panic!("{code} and {other} share {sc:?}");
            }
        }
    }
}
