//! [`Terminal`]: the [`Emulator`] (vt100, completed) plus the bookkeeping a renderer
//! needs to repaint only what changed, and the view: the live screen, or scrolled back
//! into the [`Scrollback`] ring, whose rows [`Terminal::view_row`] gives the renderer.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use crate::emulator::Emulator;
use crate::scrollback::{KeptCell, Scrollback};

pub struct Terminal {
    parser: Emulator,
    /// A fingerprint per visible row as last painted; a row whose fingerprint changes is
    /// dirty. Rows the cursor enters or leaves count as changed too.
    painted: Vec<u64>,
    painted_cursor: Option<(u16, u16)>,
    selection: Option<Selection>,
    /// Lines the view is scrolled back into the scrollback (0: live).
    offset: usize,
}

/// A row of the view: one of the live screen's, or a line of the scrollback.
pub enum ViewRow<'a> {
    Live { screen: &'a vt100::Screen, row: u16 },
    Kept { cells: Vec<KeptCell>, wrapped: bool },
}

/// A cell of the view, with [`vt100::Cell`]'s accessors.
#[derive(Clone, Copy)]
pub enum ViewCell<'a> {
    Live(&'a vt100::Cell),
    Kept(&'a KeptCell),
}

macro_rules! delegate {
    ($($name:ident -> $ty:ty),*) => {
        impl<'a> ViewCell<'a> {
            $(pub fn $name(&self) -> $ty {
                match self {
                    ViewCell::Live(cell) => cell.$name(),
                    ViewCell::Kept(cell) => cell.$name(),
                }
            })*
        }
    };
}

delegate!(
    has_contents -> bool, fgcolor -> vt100::Color, bgcolor -> vt100::Color, bold -> bool, dim -> bool,
    italic -> bool, underline -> bool, inverse -> bool, is_wide -> bool, is_wide_continuation -> bool
);

impl<'a> ViewCell<'a> {
    pub fn contents(&self) -> &'a str {
        match *self {
            ViewCell::Live(cell) => cell.contents(),
            ViewCell::Kept(cell) => cell.contents(),
        }
    }
}

/// An erased cell, for the columns past a kept line's text.
static BLANK: std::sync::LazyLock<KeptCell> = std::sync::LazyLock::new(KeptCell::default);

impl ViewRow<'_> {
    /// The cell at `col`, `None` past the screen's width. A kept line is as wide as the
    /// screen, blank past its text.
    pub fn cell(&self, col: u16) -> Option<ViewCell<'_>> {
        match self {
            ViewRow::Live { screen, row } => screen.cell(*row, col).map(ViewCell::Live),
            ViewRow::Kept { cells, .. } => Some(ViewCell::Kept(cells.get(usize::from(col)).unwrap_or(&BLANK))),
        }
    }

    pub fn wrapped(&self) -> bool {
        match self {
            ViewRow::Live { screen, row } => screen.row_wrapped(*row),
            ViewRow::Kept { wrapped, .. } => *wrapped,
        }
    }

    /// The text of `width` cells from `start`, as vt100 writes a row's: erased cells
    /// before text as spaces, none after it.
    pub(crate) fn write_text(&self, text: &mut String, start: u16, width: u16) {
        let mut at = start;
        let mut col = start;
        let end = start.saturating_add(width);
        while col < end {
            let Some(cell) = self.cell(col) else { break };
            if cell.has_contents() && !cell.is_wide_continuation() {
                (at..col).for_each(|_| text.push(' '));
                text.push_str(cell.contents());
                at = col + if cell.is_wide() { 2 } else { 1 };
            }
            col += if cell.is_wide() { 2 } else { 1 };
        }
    }
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

/// Where a search found its text, in absolute lines (0 = the oldest line the scrollback
/// still holds) and columns, first and last cell inclusive. A match may run over a soft
/// wrap onto the next line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub start: (usize, u16),
    pub end: (usize, u16),
}

impl Terminal {
    pub fn new(rows: u16, cols: u16, scrollback: usize) -> Terminal {
        Terminal {
            parser: Emulator::new(rows, cols, scrollback),
            painted: Vec::new(),
            painted_cursor: None,
            selection: None,
            offset: 0,
        }
    }

