//! [`Terminal`]: vt100's parser plus the bookkeeping a renderer needs to repaint only
//! what changed.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU16;

/// The smallest screen we model; a zero-sized tab is treated as this.
const MIN: NonZeroU16 = NonZeroU16::MIN;

pub struct Terminal {
    parser: vt100::Parser,
    /// A fingerprint per visible row as last painted; a row whose fingerprint changes is
    /// dirty. Rows the cursor enters or leaves count as changed too.
    painted: Vec<u64>,
    painted_cursor: Option<(u16, u16)>,
    selection: Option<Selection>,
}

/// A stretch of visible cells, from where the mouse went down to where it is, in
/// reading order once normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub anchor: (u16, u16),
    pub head: (u16, u16),
}

impl Selection {
    /// (first, last) in reading order.
    pub fn ordered(&self) -> ((u16, u16), (u16, u16)) {
        if self.anchor <= self.head { (self.anchor, self.head) } else { (self.head, self.anchor) }
    }

    pub fn contains(&self, row: u16, col: u16) -> bool {
        let (first, last) = self.ordered();
        (row, col) >= first && (row, col) <= last
    }
}

fn size(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(MIN)
}

impl Terminal {
    pub fn new(rows: u16, cols: u16, scrollback: usize) -> Terminal {
        Terminal {
            parser: vt100::Parser::new(size(rows), size(cols), scrollback),
            painted: Vec::new(),
            painted_cursor: None,
            selection: None,
        }
    }

    /// Feeds bytes from the node (any split: escape sequences may straddle calls).
    pub fn feed(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
    }

    /// Follows the tab's new size. Every row is dirty afterwards.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.parser.set_size(size(rows), size(cols));
        self.selection = None;
        self.repaint_all();
    }

    /// Forgets what was painted, so the next paint draws every row.
    pub fn repaint_all(&mut self) {
        self.painted.clear();
        self.painted_cursor = None;
    }

    /// Lines scrolled back from the live screen (0: live).
    pub fn scrollback_offset(&self) -> usize {
        self.parser.screen().scrollback()
    }

    /// Scrolls the view `lines` into history (negative: towards the live screen),
    /// within what the scrollback holds.
    pub fn scroll_by(&mut self, lines: isize) {
        let target = self.scrollback_offset().saturating_add_signed(lines);
        self.parser.screen_mut().set_scrollback(target);
        self.selection = None;
        self.repaint_all();
    }

    /// Back to the live screen, as typing does.
    pub fn scroll_to_live(&mut self) {
        if self.scrollback_offset() != 0 {
            self.parser.screen_mut().set_scrollback(0);
            self.repaint_all();
        }
    }

    pub fn selection(&self) -> Option<Selection> {
        self.selection
    }

    /// Sets or clears the selection; the rows it touches, before and after, repaint.
    pub fn select(&mut self, selection: Option<Selection>) {
        if selection != self.selection {
            self.selection = selection;
            self.repaint_all();
        }
    }

    /// The selected text, rows joined by newlines, as a copy should give it.
    pub fn selected_text(&self) -> Option<String> {
        let ((start_row, start_col), (end_row, end_col)) = self.selection?.ordered();
        Some(self.parser.screen().contents_between(start_row, start_col, end_row, end_col.saturating_add(1)))
    }

    /// (rows, cols)
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.parser.screen().size();
        (rows.get(), cols.get())
    }

    pub fn screen(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    /// The visible text, rows joined by newlines, trailing blanks trimmed.
    pub fn text(&self) -> String {
        self.parser.screen().contents()
    }

    /// The cursor cell, or `None` while the application hides it or the view is
    /// scrolled back (the cursor lives on the live screen).
    pub fn cursor(&self) -> Option<(u16, u16)> {
        let screen = self.parser.screen();
        (!screen.hide_cursor() && screen.scrollback() == 0).then(|| screen.cursor_position())
    }

    /// Rows to repaint since the last call, in order; marks them painted.
    pub fn take_dirty_rows(&mut self) -> Vec<u16> {
        let (rows, cols) = self.size();
        if self.painted.len() != usize::from(rows) {
            self.painted = vec![u64::MAX; usize::from(rows)];
        }
        let cursor = self.cursor();
        let mut dirty = Vec::new();
        for row in 0..rows {
            let print = row_fingerprint(self.parser.screen(), row, cols);
            let cursor_moved = self.painted_cursor.map(|c| c.0) == Some(row) || cursor.map(|c| c.0) == Some(row);
            let cursor_changed = cursor_moved && cursor != self.painted_cursor;
            if print != self.painted[usize::from(row)] || cursor_changed {
                self.painted[usize::from(row)] = print;
                dirty.push(row);
            }
        }
        self.painted_cursor = cursor;
        dirty
    }
}

fn row_fingerprint(screen: &vt100::Screen, row: u16, cols: u16) -> u64 {
    let mut hasher = DefaultHasher::new();
    for col in 0..cols {
        if let Some(cell) = screen.cell(row, col) {
            cell.contents().hash(&mut hasher);
            color_key(cell.fgcolor()).hash(&mut hasher);
            color_key(cell.bgcolor()).hash(&mut hasher);
            (cell.bold(), cell.dim(), cell.italic(), cell.underline(), cell.inverse(), cell.is_wide()).hash(&mut hasher);
        }
    }
    hasher.finish()
}

