//! Key presses to the bytes xterm sends, from a browser `KeyboardEvent`'s `key` and
//! modifier flags. `None` means "not ours": the page should let the browser act (a lone
//! modifier, a Meta/Cmd shortcut such as copy, a key with no terminal meaning).

/// The parts of a `KeyboardEvent` that decide the bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyInput<'a> {
    /// `KeyboardEvent.key`: "a", "A", "Enter", "ArrowUp", "F5", …
    pub key: &'a str,
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
    pub meta: bool,
}

/// `application_cursor`: the screen's DECCKM mode (vt100's `application_cursor()`),
/// set by full-screen programs such as vi and less.
pub fn encode_key(input: KeyInput<'_>, application_cursor: bool) -> Option<Vec<u8>> {
    if input.meta {
        return None;
    }
    // xterm's modifier parameter: 1 + Shift 1 + Alt 2 + Ctrl 4.
    let modifier = 1 + u8::from(input.shift) + 2 * u8::from(input.alt) + 4 * u8::from(input.ctrl);
    let csi_final = |letter: char| -> Vec<u8> {
        if modifier > 1 {
            format!("\x1b[1;{modifier}{letter}").into_bytes()
        } else if application_cursor {
            format!("\x1bO{letter}").into_bytes()
        } else {
            format!("\x1b[{letter}").into_bytes()
        }
    };
    let tilde = |number: u8| -> Vec<u8> {
        if modifier > 1 { format!("\x1b[{number};{modifier}~") } else { format!("\x1b[{number}~") }.into_bytes()
    };
    let function = |n: u8| -> Vec<u8> {
        match n {
            1..=4 => {
                let letter = char::from(b'P' + n - 1);
                if modifier > 1 { format!("\x1b[1;{modifier}{letter}") } else { format!("\x1bO{letter}") }.into_bytes()
            }
            _ => tilde([15, 17, 18, 19, 20, 21, 23, 24][usize::from(n - 5)]),
        }
    };
    let bytes = match input.key {
        "ArrowUp" => csi_final('A'),
        "ArrowDown" => csi_final('B'),
        "ArrowRight" => csi_final('C'),
        "ArrowLeft" => csi_final('D'),
        "Home" => csi_final('H'),
        "End" => csi_final('F'),
        "Insert" => tilde(2),
        "Delete" => tilde(3),
        "PageUp" => tilde(5),
        "PageDown" => tilde(6),
        "Enter" => with_alt(input.alt, vec![b'\r']),
        "Tab" if input.shift => b"\x1b[Z".to_vec(),
        "Tab" => with_alt(input.alt, vec![b'\t']),
        "Escape" => with_alt(input.alt, vec![0x1b]),
        "Backspace" => with_alt(input.alt, vec![if input.ctrl { 0x08 } else { 0x7f }]),
        key if key.len() > 1 && key.starts_with('F') => match key[1..].parse::<u8>() {
            Ok(n @ 1..=12) => function(n),
            _ => return None,
        },
        key => {
            let mut chars = key.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                // "Shift", "Control", "Dead", "Unidentified", …
                return None;
            };
            let base = if input.ctrl { control(c)? } else { c.to_string().into_bytes() };
            with_alt(input.alt, base)
        }
    };
    Some(bytes)
}

/// Alt sends ESC before the key, as xterm does with metaSendsEscape.
fn with_alt(alt: bool, mut bytes: Vec<u8>) -> Vec<u8> {
    if alt {
        bytes.insert(0, 0x1b);
    }
    bytes
}

