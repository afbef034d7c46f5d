//! [`Scrollback`]: the lines that left the top of the main screen, kept by us in a ring
//! beside a vt100 screen that keeps none.
//!
//! vt100 with scrollback of its own allocates a row for every line that scrolls off and
//! frees the oldest one, which halves the speed of output that scrolls (`cat`, builds).
//! So the emulator runs vt100 with a scrollback of zero and keeps each line as vt100
//! lets it go. What leaves, and when, is vt100's word, not a guess: vt100 calls
//! [`vt100::Callbacks::on_scroll`] for every row that leaves the top of the main screen
//! (a line feed, IND or NEL at the bottom of a scroll region that starts at the top row,
//! a wrap there, CSI S, a resize that shrinks the screen), and not for the alternate
//! screen's rows, which have no scrollback.
//!
//! A line is kept as text with SGR sequences, in a ring of a fixed number of slots whose
//! strings are reused, so once the ring is full a line costs no allocation (but for
//! plain lines that are not ASCII, whose text vt100 hands back in a new string). Rows
//! are turned back into cells only when they are looked at (a scrolled-back view, a
//! search, a copy, a screen that grows and takes lines back).
//!
//! Two ways in. The fast one: just before the emulator hands vt100 a line feed with the
//! cursor on the bottom row, it stages the top row if it knows that row's line: a line
//! of printable ASCII and plain SGR written from the first column of a blank row in the
//! default pen is its own bytes, which are our form already; a row with only text in
//! the default attributes is vt100's text of it. If vt100 then reports a row leaving,
//! the staged line is that row's and goes into the ring as it is. The emulator knows
//! rows by what it handed vt100 while the cursor was on them (`Scrollback::wrote`);
//! anything it does not follow (a cursor move, an erase, a string, a scroll region, a
//! resize) makes every row unknown until fresh ones come in at the bottom, so an
//! unknown row only costs speed. Every other row vt100 lets go of is written out by
//! vt100 itself, which is exact but costs about as much again as vt100's parsing of
//! the line.
//!
//! What vt100 writes out of a row (its "basic formatted" form: text, and SGR sequences
//! where the attributes change) loses two things, so a kept line can draw slightly
//! differently from the row it was: an erased cell with colours reads back as a space
//! in them, and blanks between coloured cells take the attributes of the cell before
//! them. A kept space in the default attributes is text (as typed spaces are); in
//! colours it is text when it is inverse or underlined (so a reverse-video bar stays
//! one), and an erased cell otherwise (which draws its background all the same).

use std::fmt::Write as _;

use unicode_width::UnicodeWidthChar;
use vt100::Color;

/// One kept line: vt100's formatted row and whether it wraps into the next.
#[derive(Debug, Default, Clone)]
struct Slot {
    formatted: String,
    wrapped: bool,
}

pub struct Scrollback {
    slots: Vec<Slot>,
    /// The slot of the oldest line. Zero while the ring is still filling.
    first: usize,
    len: usize,
    capacity: usize,
    /// Lines the main screen has pushed off since the last reset, kept or not: what
    /// vt100 counts to decide how many rows a taller screen takes back from history.
    scrolled_off: usize,
    /// Lines pushed since [`Scrollback::take_pushed`] last asked.
    pushed: usize,
    /// Lines pushed ever.
    scrolled_off_total: usize,
    /// Cleared (ED 3, RIS) since [`Scrollback::take_pushed`] last asked.
    cleared: bool,
    /// Per row of the main screen, top first: only text in the default attributes has
    /// been drawn on it since it came in blank at the bottom.
    plain: Vec<bool>,
    /// Per row, when known: its whole text, as the bytes that drew it (plain ASCII from
    /// the first column of a blank row). Reused strings, rotated with the rows.
    texts: Vec<(bool, String)>,
    /// The main screen may have a scroll region other than the whole screen: rows do not
    /// move as `plain` assumes.
    region_partial: bool,
    /// The top row's text, staged for a line feed that may push it off.
    staged: Slot,
    armed: bool,
    /// Lines that came in staged (the fast way), for the tests to see it taken.
    #[cfg(test)]
    staged_lines: usize,
}