    /// Feeds bytes from the node (any split: escape sequences may straddle calls).
    /// A view scrolled back stays on the same lines while new ones arrive.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
        let (pushed, cleared) = self.parser.scrollback_mut().take_pushed();
        if cleared || self.parser.screen().alternate_screen() {
            self.offset = 0;
        } else if self.offset > 0 {
            self.offset = self.offset.saturating_add(pushed).min(self.history());
        }
    }

    /// The lines that scrolled off the top of the main screen, oldest first.
    pub fn scrollback(&self) -> &Scrollback {
        self.parser.scrollback()
    }

    /// Lines of history the view can scroll into: none on the alternate screen.
    pub fn history(&self) -> usize {
        if self.parser.screen().alternate_screen() { 0 } else { self.parser.scrollback().len() }
    }

    /// What the program asked the terminal (cursor position, device attributes), for
    /// the tab to send back; empty when it asked nothing.
    pub fn take_replies(&mut self) -> Vec<u8> {
        self.parser.take_replies()
    }

    /// Bytes that rebuild this screen and its modes (a keyframe).
    pub fn state_formatted(&self) -> Vec<u8> {
        self.parser.state_formatted()
    }

    /// Follows the tab's new size. Every row is dirty afterwards.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.parser.set_size(rows, cols);
        self.parser.scrollback_mut().take_pushed();
        self.offset = 0;
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
        self.offset
    }

    /// Scrolls the view `lines` into history (negative: towards the live screen),
    /// within what the scrollback holds.
    pub fn scroll_by(&mut self, lines: isize) {
        self.offset = self.offset.saturating_add_signed(lines).min(self.history());
        self.selection = None;
        self.repaint_all();
    }

    /// Back to the live screen, as typing does.
    pub fn scroll_to_live(&mut self) {
        if self.offset != 0 {
            self.offset = 0;
            self.repaint_all();
        }
    }

    /// Row `row` of the view (the live screen's, or a kept line when scrolled back).
    pub fn view_row(&self, row: u16) -> ViewRow<'_> {
        let row = usize::from(row);
        if row >= self.offset {
            ViewRow::Live { screen: self.parser.screen(), row: (row - self.offset) as u16 }
        } else {
            let line = self.history() - self.offset + row;
            let scrollback = self.parser.scrollback();
            ViewRow::Kept { cells: scrollback.cells(line), wrapped: scrollback.wraps(line, self.size().1) }
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
        let (_, cols) = self.size();
        let end_col = end_col.saturating_add(1);
        let mut text = String::new();
        // As vt100's `contents_between`, over the view.
        if start_row == end_row {
            if start_col < end_col {
                self.view_row(start_row).write_text(&mut text, start_col, end_col - start_col);
            }
            return Some(text);
        }
        for row in start_row..=end_row {
            let view = self.view_row(row);
            if row == end_row {
                view.write_text(&mut text, 0, end_col);
            } else {
                let start = if row == start_row { start_col } else { 0 };
                view.write_text(&mut text, start, cols.saturating_sub(start));
                if !view.wrapped() {
                    text.push('\n');
                }
            }
        }
        Some(text)
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
        if self.offset == 0 {
            return self.parser.screen().contents();
        }
        // As vt100's `contents`, over the view.
        let (rows, cols) = self.size();
        let mut text = String::new();
        let mut wrapping = false;
        for row in 0..rows {
            let view = self.view_row(row);
            let before = text.len();
            view.write_text(&mut text, 0, cols);
            if text.len() == before && wrapping {
                text.push('\n');
            }
            if !view.wrapped() {
                text.push('\n');
            }
            wrapping = view.wrapped();
        }
        text.truncate(text.trim_end_matches('\n').len());
        text
    }

    /// The cursor cell, or `None` while the application hides it or the view is
    /// scrolled back (the cursor lives on the live screen).
    pub fn cursor(&self) -> Option<(u16, u16)> {
        let screen = self.parser.screen();
        (!screen.hide_cursor() && self.offset == 0).then(|| screen.cursor_position())
    }

    /// Every place `needle` appears in the scrollback and on the screen, oldest first,
    /// ignoring case. Lines the terminal wrapped are searched as one.
    pub fn search(&mut self, needle: &str) -> Vec<Found> {
        let needle = needle.to_lowercase();
        if needle.is_empty() {
            return Vec::new();
        }
        let lines = self.all_lines();
        let mut found = Vec::new();
        // A logical line: consecutive rows joined while each wraps into the next.
        let mut text = String::new();
        let mut cells: Vec<(usize, (usize, u16))> = Vec::new(); // (byte offset, (line, col))
        for (index, line) in lines.iter().enumerate() {
            for (col, content) in line.cells.iter().enumerate() {
                cells.push((text.len(), (index, col as u16)));
                text.push_str(content);
            }
            if !line.wrapped || index + 1 == lines.len() {
                for (at, _) in text.match_indices(&needle) {
                    let cell_at = |byte: usize| cells[cells.partition_point(|(offset, _)| *offset <= byte) - 1].1;
                    found.push(Found { start: cell_at(at), end: cell_at(at + needle.len() - 1) });
                }
                text.clear();
                cells.clear();
            }
        }
        found
    }

    /// Scrolls so that `found` is in view (near the middle, when history allows) and
    /// selects it, so it shows highlighted and a copy takes it.
    pub fn reveal(&mut self, found: Found) {
        let (rows, _) = self.size();
        let history = self.history();
        // Absolute line L shows on row L - (history - offset).
        let wanted_row = usize::from(rows / 2);
        self.offset = (history + wanted_row).saturating_sub(found.start.0).min(history);
        let top = history - self.offset;
        let row = |line: usize| line.checked_sub(top).filter(|r| *r < usize::from(rows)).map(|r| r as u16);
        self.selection = match (row(found.start.0), row(found.end.0)) {
            (Some(start), Some(end)) => Some(Selection { anchor: (start, found.start.1), head: (end, found.end.1) }),
            (Some(start), None) => Some(Selection { anchor: (start, found.start.1), head: (rows - 1, u16::MAX) }),
            _ => None,
        };
        self.repaint_all();
    }

    /// Every line, scrollback then screen, as lowercased cell contents (blank cells as a
    /// space) with whether it wraps into the next.
    fn all_lines(&mut self) -> Vec<Line> {
        let (rows, cols) = self.size();
        let history = self.history();
        let scrollback = self.parser.scrollback();
        let screen = self.parser.screen();
        let mut lines = Vec::with_capacity(history + usize::from(rows));
        for kept in 0..history {
            let cells = scrollback.cells(kept);
            let cell = |col: u16| cells.get(usize::from(col)).map(ViewCell::Kept);
            lines.push(Line::of(cell, cols, scrollback.wraps(kept, cols)));
        }
        for row in 0..rows {
            lines.push(Line::of(|col| screen.cell(row, col).map(ViewCell::Live), cols, screen.row_wrapped(row)));
        }
        lines
    }

    /// What row `row` of the view shows, as a number that changes when its drawing does.
    fn view_fingerprint(&self, row: u16, cols: u16) -> u64 {
        if usize::from(row) >= self.offset {
            return row_fingerprint(self.parser.screen(), row - self.offset as u16, cols);
        }
        let line = self.history() - self.offset + usize::from(row);
        let mut hasher = DefaultHasher::new();
        self.parser.scrollback().formatted(line).map(|(formatted, _)| formatted).hash(&mut hasher);
        hasher.finish()
    }

    /// Rows to repaint since the last call, in order; marks them painted.
    pub fn take_dirty_rows(&mut self) -> Vec<u16> {
        self.take_frame(false).rows
    }

    /// What to paint since the last call; marks it painted. With `scrolling`, a screen
    /// whose rows moved up (output scrolling) is reported as a scroll, so the renderer
    /// can move the pixels it already drew and paint only the new rows.
    pub fn take_frame(&mut self, scrolling: bool) -> Frame {
        let (rows, cols) = self.size();
        if self.painted.len() != usize::from(rows) {
            self.painted = vec![u64::MAX; usize::from(rows)];
        }
        let cursor = self.cursor();
        let now: Vec<u64> = (0..rows).map(|row| self.view_fingerprint(row, cols)).collect();
        let scroll = if scrolling { scroll_amount(&self.painted, &now) } else { 0 };
        if scroll > 0 {
            // After the move, row r shows what row r + scroll showed.
            self.painted.drain(..scroll);
            self.painted.resize(usize::from(rows), u64::MAX);
        }
        let painted_cursor =
            self.painted_cursor.map(|(r, c)| (r.wrapping_sub(scroll as u16), c)).filter(|(r, _)| *r < rows);
        let mut dirty = Vec::new();
        for row in 0..rows {
            let cursor_moved = painted_cursor.map(|c| c.0) == Some(row) || cursor.map(|c| c.0) == Some(row);
            let cursor_changed = cursor_moved && cursor != painted_cursor;
            // A row the cursor was drawn on must be redrawn when the cursor leaves it,
            // even if the move carried its pixels elsewhere.
            let carried_cursor = scroll > 0 && self.painted_cursor.map(|c| c.0) == Some(row + scroll as u16);
            if now[usize::from(row)] != self.painted[usize::from(row)] || cursor_changed || carried_cursor {
                self.painted[usize::from(row)] = now[usize::from(row)];
                dirty.push(row);
            }
        }
        self.painted_cursor = cursor;
        Frame { scroll_up: scroll as u16, rows: dirty }
    }
}

