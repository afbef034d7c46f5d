//! The conformance test's view of Gatehouse's terminal: feeds a recording
//! (terminal/conformance/casts/*.cast, asciicast v2) to the same model the SSH tabs and
//! the player use, and prints its screen at each checkpoint (just before each key the
//! recorder pressed) as JSON, in the form `e2e/conformance/xterm-screens.mjs` prints
//! xterm.js's: `[{ "label", "rows": [[cell, …], …], "cursor": [row, col] }]`.
//!
//!     cargo run -q -p gatehouse-terminal --example screens -- FILE.cast

use gatehouse_terminal::Terminal;
use serde_json::{Value, json};

fn colour(colour: gatehouse_terminal::vt100::Color) -> Option<String> {
    match colour {
        gatehouse_terminal::vt100::Color::Default => None,
        gatehouse_terminal::vt100::Color::Idx(i) => Some(format!("p{i}")),
        gatehouse_terminal::vt100::Color::Rgb(r, g, b) => Some(format!("#{r:02x}{g:02x}{b:02x}")),
    }
}

fn cell(cell: Option<&gatehouse_terminal::vt100::Cell>) -> String {
    let Some(cell) = cell else { return " ".into() };
    // An empty (erased) cell shows only its background, as the renderer paints it.
    if !cell.has_contents() && !cell.is_wide_continuation() {
        return match colour(cell.bgcolor()) {
            Some(bg) => format!(" |bg={bg}"),
            None => " ".into(),
        };
    }
    let mut attrs = Vec::new();
    for (on, name) in [
        (cell.bold(), "bold"),
        (cell.dim(), "dim"),
        (cell.italic(), "italic"),
        (cell.underline(), "underline"),
        (cell.inverse(), "inverse"),
    ] {
        if on {
            attrs.push(name.to_string());
        }
    }
    if let Some(c) = colour(cell.fgcolor()) {
        attrs.push(format!("fg={c}"));
    }
    if let Some(c) = colour(cell.bgcolor()) {
        attrs.push(format!("bg={c}"));
    }
    let text = if cell.is_wide_continuation() {
        String::new()
    } else if cell.has_contents() {
        cell.contents().to_string()
    } else {
        " ".to_string()
    };
    if attrs.is_empty() { text } else { format!("{text}|{}", attrs.join(",")) }
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: screens FILE.cast");
    let text = std::fs::read_to_string(&path).expect("cannot read the recording");
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header: Value = serde_json::from_str(lines.next().expect("a header")).expect("a JSON header");
    let (cols, rows) = (header["width"].as_u64().unwrap_or(80) as u16, header["height"].as_u64().unwrap_or(24) as u16);
    let mut term = Terminal::new(rows, cols, 0);
    let mut screens = Vec::new();
    let mut keys = 0;
    let snapshot = |term: &Terminal, label: String| {
        let screen = term.screen();
        let rows: Vec<Vec<String>> = (0..rows).map(|r| (0..cols).map(|c| cell(screen.cell(r, c))).collect()).collect();
        let (row, col) = screen.cursor_position();
        json!({ "label": label, "rows": rows, "cursor": [row, col] })
    };
    for line in lines {
        let event: Value = serde_json::from_str(line).expect("a JSON event");
        let (code, data) = (event[1].as_str().unwrap_or(""), event[2].as_str().unwrap_or(""));
        match code {
            "o" => term.feed(data.as_bytes()),
            "i" if !data.starts_with('\u{1b}') => {
                keys += 1;
                screens.push(snapshot(
                    &term,
                    format!("before key {keys} ({})", serde_json::to_string(data).unwrap_or_default()),
                ));
            }
            _ => {}
        }
    }
    screens.push(snapshot(&term, "the end".into()));
    println!("{}", Value::Array(screens));
}