/// A cell of a kept line, with the same accessors as [`vt100::Cell`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptCell {
    contents: String,
    fg: Color,
    bg: Color,
    /// Bit 0 bold, 1 dim, 2 italic, 3 underline, 4 inverse, 5 wide, 6 wide continuation.
    flags: u8,
}

const BOLD: u8 = 1;
const DIM: u8 = 2;
const ITALIC: u8 = 4;
const UNDERLINE: u8 = 8;
const INVERSE: u8 = 16;
const WIDE: u8 = 32;
const CONTINUATION: u8 = 64;

impl KeptCell {
    pub fn contents(&self) -> &str {
        &self.contents
    }
    pub fn has_contents(&self) -> bool {
        !self.contents.is_empty()
    }
    pub fn fgcolor(&self) -> Color {
        self.fg
    }
    pub fn bgcolor(&self) -> Color {
        self.bg
    }
    pub fn bold(&self) -> bool {
        self.flags & BOLD != 0
    }
    pub fn dim(&self) -> bool {
        self.flags & DIM != 0
    }
    pub fn italic(&self) -> bool {
        self.flags & ITALIC != 0
    }
    pub fn underline(&self) -> bool {
        self.flags & UNDERLINE != 0
    }
    pub fn inverse(&self) -> bool {
        self.flags & INVERSE != 0
    }
    pub fn is_wide(&self) -> bool {
        self.flags & WIDE != 0
    }
    pub fn is_wide_continuation(&self) -> bool {
        self.flags & CONTINUATION != 0
    }

    /// The SGR sequence that sets exactly this cell's attributes.
    fn sgr(&self) -> String {
        sgr_for(self.fg, self.bg, [self.bold(), self.dim(), self.italic(), self.underline(), self.inverse()])
    }

    fn attributes_equal(&self, other: &KeptCell) -> bool {
        self.fg == other.fg && self.bg == other.bg && (self.flags & 31) == (other.flags & 31)
    }
}

/// The SGR sequence that sets exactly these attributes (bold, dim, italic, underline,
/// inverse; colours) from any pen.
pub(crate) fn sgr_for(fg: Color, bg: Color, flags: [bool; 5]) -> String {
    let mut sgr = String::from("\x1b[0");
    for (on, code) in flags.into_iter().zip([1, 2, 3, 4, 7]) {
        if on {
            let _ = write!(sgr, ";{code}");
        }
    }
    for (color, base) in [(fg, 38), (bg, 48)] {
        let _ = match color {
            Color::Default => Ok(()),
            Color::Idx(i) => write!(sgr, ";{base};5;{i}"),
            Color::Rgb(r, g, b) => write!(sgr, ";{base};2;{r};{g};{b}"),
        };
    }
    sgr.push('m');
    sgr
}

/// Stops a formatted write at its first character: a probe of whether the row that was
/// just written left a newline pending (it did not wrap).
struct FirstChar(Option<char>);

impl std::fmt::Write for FirstChar {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 = s.chars().next();
        Err(std::fmt::Error)
    }
}

impl vt100::Callbacks for Scrollback {
    fn on_scroll(&mut self, row: vt100::capture::RowContents<'_>, alternate_screen: bool) {
        if alternate_screen {
            return;
        }
        self.scrolled_off = self.scrolled_off.saturating_add(1);
        self.pushed = self.pushed.saturating_add(1);
        self.scrolled_off_total = self.scrolled_off_total.wrapping_add(1);
        if self.region_partial {
            // Only the region's rows move: which is which is not followed.
            let rows = self.plain.len() as u16;
            self.forget_rows(rows);
        } else if !self.plain.is_empty() {
            // The rows move up; a blank one comes in at the bottom.
            self.plain.remove(0);
            self.plain.push(true);
            self.texts.rotate_left(1);
            if let Some((known, text)) = self.texts.last_mut() {
                *known = true;
                text.clear();
            }
        }
        if self.capacity == 0 {
            return;
        }
        let slot = self.next_slot();
        let slot = &mut self.slots[slot];
        if std::mem::take(&mut self.armed) {
            std::mem::swap(slot, &mut self.staged);
            #[cfg(test)]
            {
                self.staged_lines += 1;
            }
            return;
        }
        slot.formatted.clear();
        let mut state = vt100::capture::BasicFormattedCaptureState::new();
        let _ = row.write_formatted_basic(&mut slot.formatted, &mut state);
        // Written again with the same state, the row starts with a newline unless it
        // wrapped; the probe stops at the first character.
        let mut probe = FirstChar(None);
        let _ = row.write_formatted_basic(&mut probe, &mut state);
        slot.wrapped = probe.0 != Some('\n');
    }
}