fn color_key(color: vt100::Color) -> u32 {
    match color {
        vt100::Color::Default => 1 << 24 | 1 << 25,
        vt100::Color::Idx(i) => 1 << 25 | u32::from(i),
        vt100::Color::Rgb(r, g, b) => u32::from(r) << 16 | u32::from(g) << 8 | u32::from(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_paint_is_every_row_and_then_nothing() {
        let mut term = Terminal::new(4, 20, 100);
        assert_eq!(term.take_dirty_rows(), vec![0, 1, 2, 3]);
        assert_eq!(term.take_dirty_rows(), Vec::<u16>::new());
    }

    #[test]
    fn only_the_rows_that_changed_are_dirty() {
        let mut term = Terminal::new(4, 20, 100);
        term.take_dirty_rows();
        term.feed(b"\x1b[3;1Hhello");
        // Row 2 gained text and the cursor; row 0 lost the cursor.
        assert_eq!(term.take_dirty_rows(), vec![0, 2]);
        term.feed(b"\x1b[3;1H\x1b[31mhello");
        assert_eq!(term.take_dirty_rows(), vec![2], "same text in red is a change");
    }

    #[test]
    fn an_escape_sequence_split_across_feeds_is_understood() {
        let mut term = Terminal::new(2, 20, 0);
        term.feed(b"\x1b[1");
        term.feed(b";31mred\x1b[0m");
        assert_eq!(term.text(), "red");
        assert_eq!(term.screen().cell(0, 0).unwrap().fgcolor(), vt100::Color::Idx(1));
    }

    #[test]
    fn colours_wide_characters_and_attributes_are_kept() {
        let mut term = Terminal::new(2, 20, 0);
        term.feed("\x1b[38;2;1;2;3m\x1b[1;4;7m界🙂".as_bytes());
        let cell = term.screen().cell(0, 0).unwrap();
        assert_eq!(cell.fgcolor(), vt100::Color::Rgb(1, 2, 3));
        assert!(cell.bold() && cell.underline() && cell.inverse());
        assert!(cell.is_wide());
        assert_eq!(term.screen().cell(0, 2).unwrap().contents(), "🙂");
    }

    #[test]
    fn resize_changes_the_size_and_dirties_everything() {
        let mut term = Terminal::new(4, 20, 0);
        term.take_dirty_rows();
        term.resize(6, 100);
        assert_eq!(term.size(), (6, 100));
        assert_eq!(term.take_dirty_rows().len(), 6);
        term.resize(0, 0);
        assert_eq!(term.size(), (1, 1), "a zero-sized tab is clamped, not a panic");
    }

    #[test]
    fn scrolling_back_shows_history_and_typing_returns_to_live() {
        let mut term = Terminal::new(3, 10, 100);
        for n in 1..=10 {
            term.feed(format!("{n}\r\n").as_bytes());
        }
        // Live: 9, 10 and the empty line the cursor sits on; lines 1 to 8 are history.
        assert!(term.text().starts_with("9\n10"), "{:?}", term.text());
        term.take_dirty_rows();
        term.scroll_by(5);
        assert_eq!(term.scrollback_offset(), 5);
        assert!(term.text().starts_with("4\n5\n6"), "{:?}", term.text());
        assert_eq!(term.take_dirty_rows().len(), 3, "a scroll repaints the view");
        term.scroll_by(1000);
        assert_eq!(term.scrollback_offset(), 8, "clamped to the history there is");
        term.scroll_by(-1000);
        assert_eq!(term.scrollback_offset(), 0);
        term.scroll_by(2);
        term.scroll_to_live();
        assert_eq!(term.scrollback_offset(), 0);
    }

    #[test]
    fn a_selection_copies_the_text_between_its_ends_in_reading_order() {
        let mut term = Terminal::new(3, 20, 0);
        term.feed(b"first line\r\nsecond line\r\nthird");
        term.select(Some(Selection { anchor: (1, 6), head: (0, 6) }));
        assert_eq!(term.selected_text().unwrap(), "line\nsecond ");
        assert!(term.selection().unwrap().contains(0, 9));
        assert!(!term.selection().unwrap().contains(1, 7));
        term.select(None);
        assert_eq!(term.selected_text(), None);
    }

    #[test]
    fn a_hidden_cursor_is_reported_hidden() {
        let mut term = Terminal::new(2, 10, 0);
        assert_eq!(term.cursor(), Some((0, 0)));
        term.feed(b"\x1b[?25l");
        assert_eq!(term.cursor(), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut term = Terminal::new(5, 10, 10);
        let mut state = 0x1234_5678u32;
        let bytes: Vec<u8> = (0..20_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state & 0xff) as u8
            })
            .collect();
        for chunk in bytes.chunks(37) {
            term.feed(chunk);
            term.take_dirty_rows();
        }
    }
}
