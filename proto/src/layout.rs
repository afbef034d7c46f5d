//! The keyboard layout a desktop session announces (RDP's Client Core Data,
//! `keyboardLayout`). RDP sends key positions; the desktop turns them into characters
//! with this layout, dead keys and AltGr included, so it must be the one printed on the
//! person's keys. Only the layouts listed here are sent: a browser names one by its tag
//! (`fr-FR`), never by a number the desktop would take as it is.

use std::fmt;

/// A layout from [`KeyboardLayout::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyboardLayout {
    tag: &'static str,
    id: u32,
    label: &'static str,
}

/// A layout tag that is not in the list; its `Display` is the sentence for the person.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownLayout {
    given: String,
    known: String,
}

impl fmt::Display for UnknownLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unknown keyboard layout {:?}; pick one of {}", self.given, self.known)
    }
}

impl std::error::Error for UnknownLayout {}

const fn layout(tag: &'static str, id: u32, label: &'static str) -> KeyboardLayout {
    KeyboardLayout { tag, id, label }
}

impl KeyboardLayout {
    pub const EN_US: KeyboardLayout = layout("en-US", 0x0409, "English (US)");

    /// Every layout a session may announce: Windows' layout identifiers, each with a
    /// keymap in xrdp (`/etc/xrdp/km-0000XXXX.ini`) and an XKB layout in its
    /// `xrdp_keyboard.ini`.
    pub const ALL: [KeyboardLayout; 8] = [
        KeyboardLayout::EN_US,
        layout("en-GB", 0x0809, "English (UK)"),
        layout("fr-FR", 0x040C, "French (AZERTY)"),
        layout("fr-CH", 0x100C, "French (Switzerland)"),
        layout("de-DE", 0x0407, "German (QWERTZ)"),
        layout("de-CH", 0x0807, "German (Switzerland)"),
        layout("es-ES", 0x040A, "Spanish"),
        layout("it-IT", 0x0410, "Italian"),
    ];

    /// The layout named by `tag` (`fr-FR`; case does not matter), or why not.
    pub fn parse(tag: &str) -> Result<KeyboardLayout, UnknownLayout> {
        KeyboardLayout::ALL.into_iter().find(|l| l.tag.eq_ignore_ascii_case(tag.trim())).ok_or_else(|| UnknownLayout {
            given: tag.chars().take(10).collect(),
            known: KeyboardLayout::ALL.map(|l| l.tag).join(", "),
        })
    }

    /// A first guess from the browser's language (`navigator.language`): the layout of
    /// that exact tag, else the first of the same language, else US English.
    pub fn for_language(language: &str) -> KeyboardLayout {
        if let Ok(layout) = KeyboardLayout::parse(language) {
            return layout;
        }
        let primary = language.split(['-', '_']).next().unwrap_or_default();
        KeyboardLayout::ALL
            .into_iter()
            .find(|l| l.tag.split('-').next().is_some_and(|p| p.eq_ignore_ascii_case(primary)))
            .unwrap_or(KeyboardLayout::EN_US)
    }

    /// The tag the browser sends (`?layout=fr-FR`).
    pub fn tag(self) -> &'static str {
        self.tag
    }

    /// The identifier RDP carries (Client Core Data's `keyboardLayout`).
    pub fn id(self) -> u32 {
        self.id
    }

    /// What a person picks it by.
    pub fn label(self) -> &'static str {
        self.label
    }
}

impl Default for KeyboardLayout {
    fn default() -> KeyboardLayout {
        KeyboardLayout::EN_US
    }
}

impl fmt::Display for KeyboardLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#06x})", self.tag, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_tags_give_their_windows_layout_ids() {
        assert_eq!(KeyboardLayout::parse("en-US").unwrap().id(), 0x0409);
        assert_eq!(KeyboardLayout::parse("fr-FR").unwrap().id(), 0x040C);
        assert_eq!(KeyboardLayout::parse("de-DE").unwrap().id(), 0x0407);
        assert_eq!(KeyboardLayout::parse("en-GB").unwrap().id(), 0x0809);
        assert_eq!(KeyboardLayout::parse("fr-fr"), KeyboardLayout::parse("FR-FR"), "case does not matter");
    }

    #[test]
    fn unknown_layouts_are_refused_with_the_list_to_choose_from() {
        let err = KeyboardLayout::parse("0x0000040c").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unknown keyboard layout \"0x0000040c\"; pick one of en-US, en-GB, fr-FR, fr-CH, de-DE, de-CH, es-ES, it-IT"
        );
        assert!(KeyboardLayout::parse("").is_err());
        assert!(KeyboardLayout::parse("1036").is_err(), "never a number taken as it is");
        let long = "x".repeat(10_000);
        // Short enough for a WebSocket close reason (123 bytes) with a few words more.
        assert!(KeyboardLayout::parse(&long).unwrap_err().to_string().len() <= 106, "the sentence stays short");
    }

    #[test]
    fn the_browser_language_suggests_a_layout() {
        assert_eq!(KeyboardLayout::for_language("de-DE").tag(), "de-DE");
        assert_eq!(KeyboardLayout::for_language("de-AT").tag(), "de-DE", "the first layout of the language");
        assert_eq!(KeyboardLayout::for_language("fr").tag(), "fr-FR");
        assert_eq!(KeyboardLayout::for_language("en-GB").tag(), "en-GB");
        assert_eq!(KeyboardLayout::for_language("ja-JP").tag(), "en-US");
        assert_eq!(KeyboardLayout::for_language("").tag(), "en-US");
    }

    #[test]
    fn every_layout_has_its_own_tag_and_id() {
        let mut tags: Vec<_> = KeyboardLayout::ALL.iter().map(|l| l.tag()).collect();
        let mut ids: Vec<_> = KeyboardLayout::ALL.iter().map(|l| l.id()).collect();
        tags.sort_unstable();
        tags.dedup();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!((tags.len(), ids.len()), (KeyboardLayout::ALL.len(), KeyboardLayout::ALL.len()));
    }
}