impl Scrollback {
    /// The slot the next line goes in, counted in (the oldest line's, once full).
    fn next_slot(&mut self) -> usize {
        if self.len < self.slots.len() {
            let at = (self.first + self.len) % self.slots.len();
            self.len += 1;
            at
        } else if self.slots.len() < self.capacity {
            // Still filling: the ring has not wrapped, so the oldest line is slot 0.
            self.slots.push(Slot::default());
            self.len += 1;
            self.slots.len() - 1
        } else {
            let at = self.first;
            self.first = (self.first + 1) % self.slots.len();
            at
        }
    }

    /// A ring of `capacity` lines beside a blank screen `rows` high.
    pub fn new(capacity: usize, rows: u16) -> Scrollback {
        Scrollback {
            slots: Vec::new(),
            first: 0,
            len: 0,
            capacity,
            scrolled_off: 0,
            pushed: 0,
            scrolled_off_total: 0,
            cleared: false,
            plain: vec![true; usize::from(rows)],
            texts: vec![(true, String::new()); usize::from(rows)],
            region_partial: false,
            staged: Slot::default(),
            armed: false,
            #[cfg(test)]
            staged_lines: 0,
        }
    }

    /// For a line feed about to be handed to vt100 with the cursor on the main screen's
    /// bottom row: writes the top row down if it is a plain one, so that if it leaves,
    /// it is kept without vt100 writing it out.
    pub(crate) fn stage(&mut self, screen: &vt100::Screen) {
        if self.capacity == 0 || self.region_partial {
            return;
        }
        self.staged.formatted.clear();
        match (self.texts.first(), self.plain.first()) {
            (Some((true, text)), _) => self.staged.formatted.push_str(text),
            // Plain text is our form too: no attributes to set.
            (_, Some(true)) => {
                let cols = screen.size().1.get();
                let Some(text) = screen.rows(0, cols).next() else { return };
                self.staged.formatted.push_str(&text);
            }
            _ => return,
        }
        self.staged.wrapped = screen.row_wrapped(0);
        self.armed = true;
    }

    /// The line feed went by: a row leaving from now on was not staged.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }

    /// Something was drawn that the emulator did not follow: no row is known plain.
    pub(crate) fn forget_rows(&mut self, rows: u16) {
        self.plain.clear();
        self.plain.resize(usize::from(rows), false);
        self.texts.resize_with(usize::from(rows), Default::default);
        self.texts.iter_mut().for_each(|(known, _)| *known = false);
    }

    /// Text was drawn on row `row` of the main screen: `bytes` if it was these (ASCII
    /// and SGR, in our form) from the first column in the default pen, which are then
    /// the row's whole line if it was blank; `plain` if all of it was in the default
    /// attributes.
    pub(crate) fn wrote(&mut self, row: u16, bytes: Option<&[u8]>, plain: bool) {
        if let Some(was_plain) = self.plain.get_mut(usize::from(row)) {
            *was_plain &= plain;
        }
        let ascii = bytes;
        let Some((known, text)) = self.texts.get_mut(usize::from(row)) else { return };
        match ascii {
            Some(bytes) if *known && text.is_empty() => text.push_str(std::str::from_utf8(bytes).unwrap_or_default()),
            _ => *known = false,
        }
    }

    /// A scroll region was set on the main screen (`partial`: not the whole screen).
    pub(crate) fn set_region(&mut self, partial: bool) {
        self.region_partial = partial;
        if partial {
            let rows = self.plain.len() as u16;
            self.forget_rows(rows);
        }
    }