/// What a paint must do: move the drawn rows up by `scroll_up` rows, then draw `rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub scroll_up: u16,
    pub rows: Vec<u16>,
}

/// How far to move the drawn rows up before painting: the shift under which the most
/// rows already show what they should (0 unless a shift beats staying put). Any answer
/// is correct, since every row that differs after the move is repainted; a good one
/// saves repainting.
fn scroll_amount(painted: &[u64], now: &[u64]) -> usize {
    let rows = now.len();
    let matching = |shift: usize| {
        (0..rows - shift).filter(|&r| painted[r + shift] != u64::MAX && now[r] == painted[r + shift]).count()
    };
    let mut best = (0, matching(0));
    for shift in 1..rows {
        let matches = matching(shift);
        if matches > best.1 {
            best = (shift, matches);
        }
    }
    best.0
}

struct Line {
    cells: Vec<String>,
    wrapped: bool,
}

impl Line {
    fn of<'a>(cell: impl Fn(u16) -> Option<ViewCell<'a>>, cols: u16, wrapped: bool) -> Line {
        let cells = (0..cols)
            .map(|col| match cell(col) {
                Some(cell) if cell.is_wide_continuation() => String::new(),
                Some(cell) if cell.has_contents() => cell.contents().to_lowercase(),
                _ => " ".to_string(),
            })
            .collect();
        Line { cells, wrapped }
    }
}

