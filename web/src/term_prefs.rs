//! How terminals look: a colour theme and a font size, shared by every session tab and
//! remembered in localStorage (a preference, not a secret).

use leptos::prelude::*;

const KEY: &str = "gatehouse.terminal";

/// A terminal colour scheme: the default colours, the cursor and selection, and the 16
/// ANSI colours programs pick from.
pub struct Palette {
    pub foreground: &'static str,
    pub background: &'static str,
    pub cursor: &'static str,
    pub selection: &'static str,
    pub ansi: [&'static str; 16],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermTheme {
    Dark,
    Light,
    HighContrast,
}

impl TermTheme {
    pub const ALL: [TermTheme; 3] = [TermTheme::Dark, TermTheme::Light, TermTheme::HighContrast];

    pub fn id(self) -> &'static str {
        match self {
            TermTheme::Dark => "dark",
            TermTheme::Light => "light",
            TermTheme::HighContrast => "high-contrast",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TermTheme::Dark => "Dark",
            TermTheme::Light => "Light",
            TermTheme::HighContrast => "High contrast",
        }
    }

    pub fn from_id(id: &str) -> Option<TermTheme> {
        TermTheme::ALL.into_iter().find(|t| t.id() == id)
    }

    pub fn palette(self) -> &'static Palette {
        match self {
            TermTheme::Dark => &DARK,
            TermTheme::Light => &LIGHT,
            TermTheme::HighContrast => &HIGH_CONTRAST,
        }
    }
}

static DARK: Palette = Palette {
    foreground: "#d8dee9",
    background: "#0f1419",
    cursor: "#f0c674",
    selection: "#35507a",
    ansi: [
        "#1d1f21", "#cc6666", "#b5bd68", "#f0c674", "#81a2be", "#b294bb", "#8abeb7", "#c5c8c6", "#666666", "#d54e53",
        "#b9ca4a", "#e7c547", "#7aa6da", "#c397d8", "#70c0b1", "#eaeaea",
    ],
};

static LIGHT: Palette = Palette {
    foreground: "#1f2328",
    background: "#fbfbfc",
    cursor: "#4f46e5",
    selection: "#c7d2fe",
    ansi: [
        "#24292f", "#cf222e", "#116329", "#7d4e00", "#0550ae", "#8250df", "#1b7c83", "#6e7781", "#57606a", "#a40e26",
        "#1a7f37", "#633c01", "#218bff", "#a475f9", "#3192aa", "#8c959f",
    ],
};

static HIGH_CONTRAST: Palette = Palette {
    foreground: "#ffffff",
    background: "#000000",
    cursor: "#ffff00",
    selection: "#0050ff",
    ansi: [
        "#000000", "#ff5555", "#55ff55", "#ffff55", "#5c9dff", "#ff55ff", "#55ffff", "#ffffff", "#bbbbbb", "#ff8888",
        "#88ff88", "#ffff88", "#99c2ff", "#ff88ff", "#88ffff", "#ffffff",
    ],
};

pub const MIN_FONT: u8 = 10;
pub const MAX_FONT: u8 = 24;

#[derive(Clone, Copy)]
pub struct TermPrefs {
    pub theme: RwSignal<TermTheme>,
    pub font_px: RwSignal<u8>,
}

// Hand-written, not gloo-storage: that stores JSON (what is kept here is plain text, and
// would no longer read back) and throws when the browser blocks storage.
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

impl TermPrefs {
    /// The stored choice, else a theme that matches the app's and 14 px.
    pub fn provide(app_dark: bool) -> TermPrefs {
        let stored = storage().and_then(|s| s.get_item(KEY).ok()?).unwrap_or_default();
        let (theme, size) = stored.split_once(':').unwrap_or(("", ""));
        let theme = TermTheme::from_id(theme).unwrap_or(if app_dark { TermTheme::Dark } else { TermTheme::Light });
        let font_px = size.parse::<u8>().ok().filter(|s| (MIN_FONT..=MAX_FONT).contains(s)).unwrap_or(14);
        let prefs = TermPrefs { theme: RwSignal::new(theme), font_px: RwSignal::new(font_px) };
        Effect::new(move |_| {
            let value = format!("{}:{}", prefs.theme.get().id(), prefs.font_px.get());
            if let Some(storage) = storage() {
                let _ = storage.set_item(KEY, &value);
            }
        });
        provide_context(prefs);
        prefs
    }
}

pub fn use_term_prefs() -> TermPrefs {
    expect_context::<TermPrefs>()
}