    /// Rows vt100 has let go of so far (kept or not): a count that only grows.
    pub(crate) fn pushed_so_far(&self) -> usize {
        self.scrolled_off_total
    }

    /// Lines kept, at most the capacity.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn slot(&self, line: usize) -> Option<&Slot> {
        (line < self.len).then(|| &self.slots[(self.first + line) % self.slots.len()])
    }

    /// Line `line` (0: the oldest kept) as vt100 formatted it, and whether it wraps.
    pub fn formatted(&self, line: usize) -> Option<(&str, bool)> {
        self.slot(line).map(|slot| (slot.formatted.as_str(), slot.wrapped))
    }

    /// Whether line `line` wraps into the next: it did when it left the screen, and it
    /// still reaches the right edge of a screen `cols` wide (as vt100 has it, a line a
    /// wider screen shows short no longer wraps).
    pub fn wraps(&self, line: usize, cols: u16) -> bool {
        self.slot(line).is_some_and(|slot| slot.wrapped && width(&slot.formatted) >= usize::from(cols))
    }

    /// Line `line` as cells, as wide as its text (blank cells after it are not there).
    pub fn cells(&self, line: usize) -> Vec<KeptCell> {
        self.slot(line).map(|slot| decode(&slot.formatted)).unwrap_or_default()
    }

    /// ED 3 or a reset: history gone, and with it what a taller screen could take back.
    pub fn clear(&mut self) {
        self.first = 0;
        self.len = 0;
        self.scrolled_off = 0;
        self.cleared = true;
    }

    /// Lines pushed since the last call, and whether history was cleared meanwhile.
    pub fn take_pushed(&mut self) -> (usize, bool) {
        (std::mem::take(&mut self.pushed), std::mem::take(&mut self.cleared))
    }

    /// What vt100 counts as scrolled off (it gives back up to this many rows, kept or
    /// blank, when the screen grows).
    pub(crate) fn scrolled_off(&self) -> usize {
        self.scrolled_off
    }

    /// Takes back the newest `count` lines (at most what is kept) for a screen that
    /// grew, oldest first; `given_back` lowers the scrolled-off count as vt100 does.
    pub(crate) fn take_newest(&mut self, count: usize, given_back: usize) -> Vec<(Vec<KeptCell>, bool)> {
        self.scrolled_off -= given_back.min(self.scrolled_off);
        let count = count.min(self.len);
        let lines = (self.len - count..self.len)
            .map(|line| (self.cells(line), self.slot(line).is_some_and(|slot| slot.wrapped)))
            .collect();
        self.len -= count;
        lines
    }
}

/// How many cells a formatted row covers.
fn width(formatted: &str) -> usize {
    let mut cells = 0;
    let mut in_sequence = false;
    for c in formatted.chars() {
        match c {
            '\x1b' => in_sequence = true,
            'm' if in_sequence => in_sequence = false,
            _ if in_sequence => {}
            c => cells += c.width().unwrap_or(1).min(2),
        }
    }
    cells
}

/// vt100's formatted row (SGR sequences and text, from default attributes) as cells.
fn decode(formatted: &str) -> Vec<KeptCell> {
    let mut cells: Vec<KeptCell> = Vec::new();
    let mut pen = KeptCell::default();
    let mut chars = formatted.char_indices();
    while let Some((at, c)) = chars.next() {
        if c == '\x1b' {
            let rest = &formatted[at..];
            let Some(end) = rest.find('m') else { break };
            sgr(&mut pen, &rest[2.min(end)..end]);
            // Skip the sequence's bytes.
            for _ in rest[1..=end].chars() {
                chars.next();
            }
            continue;
        }
        let width = c.width().unwrap_or(1).min(2);
        if width == 0 {
            if let Some(last) = cells.iter_mut().rev().find(|cell| !cell.is_wide_continuation()) {
                last.contents.push(c);
            }
            continue;
        }
        let mut cell = KeptCell { contents: String::new(), fg: pen.fg, bg: pen.bg, flags: pen.flags & 31 };
        // A space in colours is text only where it draws as more than the background.
        let plain = cell.fg == Color::Default && cell.bg == Color::Default && cell.flags == 0;
        if c != ' ' || plain || cell.flags & (INVERSE | UNDERLINE) != 0 {
            cell.contents.push(c);
        }
        if width == 2 {
            cell.flags |= WIDE;
            cells.push(cell);
            // As vt100 keeps it: no text and default attributes.
            cells.push(KeptCell { flags: CONTINUATION, ..KeptCell::default() });
        } else {
            cells.push(cell);
        }
    }
    cells
}

