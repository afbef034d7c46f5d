//! Text that does not come from a key press: what an input method (IME), dictation or
//! an on-screen keyboard gives the page, through composition events and `beforeinput`.
//! The page feeds the browser's events in; out come the bytes for the node (UTF-8) and
//! the text being composed, to show at the cursor until it is committed or cancelled.
//!
//! Key presses keep going through [`crate::encode_key`]; [`key_is_text_input`] says which
//! `keydown`s belong to an input method instead, so nothing is sent twice.

/// One terminal's text input: whether a composition is going on, and its text so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TextInput {
    composing: Option<String>,
}

/// A `keydown` that an input method is handling (`isComposing`, or the `Process`
/// placeholder some send before composing): the key's bytes come as text instead, if
/// at all, so the key itself must send nothing.
pub fn key_is_text_input(key: &str, is_composing: bool) -> bool {
    is_composing || key == "Process"
}

impl TextInput {
    pub fn new() -> TextInput {
        TextInput::default()
    }

    /// The text being composed, while a composition is going on and has any.
    pub fn preedit(&self) -> Option<&str> {
        self.composing.as_deref().filter(|text| !text.is_empty())
    }

    pub fn is_composing(&self) -> bool {
        self.composing.is_some()
    }

    /// `compositionstart`.
    pub fn composition_start(&mut self) {
        self.composing = Some(String::new());
    }

    /// `compositionupdate`: the whole composition so far (it replaces, not appends).
    pub fn composition_update(&mut self, data: &str) {
        self.composing = Some(data.to_string());
    }

    /// `compositionend`: what was committed goes to the node; an empty commit is a
    /// cancelled composition and sends nothing.
    pub fn composition_end(&mut self, data: &str) -> Option<Vec<u8>> {
        self.composing = None;
        (!data.is_empty()).then(|| data.as_bytes().to_vec())
    }

    /// `beforeinput` with its `inputType` and `data`: the bytes to send, or `None` when
    /// this event is not ours to send (the composition's own steps, which the
    /// composition events carry; pastes and drops, which have their own handlers;
    /// deletions, which the keys' `keydown` already sent).
    pub fn before_input(&mut self, input_type: &str, data: Option<&str>, is_composing: bool) -> Option<Vec<u8>> {
        if is_composing || self.composing.is_some() {
            return None;
        }
        match input_type {
            "insertText" | "insertReplacementText" => {
                data.filter(|text| !text.is_empty()).map(|text| newlines_as_return(text).into_bytes())
            }
            "insertLineBreak" | "insertParagraph" => Some(b"\r".to_vec()),
            _ => None,
        }
    }
}

/// A line break in text typed (dictation, an on-screen keyboard) is Return, as the
/// Enter key sends it.
fn newlines_as_return(text: &str) -> String {
    text.replace("\r\n", "\r").replace('\n', "\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_composition_is_shown_while_composed_and_sent_once_on_commit() {
        let mut input = TextInput::new();
        input.composition_start();
        assert_eq!(input.preedit(), None, "nothing to show before the first update");
        input.composition_update("にほんご");
        assert_eq!(input.preedit(), Some("にほんご"));
        input.composition_update("日本語");
        assert_eq!(input.preedit(), Some("日本語"), "an update replaces the text");
        // The composition's own input events send nothing.
        assert_eq!(input.before_input("insertCompositionText", Some("日本語"), true), None);
        assert_eq!(input.composition_end("日本語"), Some("日本語".as_bytes().to_vec()));
        assert_eq!(input.preedit(), None);
        assert!(!input.is_composing());
    }

    #[test]
    fn a_cancelled_composition_sends_nothing() {
        let mut input = TextInput::new();
        input.composition_start();
        input.composition_update("にほ");
        assert_eq!(input.composition_end(""), None);
        assert_eq!(input.preedit(), None);
    }

    #[test]
    fn inserted_text_goes_out_as_utf8() {
        let mut input = TextInput::new();
        assert_eq!(input.before_input("insertText", Some("🙂"), false), Some("🙂".as_bytes().to_vec()));
        assert_eq!("🙂".as_bytes(), [0xF0, 0x9F, 0x99, 0x82]);
        assert_eq!(
            input.before_input("insertReplacementText", Some("naïve"), false),
            Some("naïve".as_bytes().to_vec())
        );
        assert_eq!(input.before_input("insertText", Some("two\nlines"), false), Some(b"two\rlines".to_vec()));
        assert_eq!(input.before_input("insertLineBreak", None, false), Some(b"\r".to_vec()));
        assert_eq!(input.before_input("insertParagraph", None, false), Some(b"\r".to_vec()));
        assert_eq!(input.before_input("insertText", Some(""), false), None);
    }

    #[test]
    fn pastes_drops_and_deletions_are_left_to_their_own_handlers() {
        let mut input = TextInput::new();
        for kind in ["insertFromPaste", "insertFromDrop", "deleteContentBackward", "historyUndo"] {
            assert_eq!(input.before_input(kind, Some("x"), false), None, "{kind}");
        }
    }

    #[test]
    fn keys_an_input_method_is_handling_send_nothing_themselves() {
        assert!(key_is_text_input("Process", false));
        assert!(key_is_text_input("a", true));
        assert!(key_is_text_input("Enter", true), "Enter that commits a composition");
        assert!(!key_is_text_input("a", false));
        assert!(!key_is_text_input("Enter", false));
    }

    #[test]
    fn text_inserted_during_a_composition_waits_for_its_end() {
        let mut input = TextInput::new();
        input.composition_start();
        assert_eq!(input.before_input("insertText", Some("x"), false), None);
        assert_eq!(input.composition_end("x"), Some(b"x".to_vec()));
    }
}
