//! What a paste sends. A terminal program that asked for bracketed paste gets the text
//! wrapped in ESC[200~ … ESC[201~, so it can tell a paste from typing; an end marker
//! inside the pasted text is removed, so the text cannot break out and run as typed
//! commands.

const START: &str = "\x1b[200~";
const END: &str = "\x1b[201~";

pub fn encode_paste(text: &str, bracketed: bool) -> Vec<u8> {
    // Terminals send Enter as CR; a pasted CRLF or LF is one Enter.
    let mut body = text.replace("\r\n", "\r").replace('\n', "\r");
    if !bracketed {
        return body.into_bytes();
    }
    while body.contains(END) {
        body = body.replace(END, "");
    }
    format!("{START}{body}{END}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_become_carriage_returns() {
        assert_eq!(encode_paste("a\nb\r\nc", false), b"a\rb\rc");
    }

    #[test]
    fn bracketed_paste_is_wrapped() {
        assert_eq!(encode_paste("ls", true), b"\x1b[200~ls\x1b[201~");
    }

    #[test]
    fn an_end_marker_inside_the_paste_cannot_escape() {
        let sent = encode_paste("x\x1b[201~rm -rf ~\n", true);
        let text = String::from_utf8(sent).unwrap();
        assert_eq!(text.matches(END).count(), 1);
        assert!(text.ends_with(END));
        let nested = encode_paste("\x1b[20\x1b[201~1~", true);
        assert_eq!(String::from_utf8(nested).unwrap().matches(END).count(), 1);
    }
}