/// Applies one SGR parameter list (as vt100 writes them) to `pen`.
fn sgr(pen: &mut KeptCell, params: &str) {
    let mut params = params.split(';').map(|p| p.parse::<u16>().unwrap_or(0));
    let colour = |params: &mut dyn Iterator<Item = u16>| match params.next() {
        Some(5) => Color::Idx(params.next().unwrap_or(0) as u8),
        Some(2) => {
            let mut next = || params.next().unwrap_or(0) as u8;
            Color::Rgb(next(), next(), next())
        }
        _ => Color::Default,
    };
    while let Some(p) = params.next() {
        match p {
            0 => *pen = KeptCell::default(),
            1 => pen.flags = pen.flags & !DIM | BOLD,
            2 => pen.flags = pen.flags & !BOLD | DIM,
            22 => pen.flags &= !(BOLD | DIM),
            3 => pen.flags |= ITALIC,
            23 => pen.flags &= !ITALIC,
            4 => pen.flags |= UNDERLINE,
            24 => pen.flags &= !UNDERLINE,
            7 => pen.flags |= INVERSE,
            27 => pen.flags &= !INVERSE,
            30..=37 => pen.fg = Color::Idx((p - 30) as u8),
            90..=97 => pen.fg = Color::Idx((p - 82) as u8),
            38 => pen.fg = colour(&mut params),
            39 => pen.fg = Color::Default,
            40..=47 => pen.bg = Color::Idx((p - 40) as u8),
            100..=107 => pen.bg = Color::Idx((p - 92) as u8),
            48 => pen.bg = colour(&mut params),
            49 => pen.bg = Color::Default,
            _ => {}
        }
    }
}

/// The bytes that draw `cells` from the cursor on, in their attributes (an erased cell
/// erased, not a space), and leave the attributes at the default.
pub(crate) fn encode(cells: &[KeptCell], out: &mut String) {
    let mut pen: Option<&KeptCell> = None;
    let mut at = 0;
    while at < cells.len() {
        let cell = &cells[at];
        if cell.is_wide_continuation() {
            at += 1;
            continue;
        }
        if pen.is_none_or(|pen| !pen.attributes_equal(cell)) {
            out.push_str(&cell.sgr());
            pen = Some(cell);
        }
        if cell.has_contents() {
            out.push_str(&cell.contents);
            at += 1;
            continue;
        }
        // A run of erased cells in the same pen: erase them, then step over.
        let run = cells[at..].iter().take_while(|c| !c.has_contents() && c.attributes_equal(cell)).count();
        let _ = write!(out, "\x1b[{run}X\x1b[{run}C");
        at += run;
    }
    out.push_str("\x1b[0m");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formatted_row_decodes_to_its_cells() {
        let cells = decode("a\x1b[1;31mb\x1b[41m \x1b[7m \x1b[38;2;1;2;3;48;5;200m界x");
        assert_eq!(cells.len(), 7);
        assert_eq!(cells[0].contents(), "a");
        assert!(cells[1].bold() && cells[1].fgcolor() == Color::Idx(1));
        assert!(!cells[2].has_contents(), "a space in a background colour is an erased cell");
        assert_eq!(decode("a b")[1].contents(), " ", "a plain space is one");
        assert!(cells[3].inverse() && cells[3].contents() == " ", "an inverse space is text");
        assert!(cells[4].is_wide() && cells[4].fgcolor() == Color::Rgb(1, 2, 3));
        assert_eq!(cells[4].bgcolor(), Color::Idx(200));
        assert!(cells[5].is_wide_continuation());
        assert_eq!(cells[6].contents(), "x");
    }

    #[test]
    fn encoding_cells_and_feeding_them_to_vt100_gives_the_same_cells() {
        let cells = decode("a\x1b[1;31mb\x1b[m c\x1b[3;4;92;104m界\x1b[2m \x1b[7mz");
        let mut bytes = String::new();
        encode(&cells, &mut bytes);
        let mut parser =
            vt100::Parser::new(std::num::NonZeroU16::new(2).unwrap(), std::num::NonZeroU16::new(20).unwrap(), 0);
        parser.process(bytes.as_bytes());
        for (col, cell) in cells.iter().enumerate() {
            let drawn = parser.screen().cell(0, col as u16).unwrap();
            assert_eq!(drawn.contents().trim(), cell.contents().trim(), "column {col}");
            assert_eq!((drawn.fgcolor(), drawn.bgcolor()), (cell.fgcolor(), cell.bgcolor()), "column {col}");
            assert_eq!(
                (drawn.bold(), drawn.dim(), drawn.italic(), drawn.underline(), drawn.inverse(), drawn.is_wide()),
                (cell.bold(), cell.dim(), cell.italic(), cell.underline(), cell.inverse(), cell.is_wide()),
                "column {col}"
            );
        }
    }
}

