//! Light and dark themes. The choice is a preference, not a secret, so it may live in
//! localStorage; with no choice the system's colour scheme decides (in the CSS).

use leptos::prelude::*;

const KEY: &str = "gatehouse.theme";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
}

impl Theme {
    fn as_str(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn other(self) -> Theme {
        match self {
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::Light,
        }
    }
}

// Hand-written, not gloo-storage: that stores JSON (what is kept here is plain text, and
// would no longer read back) and throws when the browser blocks storage.
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The stored choice, else what the system prefers.
pub fn initial() -> Theme {
    let stored = storage().and_then(|s| s.get_item(KEY).ok()?);
    match stored.as_deref() {
        Some("dark") => Theme::Dark,
        Some("light") => Theme::Light,
        _ => {
            let prefers_dark = web_sys::window()
                .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok()?)
                .is_some_and(|m| m.matches());
            if prefers_dark { Theme::Dark } else { Theme::Light }
        }
    }
}

pub fn apply(theme: Theme) {
    if let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
        let _ = root.set_attribute("data-theme", theme.as_str());
    }
}

pub fn remember(theme: Theme) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(KEY, theme.as_str());
    }
}

pub fn provide() -> RwSignal<Theme> {
    let theme = RwSignal::new(initial());
    Effect::new(move |_| apply(theme.get()));
    provide_context(theme);
    theme
}