/// Ctrl+key: the C0 control codes. `None` for keys Ctrl does not map.
fn control(c: char) -> Option<Vec<u8>> {
    let byte = match c {
        'a'..='z' => c as u8 - b'a' + 1,
        'A'..='Z' => c as u8 - b'A' + 1,
        ' ' | '@' | '2' => 0,
        '[' | '3' => 0x1b,
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '6' => 0x1e,
        '_' | '-' | '7' => 0x1f,
        '8' | '?' => 0x7f,
        _ => return None,
    };
    Some(vec![byte])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(key: &str) -> KeyInput<'_> {
        KeyInput { key, ..KeyInput::default() }
    }

    fn send(input: KeyInput<'_>) -> Vec<u8> {
        encode_key(input, false).unwrap()
    }

    #[test]
    fn printable_keys_send_their_text() {
        assert_eq!(send(key("a")), b"a");
        assert_eq!(send(KeyInput { shift: true, ..key("A") }), b"A");
        assert_eq!(send(key("é")), "é".as_bytes());
        assert_eq!(send(key("€")), "€".as_bytes(), "AltGr characters arrive as the character");
    }

    #[test]
    fn ctrl_letters_are_control_codes() {
        assert_eq!(send(KeyInput { ctrl: true, ..key("c") }), [0x03]);
        assert_eq!(send(KeyInput { ctrl: true, ..key("w") }), [0x17]);
        assert_eq!(send(KeyInput { ctrl: true, shift: true, ..key("D") }), [0x04]);
        assert_eq!(send(KeyInput { ctrl: true, ..key("[") }), [0x1b]);
        assert_eq!(send(KeyInput { ctrl: true, ..key(" ") }), [0x00]);
        assert_eq!(encode_key(KeyInput { ctrl: true, ..key("é") }, false), None);
    }

    #[test]
    fn alt_prefixes_escape() {
        assert_eq!(send(KeyInput { alt: true, ..key("b") }), b"\x1bb");
        assert_eq!(send(KeyInput { alt: true, ctrl: true, ..key("x") }), b"\x1b\x18");
        assert_eq!(send(KeyInput { alt: true, ..key("Backspace") }), b"\x1b\x7f");
    }

    #[test]
    fn arrows_follow_the_cursor_mode() {
        assert_eq!(send(key("ArrowUp")), b"\x1b[A");
        assert_eq!(encode_key(key("ArrowUp"), true).unwrap(), b"\x1bOA");
        assert_eq!(encode_key(key("Home"), true).unwrap(), b"\x1bOH");
        assert_eq!(send(KeyInput { ctrl: true, ..key("ArrowLeft") }), b"\x1b[1;5D");
        assert_eq!(encode_key(KeyInput { shift: true, ..key("ArrowRight") }, true).unwrap(), b"\x1b[1;2C");
    }

    #[test]
    fn editing_and_function_keys_match_xterm() {
        assert_eq!(send(key("Enter")), b"\r");
        assert_eq!(send(key("Backspace")), [0x7f]);
        assert_eq!(send(KeyInput { ctrl: true, ..key("Backspace") }), [0x08]);
        assert_eq!(send(key("Tab")), b"\t");
        assert_eq!(send(KeyInput { shift: true, ..key("Tab") }), b"\x1b[Z");
        assert_eq!(send(key("Delete")), b"\x1b[3~");
        assert_eq!(send(key("PageDown")), b"\x1b[6~");
        assert_eq!(send(key("F1")), b"\x1bOP");
        assert_eq!(send(key("F5")), b"\x1b[15~");
        assert_eq!(send(key("F12")), b"\x1b[24~");
        assert_eq!(send(KeyInput { ctrl: true, ..key("F5") }), b"\x1b[15;5~");
        assert_eq!(send(KeyInput { shift: true, ..key("F2") }), b"\x1b[1;2Q");
    }

    #[test]
    fn keys_that_are_not_ours_are_left_to_the_browser() {
        for name in ["Shift", "Control", "Alt", "Meta", "Dead", "Unidentified", "F13", "CapsLock"] {
            assert_eq!(encode_key(key(name), false), None, "{name}");
        }
        assert_eq!(encode_key(KeyInput { meta: true, ..key("c") }, false), None, "Cmd+C copies");
    }
}