/// The ring against vt100 keeping its own scrollback, fed the same output: the same
/// lines kept, in the same order, with the same text and wraps, and the same screen.
#[cfg(test)]
mod differential {
    use crate::emulator::Emulator;
    use crate::screen::ViewRow;

    /// Each kept line's text (trailing blanks trimmed: an erased cell with colours reads
    /// back as a space) and whether it wraps, oldest first.
    fn ring_lines(emulator: &Emulator) -> Vec<(String, bool)> {
        let scrollback = emulator.scrollback();
        let cols = emulator.screen().size().1.get();
        (0..scrollback.len())
            .map(|line| {
                let row = ViewRow::Kept { cells: scrollback.cells(line), wrapped: scrollback.wraps(line, cols) };
                let mut text = String::new();
                row.write_text(&mut text, 0, cols);
                (text.trim_end().to_string(), row.wrapped())
            })
            .collect()
    }

    /// The same of vt100's own scrollback, read a screenful at a time (from a copy:
    /// vt100 widens the rows it shows, which unwraps the short ones for good).
    fn vt100_lines(reference: &Emulator) -> Vec<(String, bool)> {
        let mut screen = reference.screen().clone();
        screen.set_scrollback(usize::MAX);
        let len = screen.scrollback();
        let rows = usize::from(screen.size().0.get());
        let cols = screen.size().1.get();
        let mut lines = Vec::with_capacity(len);
        while lines.len() < len {
            screen.set_scrollback(len - lines.len());
            let window: Vec<String> = screen.rows(0, cols).collect();
            let take = rows.min(len - lines.len());
            for (row, text) in window.into_iter().enumerate().take(take) {
                lines.push((text.trim_end().to_string(), screen.row_wrapped(row as u16)));
            }
        }
        lines
    }

    fn assert_same(ring: &Emulator, reference: &Emulator, what: &str) {
        assert_eq!(ring.screen().alternate_screen(), reference.screen().alternate_screen(), "{what}");
        // vt100 shows the alternate screen's (empty) scrollback meanwhile.
        let expected = if reference.screen().alternate_screen() { ring_lines(ring) } else { vt100_lines(reference) };
        let kept = ring_lines(ring);
        assert_eq!(kept.len(), expected.len(), "{what}: lines kept");
        for (line, (ours, theirs)) in kept.iter().zip(&expected).enumerate() {
            assert_eq!(ours, theirs, "{what}: line {line} of {}", expected.len());
        }
        // Trailing blanks aside: a line taken back from the ring has an erased inverse or
        // underlined cell as a space.
        let screen = |emulator: &Emulator| -> Vec<String> {
            let cols = emulator.screen().size().1.get();
            emulator.screen().rows(0, cols).map(|row| row.trim_end().to_string()).collect()
        };
        assert_eq!(screen(ring), screen(reference), "{what}: the screen");
        let wraps = |emulator: &Emulator| -> Vec<bool> {
            (0..emulator.screen().size().0.get()).map(|row| emulator.screen().row_wrapped(row)).collect()
        };
        assert_eq!(wraps(ring), wraps(reference), "{what}: the screen's wraps");
        assert_eq!(ring.screen().cursor_position(), reference.screen().cursor_position(), "{what}: the cursor");
    }