fn row_fingerprint(screen: &vt100::Screen, row: u16, cols: u16) -> u64 {
    let mut hasher = DefaultHasher::new();
    for col in 0..cols {
        if let Some(cell) = screen.cell(row, col) {
            cell.contents().hash(&mut hasher);
            color_key(cell.fgcolor()).hash(&mut hasher);
            color_key(cell.bgcolor()).hash(&mut hasher);
            (cell.bold(), cell.dim(), cell.italic(), cell.underline(), cell.inverse(), cell.is_wide())
                .hash(&mut hasher);
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

    #[test]
    fn search_finds_text_in_the_scrollback_and_on_screen_ignoring_case() {
        let mut term = Terminal::new(4, 20, 100);
        for i in 0..30 {
            term.feed(format!("line {i}\r\n").as_bytes());
        }
        term.feed(b"Needle here");
        let found = term.search("LINE 1");
        // line 1, line 10..19: eleven, oldest first.
        assert_eq!(found.len(), 11);
        assert!(found.windows(2).all(|w| w[0].start < w[1].start));
        let last = term.search("needle");
        assert_eq!(last.len(), 1);
        let history = term.history();
        assert_eq!(last[0].start, (history + 3, 0), "on the last screen row");
        assert_eq!(last[0].end, (history + 3, 5));
        assert_eq!(term.scrollback_offset(), 0, "searching leaves the view where it was");
        assert!(term.search("").is_empty());
        assert!(term.search("absent").is_empty());
    }

    #[test]
    fn revealing_a_match_scrolls_to_it_and_selects_it() {
        let mut term = Terminal::new(4, 20, 100);
        for i in 0..30 {
            term.feed(format!("row-{i:02}\r\n").as_bytes());
        }
        let found = term.search("row-05");
        assert_eq!(found.len(), 1);
        term.reveal(found[0]);
        assert!(term.scrollback_offset() > 0);
        assert_eq!(term.selected_text().as_deref(), Some("row-05"));
        assert!(term.text().contains("row-05"));
    }

    #[test]
    fn search_follows_a_soft_wrap_and_wide_characters() {
        let mut term = Terminal::new(4, 10, 100);
        term.feed("xxxxxxxhel".as_bytes());
        term.feed("lo 世界 ok".as_bytes());
        let found = term.search("hello");
        assert_eq!(found.len(), 1, "found across the wrap");
        assert_eq!(found[0].start.1, 7);
        assert_eq!(found[0].end.1, 1);
        assert_eq!(found[0].end.0, found[0].start.0 + 1);
        let wide = term.search("世界 ok");
        assert_eq!(wide.len(), 1);
        assert_eq!(wide[0].start.1, 3);
        assert_eq!(wide[0].end.1, 9);
    }

    #[test]
    fn ten_thousand_lines_of_scrollback_survive_a_resize_and_search_finds_text_9000_lines_up() {
        let mut term = Terminal::new(40, 120, 10_000);
        for i in 1..=10_040 {
            term.feed(format!("far-{i:05} \x1b[32mgreen\x1b[0m\r\n").as_bytes());
        }
        // 39 lines on the screen above the cursor's, 10,001 scrolled off: the oldest of
        // them left the ring.
        assert_eq!(term.history(), 10_000);
        assert!(term.search("far-00001 ").is_empty(), "the oldest line left the ring");
        assert_eq!(term.search("far-00002 ").len(), 1);
        term.resize(30, 80);
        assert_eq!(term.history(), 10_000, "full, still, after ten more left the screen");
        term.resize(50, 100);
        assert_eq!(term.history(), 9_980, "a taller screen took twenty back");
        assert!(term.text().starts_with("far-09992 green\n"), "{:?}", &term.text()[..40]);

        let found = term.search("FAR-01041 ");
        assert_eq!(found.len(), 1);
        let lines_up = term.history() + 49 - found[0].start.0;
        assert_eq!(lines_up, 9_000, "from the cursor's row");
        term.reveal(found[0]);
        assert_eq!(term.selected_text().as_deref(), Some("far-01041 "));
        assert!(term.text().contains("far-01041 green\nfar-01042 green"), "the view shows it");
        // Drawn as it was written, colours and all.
        let (row, _) = term.selection().unwrap().ordered().0;
        let view = term.view_row(row);
        assert_eq!(view.cell(0).unwrap().contents(), "f");
        assert_eq!(view.cell(10).unwrap().fgcolor(), vt100::Color::Idx(2));
        assert_eq!(view.cell(110).unwrap().contents(), "", "blank to the right edge");
        assert!(term.cursor().is_none(), "no cursor in history");
        term.scroll_to_live();
        assert!(term.text().ends_with("far-10040 green"));
    }

    #[test]
    fn a_copy_of_the_live_screen_is_what_vt100_gives_for_the_same_cells() {
        let mut term = Terminal::new(6, 12, 100);
        term.feed(
            "ab  \x1b[41mcd\x1b[K\x1b[m\r\n界x\x1b[7m y\x1b[m  z\r\nwrapping over the edge\r\n\r\n  e\u{301}nd"
                .as_bytes(),
        );
        let mut state = 7u32;
        for _ in 0..500 {
            let mut next = |n: u32| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 8) % n
            };
            let (anchor, head) = ((next(6) as u16, next(13) as u16), (next(6) as u16, next(13) as u16));
            term.select(Some(Selection { anchor, head }));
            let ((r0, c0), (r1, c1)) = term.selection().unwrap().ordered();
            let vt100 = term.screen().contents_between(r0, c0, r1, c1.saturating_add(1));
            assert_eq!(term.selected_text().unwrap(), vt100, "{anchor:?} to {head:?}");
        }
    }

    #[test]
    fn a_view_scrolled_back_stays_on_its_lines_while_output_arrives() {
        let mut term = Terminal::new(3, 10, 100);
        for n in 1..=10 {
            term.feed(format!("{n}\r\n").as_bytes());
        }
        term.scroll_by(3);
        let shown = term.text();
        term.feed(b"11\r\n12\r\n");
        assert_eq!(term.scrollback_offset(), 5);
        assert_eq!(term.text(), shown);
        term.feed(b"\x1b[3J");
        assert_eq!((term.history(), term.scrollback_offset()), (0, 0), "ED 3 forgets history");
        term.feed(b"\x1b[?1049h");
        term.scroll_by(2);
        assert_eq!(term.scrollback_offset(), 0, "the alternate screen has no scrollback");
    }

    #[test]
    fn output_scrolling_up_is_a_move_and_the_new_rows() {
        let mut term = Terminal::new(5, 10, 100);
        for i in 0..5 {
            term.feed(format!("r{i}\r\n").as_bytes());
        }
        term.take_frame(true);
        term.feed(b"r5\r\nr6\r\n");
        let frame = term.take_frame(true);
        assert_eq!(frame.scroll_up, 2);
        // The two rows that arrived, the cursor's row, and the row the cursor was
        // carried to by the move.
        assert_eq!(frame.rows, vec![2, 3, 4]);
        assert_eq!(term.take_frame(true), Frame { scroll_up: 0, rows: vec![] });
        // Without scrolling allowed, everything that changed is redrawn.
        term.feed(b"r7\r\n");
        assert_eq!(term.take_frame(false).rows, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_screen_that_changed_in_place_is_not_a_scroll() {
        let mut term = Terminal::new(4, 10, 100);
        term.feed(b"aaa\r\nbbb\r\nccc");
        term.take_frame(true);
        term.feed(b"\x1b[2;1Hxxx");
        let frame = term.take_frame(true);
        assert_eq!(frame.scroll_up, 0);
        assert_eq!(frame.rows, vec![1, 2], "the edited row and the one the cursor left");
    }
}