    struct Random(u32);

    impl Random {
        fn below(&mut self, n: u32) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            self.0 % n
        }
    }

    /// A burst of output: lines of any length (some wrapping) in colours, wide and
    /// combining characters, and now and then what moves lines off the screen in other
    /// ways or forgets them (CSI S, scroll regions, IND/NEL/RI, the alternate screen,
    /// ED 3, a reset).
    fn burst(random: &mut Random, cols: u16) -> String {
        let mut out = String::new();
        if random.below(2) == 0 {
            // What `cat` sends: plain lines, some blank, some as wide as the screen.
            for _ in 0..random.below(60) {
                let len = [0, 1, 5, 30, usize::from(cols), usize::from(cols) + 3][random.below(6) as usize];
                out.extend((0..len).map(|_| char::from(b' ' + random.below(95) as u8)));
                out.push_str(if random.below(8) == 0 { "\n" } else { "\r\n" });
            }
            return out;
        }
        for _ in 0..random.below(40) {
            match random.below(40) {
                0 => out.push_str(&format!("\x1b[{}S", random.below(5))),
                1 => out.push_str(&format!("\x1b[{};{}r", random.below(3) + 1, random.below(30) + 2)),
                2 => out.push_str("\x1b[r"),
                3 => out.push_str(if random.below(2) == 0 { "\x1b[?1049h" } else { "\x1b[?1049l" }),
                4 if random.below(4) == 0 => out.push_str("\x1b[3J"),
                5 if random.below(8) == 0 => out.push_str("\x1bc"),
                6 => out.push_str(&format!("\x1b[{};{}H", random.below(30) + 1, random.below(70) + 1)),
                7 => out.push_str(["\x1bD", "\x1bE", "\x1bM", "\x1b[2J", "\x1b[K"][random.below(5) as usize]),
                _ => {
                    for _ in 0..random.below(u32::from(cols) * 5 / 2) {
                        match random.below(30) {
                            0 => out.push_str(&format!(
                                "\x1b[{}m",
                                [0, 1, 7, 4, 31, 42, 94, 105][random.below(8) as usize]
                            )),
                            1 => out.push_str("\x1b[38;5;200;48;2;1;2;3m"),
                            2 => out.push('界'),
                            3 => out.push_str("e\u{301}"),
                            4 => out.push_str("\x1b[41m\x1b[K"),
                            _ => out.push(char::from(b'a' + random.below(26) as u8)),
                        }
                    }
                    out.push_str(if random.below(5) == 0 { "\n" } else { "\r\n" });
                }
            }
        }
        out
    }

    #[test]
    fn generated_output_keeps_the_same_lines_as_vt100_through_resizes() {
        for (seed, capacity) in [(1, 37), (2, 37), (3, 500), (4, 0)] {
            let mut random = Random(0x9e37_79b9 ^ seed);
            let (mut rows, mut cols) = (12, 40);
            let mut ring = Emulator::new(rows, cols, capacity);
            let mut reference = Emulator::on_vt100_scrollback(rows, cols, capacity);
            for step in 0..300 {
                let bytes = burst(&mut random, cols);
                // Any split: a feed may end inside a sequence.
                let split = random.below(bytes.len() as u32 + 1) as usize;
                let split = (0..=split).rev().find(|at| bytes.is_char_boundary(*at)).unwrap_or(0);
                for part in [&bytes[..split], &bytes[split..]] {
                    ring.process(part.as_bytes());
                    reference.process(part.as_bytes());
                }
                if random.below(6) == 0 {
                    rows = random.below(30) as u16 + 1;
                    cols = random.below(70) as u16 + 2;
                    ring.set_size(rows, cols);
                    reference.set_size(rows, cols);
                }
                assert_same(&ring, &reference, &format!("seed {seed}, capacity {capacity}, step {step}"));
            }
        }
    }

    #[test]
    fn plain_lines_are_kept_the_fast_way_around_colours_a_full_screen_program_and_a_resize() {
        let mut ring = Emulator::new(24, 80, 1_000);
        let mut reference = Emulator::on_vt100_scrollback(24, 80, 1_000);
        let feed = |bytes: &str, ring: &mut Emulator, reference: &mut Emulator| {
            ring.process(bytes.as_bytes());
            reference.process(bytes.as_bytes());
        };
        let plain: String = (0..300).map(|i| format!("-rw-r--r-- 1 root root {i:6} Jan  1 file-{i}\r\n")).collect();
        let coloured: String =
            (0..100).map(|i| format!("drwxr-xr-x 2 root root 4096 Jan  1 \x1b[01;34mdir-{i}\x1b[0m\r\n")).collect();
        // A pager: the alternate screen, a scroll region, lines scrolled in it, out again.
        let pager = "\x1b[?1049h\x1b[1;23r\x1b[23;1H\nmore\n\x1b[r\x1b[24;1H\x1b[7m(END)\x1b[m\x1b[?1049l";
        // Strings with line feeds inside (a title, a DCS) and an over-long sequence: the
        // text after them is not text until they end.
        let strings = format!(
            "\x1b]0;a title\nplain words\nover lines\x07after\r\n\x1bPq#0\n~~\x1b\\after\r\n\x1b[{}\n0mafter\x1b[m\r\n",
            "4;".repeat(200)
        );
        // A region from the top row: its lines leave the screen, the rows below it stay
        // put, coloured; then the whole screen again.
        let region = format!(
            "\x1b[20;1H\x1b[44mbelow 1\r\n\x1b[mplain 2\r\n\x1b[1:0;10r\x1b[10;1H{}\x1b[r\x1b[24;1H",
            &plain[..2_000]
        );
        let parts = [&plain, &coloured, &plain, pager, &region, &plain, "tab\there\r\n", &strings];
        for part in parts {
            // In pieces, as the network splits it.
            for piece in part.as_bytes().chunks(97) {
                ring.process(piece);
                reference.process(piece);
            }
            feed(plain.as_str(), &mut ring, &mut reference);
            assert_same(&ring, &reference, "after a part");
        }
        let fast = ring.scrollback().staged_lines;
        assert!(fast > 2_500, "most plain lines were kept the fast way ({fast})");
        ring.set_size(30, 100);
        reference.set_size(30, 100);
        feed(&plain, &mut ring, &mut reference);
        assert_same(&ring, &reference, "after a resize");
        assert!(ring.scrollback().staged_lines > fast + 250, "and again after the resize");
    }

    #[test]
    fn the_conformance_recordings_keep_the_same_lines_as_vt100() {
        let casts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/casts");
        let mut checked = 0;
        for entry in std::fs::read_dir(&casts).expect("the conformance casts") {
            let path = entry.expect("a cast").path();
            let text = std::fs::read_to_string(&path).expect("a readable cast");
            let mut lines = text.lines();
            let header: serde_json::Value = serde_json::from_str(lines.next().expect("a header")).expect("json");
            let (rows, cols) = (header["height"].as_u64().unwrap() as u16, header["width"].as_u64().unwrap() as u16);
            let mut ring = Emulator::new(rows, cols, 10_000);
            let mut reference = Emulator::on_vt100_scrollback(rows, cols, 10_000);
            for line in lines {
                let event: serde_json::Value = serde_json::from_str(line).expect("json");
                if event[1] == "o" {
                    let data = event[2].as_str().unwrap_or_default().as_bytes();
                    ring.process(data);
                    reference.process(data);
                }
            }
            let name = path.display().to_string();
            assert_same(&ring, &reference, &name);
            // Then the same screen shrunk and grown again, lines leaving and coming back.
            for (rows, cols) in [(rows / 2, cols), (rows * 2, cols / 2), (rows, cols)] {
                ring.set_size(rows, cols);
                reference.set_size(rows, cols);
                assert_same(&ring, &reference, &format!("{name} at {rows}x{cols}"));
            }
            checked += 1;
        }
        assert!(checked >= 10, "the corpus is there");
    }
}
