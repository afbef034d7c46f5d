//! [`Emulator`]: vt100's parser and screen, completed where vt100 0.18 stops, so every
//! program that draws with the VT100/xterm repertoire draws right: character sets (G0–G3
//! designation, SO/SI, single shifts, the DEC Special Graphics and UK sets), tab stops
//! (HTS, TBC, HT, CHT, CBT, DECST8C; a tab waiting at the right margin leaves the wrap
//! pending), the ECMA-48 relative moves (HPR, VPR, HPB, VPB), REP only after a graphic
//! character, IND and NEL, DECALN, insert mode (IRM), no auto-wrap
//! (DECAWM off), new-line mode (LNM), moving back from a pending wrap (BS and CUB count
//! from the last column, where vt100 counts from one past it), and answers to the
//! queries a program may make (device attributes, status and cursor position reports).
//!
//! A small scanner runs in front of vt100 over the same bytes. It passes everything it
//! does not own to vt100 unchanged, in order, holding back only the bytes of an escape
//! sequence until it knows whether the sequence is one of its own; it acts on its own
//! sequences at that point, with vt100's screen (cursor, size) as it is then. What vt100
//! cannot represent is done with sequences vt100 does know (a tab is a cursor move to
//! the stop; an insert is an insert-characters before the character). No I/O, no clock.
//!
//! Not supported (the sequences are read and ignored): double-width and double-height
//! lines (DECDWL, DECDHL), 132-column mode (DECCOLM: the tab keeps the window's size),
//! left and right margins (DECSLRM), scrolling left and right (SL, SR), protected areas
//! (DECSCA), the current background on lines that scrolling brings in (vt100 gives them
//! the default one), the 96-character sets, and the VT52 mode.

use std::fmt::Write as _;
use std::num::NonZeroU16;

use unicode_width::UnicodeWidthChar;

use crate::scrollback::{self, Scrollback};

/// A character set, as ESC ( / ) / * / + designate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    Ascii,
    /// `0`: DEC Special Graphics (line drawing).
    DecGraphics,
    /// `A`: United Kingdom (`#` is `£`).
    Uk,
}

impl Charset {
    fn designated(final_byte: u8) -> Charset {
        match final_byte {
            b'0' => Charset::DecGraphics,
            b'A' => Charset::Uk,
            // B (ASCII) and the national sets we do not draw differently.
            _ => Charset::Ascii,
        }
    }

    fn code(self) -> char {
        match self {
            Charset::Ascii => 'B',
            Charset::DecGraphics => '0',
            Charset::Uk => 'A',
        }
    }

    /// What `byte` (0x20–0x7e) shows in this set.
    fn map(self, byte: u8) -> char {
        match self {
            Charset::Ascii => char::from(byte),
            Charset::Uk if byte == b'#' => '£',
            Charset::Uk => char::from(byte),
            Charset::DecGraphics => dec_graphics(byte),
        }
    }
}

/// The DEC Special Graphics set (VT100 User Guide, table 3-9), 0x5f–0x7e, as Unicode.
fn dec_graphics(byte: u8) -> char {
    match byte {
        // "Blank" in the VT100 manual (xterm.js leaves it as `_`).
        b'_' => '\u{a0}',
        b'`' => '◆',
        b'a' => '▒',
        b'b' => '␉',
        b'c' => '␌',
        b'd' => '␍',
        b'e' => '␊',
        b'f' => '°',
        b'g' => '±',
        b'h' => '␤',
        b'i' => '␋',
        b'j' => '┘',
        b'k' => '┐',
        b'l' => '┌',
        b'm' => '└',
        b'n' => '┼',
        b'o' => '⎺',
        b'p' => '⎻',
        b'q' => '─',
        b'r' => '⎼',
        b's' => '⎽',
        b't' => '├',
        b'u' => '┤',
        b'v' => '┴',
        b'w' => '┬',
        b'x' => '│',
        b'y' => '≤',
        b'z' => '≥',
        b'{' => 'π',
        b'|' => '≠',
        b'}' => '£',
        b'~' => '·',
        other => char::from(other),
    }
}

/// What DECSC saves of ours, beside vt100's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shifts {
    g: [Charset; 4],
    /// Which of G0–G3 is in GL (SO: G1, SI: G0).
    gl: usize,
}

impl Default for Shifts {
    fn default() -> Shifts {
        Shifts { g: [Charset::Ascii; 4], gl: 0 }
    }
}

/// Where the scanner is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    Ground,
    /// After ESC (held in `pending`).
    Esc,
    /// ESC and intermediates (held).
    EscIntermediate,
    /// A control sequence (held): `ESC [` and what follows.
    Csi,
    /// A control sequence too long to hold: passed through to its final byte.
    CsiPassing,
    /// A string (OSC, DCS, SOS, PM, APC) passed through to vt100 until its end.
    Passing {
        osc: bool,
    },
    /// An APC whose first bytes may be our own state (held until known).
    ApcStart,
    /// Our own state string (`ESC _ gh: … ST`), held until its end.
    Ours,
}

const MAX_HELD: usize = 256;
const MAX_STATE: usize = 64 * 1024;
const OURS: &[u8] = b"gh:";

pub struct Emulator {
    /// vt100 keeps no scrollback of its own: the lines it lets go of go to the ring.
    vt: vt100::Parser<Scrollback>,
    scan: Scan,
    /// The bytes of an escape sequence or string not yet decided on.
    held: Vec<u8>,
    /// Bytes for vt100, in order, not yet given to it.
    out: Vec<u8>,
    shifts: Shifts,
    saved: Shifts,
    /// G2 or G3 for the next character only (SS2, SS3).
    single_shift: Option<usize>,
    insert: bool,
    autowrap: bool,
    newline: bool,
    /// A tab stop at each column where it is true.
    tabs: Vec<bool>,
    /// A UTF-8 character arriving in pieces, while characters are handled one by one.
    utf8: Vec<u8>,
    /// Answers to the program's queries, for the caller to send back.
    replies: Vec<u8>,
    /// The last thing vt100 was given was a graphic character (what REP repeats).
    after_graphic: bool,
    /// vt100's parser was left between sequences and strings (not inside one the
    /// scanner passes through).
    vt_ground: bool,
}

/// Hands `bytes` to vt100 a line at a time: before each line feed (LF, VT, FF) that
/// finds the cursor on the bottom row of the main screen, the top row is staged (see
/// `Scrollback::stage`); between them, what each stretch drew is followed.
///
/// `ground`: vt100's parser is between sequences and strings at the start (else the
/// bytes cannot be read as text on their own).
fn feed_vt(vt: &mut vt100::Parser<Scrollback>, bytes: &[u8], mut ground: bool) {
    if vt.callbacks().capacity() == 0 {
        vt.process(bytes);
        return;
    }
    let mut rest = bytes;
    loop {
        let end = rest.iter().position(|b| matches!(b, 0x0a..=0x0c)).unwrap_or(rest.len());
        if end > 0 {
            ground = feed_stretch(vt, &rest[..end], ground);
        }
        if end == rest.len() {
            return;
        }
        let screen = vt.screen();
        if !screen.alternate_screen() && screen.cursor_position().0 + 1 == screen.size().0.get() {
            let (screen, scrollback) = vt.screen_and_callbacks_mut();
            scrollback.stage(screen);
        }
        vt.process(&rest[end..=end]);
        vt.callbacks_mut().disarm();
        rest = &rest[end + 1..];
    }
}

/// Hands vt100 a stretch with no line feed in it, and follows what it drew: text and
/// SGR sequences that leave the cursor on its row keep that row plain if all of it was
/// in the default attributes; anything else (another sequence, a wrap) makes every row
/// unknown. A scroll region set on the main screen is noted.
///
/// Returns whether vt100's parser is between sequences after it (as far as we know).
fn feed_stretch(vt: &mut vt100::Parser<Scrollback>, stretch: &[u8], ground: bool) -> bool {
    let screen = vt.screen();
    let alternate = screen.alternate_screen();
    let (row, col) = screen.cursor_position();
    let (rows, cols) = (screen.size().0.get(), screen.size().1.get());
    let started_default = default_pen(screen);
    let mut plain = started_default;
    let mut only_sgr = true;
    let mut region = None;
    let mut at = 0;
    while let Some(esc) = stretch[at..].iter().position(|&b| b == 0x1b) {
        plain = false;
        let sequence = &stretch[at + esc..];
        let params = sequence
            .get(2..)
            .map_or(0, |p| p.iter().take_while(|b| b.is_ascii_digit() || matches!(b, b';' | b':')).count());
        let end = match (sequence.get(1), sequence.get(2 + params)) {
            (Some(b'['), Some(b'm')) => None,
            (Some(b'['), Some(b'r')) => {
                // DECSTBM. The whole screen: no bounds, or from the first row to the last.
                let text = std::str::from_utf8(&sequence[2..2 + params]).unwrap_or("x");
                // Each bound is its first sub-parameter, as vt100 reads it.
                let mut bounds = text.split(';').map(|p| p.split(':').next().unwrap_or("").parse::<u16>().unwrap_or(0));
                let (top, bottom) = (bounds.next().unwrap_or(0), bounds.next().unwrap_or(0));
                region = Some(top > 1 || (bottom != 0 && bottom < rows));
                Some(at + esc + 3 + params)
            }
            // RIS: a new screen, its region the whole of it.
            (Some(b'c'), _) => {
                region = Some(false);
                Some(at + esc + 2)
            }
            _ => None,
        };
        if !matches!((sequence.get(1), sequence.get(2 + params)), (Some(b'['), Some(b'm'))) {
            only_sgr = false;
        }
        // What a region applies to is the screen in use when vt100 meets it: the stretch
        // is split after it, so that nothing after it can switch screens first.
        if let Some(end) = end.filter(|end| *end < stretch.len()) {
            let ground = feed_stretch(vt, &stretch[..end], ground);
            return feed_stretch(vt, &stretch[end..], ground);
        }
        at += esc + 1;
    }
    let pushed = vt.callbacks().pushed_so_far();
    vt.process(stretch);
    let screen = vt.screen();
    let moved = screen.cursor_position().0 != row || vt.callbacks().pushed_so_far() != pushed;
    let still_alternate = screen.alternate_screen();
    let scrollback = vt.callbacks_mut();
    if let Some(partial) = region.filter(|_| !still_alternate) {
        scrollback.set_region(partial);
    }
    if alternate && still_alternate {
        return ground && ends_in_ground(stretch);
    }
    if !only_sgr || moved || alternate != still_alternate {
        scrollback.forget_rows(rows);
        return ground && ends_in_ground(stretch);
    }
    // Printable ASCII and plain SGR from the first column in the default pen, a carriage
    // return at most at the end: these bytes are the row from its first cell, in our
    // form already.
    let text = stretch.strip_suffix(b"\r").unwrap_or(stretch);
    let simple = ground && simple_line(text, cols);
    let known = simple && started_default && col == 0;
    scrollback.wrote(row, known.then_some(text), plain);
    simple || ground && ends_in_ground(stretch)
}

/// Whether vt100's parser, between sequences before `stretch`, is so after it: whole
/// characters, whole control sequences and escapes, no string begun.
fn ends_in_ground(stretch: &[u8]) -> bool {
    // Whole UTF-8 characters, none of them a C1 control (U+0080 to U+009F).
    if !stretch.is_ascii()
        && (std::str::from_utf8(stretch).is_err()
            || stretch.windows(2).any(|pair| pair[0] == 0xc2 && (0x80..=0x9f).contains(&pair[1])))
    {
        return false;
    }
    let mut at = 0;
    while let Some(esc) = stretch[at..].iter().position(|&b| b == 0x1b) {
        let next = at + esc + 1;
        at = match stretch.get(next) {
            Some(b'[') => match stretch[next + 1..].iter().position(|b| !(0x20..=0x3f).contains(b)) {
                Some(len) if (0x40..=0x7e).contains(&stretch[next + 1 + len]) => next + 2 + len,
                _ => return false,
            },
            Some(b']' | b'P' | b'X' | b'^' | b'_') | None => return false,
            Some(0x30..=0x7e) => next + 1,
            Some(_) => return false,
        };
    }
    true
}

/// Printable ASCII, at most `cols` of it, and SGR sequences of the parameters that
/// vt100 and our reading of a kept line take the same way.
fn simple_line(text: &[u8], cols: u16) -> bool {
    let mut printed = 0;
    let mut at = 0;
    while at < text.len() {
        match text[at] {
            0x20..=0x7e => {
                printed += 1;
                at += 1;
            }
            0x1b if text.get(at + 1) == Some(&b'[') => {
                let params = text[at + 2..].iter().take_while(|b| b.is_ascii_digit() || **b == b';').count();
                if text.get(at + 2 + params) != Some(&b'm') {
                    return false;
                }
                let simple = text[at + 2..at + 2 + params].split(|b| *b == b';').all(|p| {
                    let n = std::str::from_utf8(p).ok().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
                    matches!(n, 0..=4 | 7 | 22..=24 | 27 | 30..=37 | 39..=47 | 49 | 90..=97 | 100..=107)
                });
                if !simple {
                    return false;
                }
                at += 3 + params;
            }
            _ => return false,
        }
    }
    printed <= usize::from(cols)
}

/// vt100 draws in the default attributes.
fn default_pen(screen: &vt100::Screen) -> bool {
    screen.fgcolor() == vt100::Color::Default
        && screen.bgcolor() == vt100::Color::Default
        && !(screen.bold() || screen.dim() || screen.italic() || screen.underline() || screen.inverse())
}

/// The SGR sequence that sets exactly `cell`'s attributes.
fn cell_sgr(cell: &vt100::Cell) -> String {
    let flags = [cell.bold(), cell.dim(), cell.italic(), cell.underline(), cell.inverse()];
    scrollback::sgr_for(cell.fgcolor(), cell.bgcolor(), flags)
}

fn size(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

fn default_tabs(cols: u16) -> Vec<bool> {
    (0..cols).map(|c| c > 0 && c % 8 == 0).collect()
}

impl Emulator {
    pub fn new(rows: u16, cols: u16, scrollback: usize) -> Emulator {
        Emulator {
            vt: vt100::Parser::new_with_callbacks(
                size(rows),
                size(cols),
                0,
                Scrollback::new(scrollback, size(rows).get()),
            ),
            scan: Scan::Ground,
            held: Vec::new(),
            out: Vec::new(),
            shifts: Shifts::default(),
            saved: Shifts::default(),
            single_shift: None,
            insert: false,
            autowrap: true,
            newline: false,
            tabs: default_tabs(size(cols).get()),
            utf8: Vec::new(),
            replies: Vec::new(),
            after_graphic: false,
            vt_ground: true,
        }
    }

    pub fn screen(&self) -> &vt100::Screen {
        self.vt.screen()
    }

    /// The same emulator on vt100 keeping its own scrollback (and the ring none): what
    /// the ring is compared with.
    #[cfg(test)]
    pub(crate) fn on_vt100_scrollback(rows: u16, cols: u16, scrollback: usize) -> Emulator {
        let mut emulator = Emulator::new(rows, cols, 0);
        emulator.vt =
            vt100::Parser::new_with_callbacks(size(rows), size(cols), scrollback, Scrollback::new(0, size(rows).get()));
        emulator
    }

    /// The lines that scrolled off the top of the main screen.
    pub fn scrollback(&self) -> &Scrollback {
        self.vt.callbacks()
    }

    pub fn scrollback_mut(&mut self) -> &mut Scrollback {
        self.vt.callbacks_mut()
    }

    /// Follows a new size; tab stops past the old width are the defaults. A taller
    /// screen takes lines back from the scrollback, as vt100 with its own would.
    pub fn set_size(&mut self, rows: u16, cols: u16) {
        self.flush();
        let old_rows = self.vt.screen().size().0.get();
        // vt100 puts back this many rows at the top of the main screen (blank, since it
        // keeps none): the newest kept lines fill the lowest of them.
        let given_back = if size(rows).get() > old_rows {
            self.scrollback().scrolled_off().min(usize::from(size(rows).get() - old_rows)).min(usize::from(u16::MAX))
        } else {
            0
        };
        self.vt.set_size(size(rows), size(cols));
        // A resize resets the scroll region, and rows move: none is known plain.
        self.scrollback_mut().set_region(false);
        self.scrollback_mut().forget_rows(size(rows).get());
        if given_back > 0 {
            let lines = self.scrollback_mut().take_newest(given_back, given_back);
            self.restore_lines(given_back - lines.len(), &lines);
        }
        let cols = usize::from(size(cols).get());
        let defaults = default_tabs(cols as u16);
        let kept = self.tabs.len().min(cols);
        self.tabs.truncate(kept);
        self.tabs.extend_from_slice(&defaults[kept..]);
    }

    /// Draws `lines` into the main screen's rows from `top` down (the rows a taller
    /// screen gave back), with their attributes and wraps, leaving the cursor, the pen
    /// and the screen in use as they were.
    fn restore_lines(&mut self, top: usize, lines: &[(Vec<scrollback::KeptCell>, bool)]) {
        if lines.is_empty() {
            return;
        }
        let alternate = self.vt.screen().alternate_screen();
        if alternate {
            // The lines belong to the main screen: draw there, then come back.
            self.vt.process(b"\x1b[?47l");
        }
        let screen = self.vt.screen();
        let cols = usize::from(screen.size().1.get());
        let (cursor_row, cursor_col) = screen.cursor_position();
        let pen = screen.attributes_formatted();
        // The row under the restored lines, whose first cell a wrap into it overwrites.
        let below = u16::try_from(top + lines.len())
            .ok()
            .and_then(|row| screen.cell(row, 0))
            .map(|cell| (cell.has_contents().then(|| cell.contents().to_string()), cell_sgr(cell)));
        let mut bytes = String::new();
        for (i, (cells, wrapped)) in lines.iter().enumerate() {
            // As vt100 has it, a line cut or widened to the new width no longer wraps.
            let wrapped = *wrapped && cells.len() == cols;
            let mut cells: Vec<scrollback::KeptCell> = cells.iter().take(cols).cloned().collect();
            // A wide character cut by a narrower screen is not drawn in half.
            if cells.last().is_some_and(|cell| cell.is_wide()) {
                cells.pop();
            }
            let _ = write!(bytes, "\x1b[{};1H", top + i + 1);
            scrollback::encode(&cells, &mut bytes);
            // Printed up to the last column, the next character wraps and marks the row
            // as wrapping; the next line is then written over it from its first cell.
            let ends_in_text =
                cells.iter().rev().find(|cell| !cell.is_wide_continuation()).is_some_and(|c| c.has_contents());
            if wrapped && ends_in_text {
                match (&below, i + 1 == lines.len()) {
                    (_, false) => bytes.push(' '),
                    (Some((Some(text), sgr)), true) => {
                        let _ = write!(bytes, "{sgr}{text}");
                    }
                    (Some((None, sgr)), true) => {
                        let _ = write!(bytes, " \x1b[{};1H{sgr}\x1b[X", top + i + 2);
                    }
                    (None, true) => {}
                }
            }
        }
        let _ = write!(bytes, "\x1b[0m\x1b[{};{}H{pen}", cursor_row + 1, cursor_col + 1);
        self.vt.process(bytes.as_bytes());
        if alternate {
            self.vt.process(b"\x1b[?47h");
        }
    }

    /// What the program asked the terminal (device attributes, cursor position), to send
    /// back to it; empty when it asked nothing.
    pub fn take_replies(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.replies)
    }

    /// Bytes that rebuild this screen and every mode (vt100's state, then ours).
    pub fn state_formatted(&self) -> Vec<u8> {
        let mut state = self.vt.screen().state_formatted().into_bytes();
        state.extend_from_slice(self.own_state().as_bytes());
        state
    }

    /// Our modes as the private string `ESC _ gh: … ST`, which only this emulator reads.
    fn own_state(&self) -> String {
        let g: String = self.shifts.g.iter().map(|c| c.code()).collect();
        let saved: String = self.saved.g.iter().map(|c| c.code()).collect();
        let tabs: Vec<String> =
            self.tabs.iter().enumerate().filter(|(_, on)| **on).map(|(c, _)| c.to_string()).collect();
        format!(
            "\x1b_gh:g={g};gl={};sg={saved};sgl={};irm={};awm={};lnm={};tabs={}\x1b\\",
            self.shifts.gl,
            self.saved.gl,
            u8::from(self.insert),
            u8::from(self.autowrap),
            u8::from(self.newline),
            tabs.join(",")
        )
    }

    fn apply_own_state(&mut self, text: &[u8]) {
        let Ok(text) = std::str::from_utf8(text) else { return };
        let charsets = |codes: &str| {
            let mut g = [Charset::Ascii; 4];
            for (slot, code) in g.iter_mut().zip(codes.bytes()) {
                *slot = Charset::designated(code);
            }
            g
        };
        for field in text.split(';') {
            let Some((key, value)) = field.split_once('=') else { continue };
            let flag = value == "1";
            match key {
                "g" => self.shifts.g = charsets(value),
                "gl" => self.shifts.gl = value.parse::<usize>().unwrap_or(0).min(3),
                "sg" => self.saved.g = charsets(value),
                "sgl" => self.saved.gl = value.parse::<usize>().unwrap_or(0).min(3),
                "irm" => self.insert = flag,
                "awm" => self.autowrap = flag,
                "lnm" => self.newline = flag,
                "tabs" => {
                    let cols = self.tabs.len();
                    self.tabs = vec![false; cols];
                    for stop in value.split(',').filter_map(|s| s.parse::<usize>().ok()) {
                        if stop < cols {
                            self.tabs[stop] = true;
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Feeds bytes from the program (any split: sequences may straddle calls).
    pub fn process(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            // The common case, in bulk: ordinary text and controls in the ground state
            // that nothing here changes.
            if self.scan == Scan::Ground && self.plain() {
                let start = i;
                let mut sequence_end = None;
                loop {
                    i += bytes[i..].iter().position(|&b| Self::stops_plain(b, self.newline)).unwrap_or(bytes.len() - i);
                    // The control sequences nothing here changes (colours, cursor moves,
                    // erases), whole in this read: part of the run too.
                    match Self::passing_csi(&bytes[i..]) {
                        Some(len) => {
                            i += len;
                            sequence_end = Some(i);
                        }
                        None => break,
                    }
                }
                if let Some(&last) = bytes[start..i].last() {
                    self.after_graphic = sequence_end != Some(i) && last >= 0x20 && last != 0x7f;
                }
                if self.out.is_empty() {
                    // Nothing waiting before it: straight to vt100, no copy.
                    // The scanner is between sequences: so is vt100.
                    feed_vt(&mut self.vt, &bytes[start..i], true);
                } else {
                    self.out.extend_from_slice(&bytes[start..i]);
                }
                if i == bytes.len() {
                    break;
                }
            }
            self.byte(bytes[i]);
            i += 1;
        }
        self.flush();
    }

    /// The length of the control sequence at the start of `bytes` if it is whole there and
    /// one vt100 alone handles right (none of ours), else `None`.
    fn passing_csi(bytes: &[u8]) -> Option<usize> {
        if bytes.len() < 3 || bytes[0] != 0x1b || bytes[1] != b'[' {
            return None;
        }
        let end = bytes[2..].iter().position(|b| !(0x20..=0x3f).contains(b))? + 2;
        let body = &bytes[2..end];
        // Erasing the scrollback (ED 3) is ours: the scrollback is.
        if bytes[end] == b'J' && body.contains(&b'3') {
            return None;
        }
        // A private marker's sequences (modes) are read by us; so are C0 controls inside.
        if body.first().is_some_and(|b| (0x3c..=0x3f).contains(b)) || body.iter().any(|b| (0x20..=0x2f).contains(b)) {
            return None;
        }
        matches!(
            bytes[end],
            b'm' | b'H'
                | b'f'
                | b'J'
                | b'K'
                | b'A'
                | b'B'
                | b'C'
                | b'G'
                | b'd'
                | b'r'
                | b'X'
                | b'P'
                | b'@'
                | b'L'
                | b'M'
                | b'S'
                | b'T'
                | b'`'
        )
        .then_some(end + 1)
    }

    /// Nothing to translate or do per character: text goes to vt100 as it is.
    fn plain(&self) -> bool {
        !self.insert && self.autowrap && self.single_shift.is_none() && self.shifts.g[self.shifts.gl] == Charset::Ascii
    }

    /// Bytes the bulk path stops at in the ground state.
    fn stops_plain(b: u8, newline: bool) -> bool {
        matches!(b, 0x1b | 0x0e | 0x0f | 0x09 | 0x08) || (newline && matches!(b, 0x0a..=0x0c))
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            feed_vt(&mut self.vt, &self.out, self.vt_ground);
            self.out.clear();
            // A string or an over-long sequence the scanner passes through is vt100's
            // to finish; everything else reached it whole.
            self.vt_ground = !matches!(self.scan, Scan::Passing { .. } | Scan::CsiPassing);
        }
    }

    /// vt100's cursor column, and whether it waits to wrap (past the last column).
    fn cursor_col(&mut self) -> (u16, bool) {
        self.flush();
        let cols = self.vt.screen().size().1.get();
        let (_, col) = self.vt.screen().cursor_position();
        (col.min(cols - 1), col >= cols)
    }

    fn cols(&self) -> u16 {
        self.vt.screen().size().1.get()
    }

    fn byte(&mut self, b: u8) {
        match self.scan {
            Scan::Ground => self.ground(b),
            Scan::Esc => self.esc(b),
            Scan::EscIntermediate => self.esc_intermediate(b),
            Scan::Csi => self.csi(b),
            Scan::CsiPassing => {
                self.out.push(b);
                if (0x40..=0x7e).contains(&b) {
                    self.scan = Scan::Ground;
                }
            }
            Scan::Passing { osc } => self.passing(b, osc),
            Scan::ApcStart => self.apc_start(b),
            Scan::Ours => self.ours(b),
        }
    }

    fn ground(&mut self, b: u8) {
        // A control between a character and REP leaves REP nothing to repeat.
        if (b < 0x20 && b != 0x1b) || b == 0x7f {
            self.after_graphic = false;
        }
        match b {
            0x1b => {
                self.held.clear();
                self.held.push(b);
                self.scan = Scan::Esc;
            }
            0x0e => self.shifts.gl = 1,
            0x0f => self.shifts.gl = 0,
            0x09 => self.tab_forward(1),
            0x08 => self.back(1),
            0x0a..=0x0c if self.newline => self.out.extend_from_slice(&[b'\r', b]),
            0x20..=0x7e => {
                let set = match self.single_shift.take() {
                    Some(g) => self.shifts.g[g],
                    None => self.shifts.g[self.shifts.gl],
                };
                let c = set.map(b);
                self.character(c);
            }
            0x80.. if !self.insert && self.autowrap => self.out.push(b),
            0x80.. => {
                // One character at a time (insert mode, no auto-wrap): gather its bytes.
                self.utf8.push(b);
                let want = match self.utf8[0] {
                    0xc0..=0xdf => 2,
                    0xe0..=0xef => 3,
                    0xf0..=0xf7 => 4,
                    _ => 1,
                };
                if self.utf8.len() >= want || !(0x80..=0xbf).contains(&b) && self.utf8.len() > 1 {
                    let bytes = std::mem::take(&mut self.utf8);
                    match std::str::from_utf8(&bytes).ok().and_then(|s| s.chars().next()) {
                        Some(c) => self.character(c),
                        None => self.out.extend_from_slice(&bytes),
                    }
                }
            }
            _ => self.out.push(b),
        }
    }

    /// One printable character, with insert mode and auto-wrap honoured.
    fn character(&mut self, c: char) {
        self.after_graphic = true;
        if self.plain() {
            let mut buf = [0u8; 4];
            self.out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            return;
        }
        let width = c.width().unwrap_or(1).min(2) as u16;
        if !self.autowrap && width > 0 {
            let (_, waiting) = self.cursor_col();
            if waiting {
                // Stay on the last column: the character replaces what is there.
                let cols = self.cols();
                self.out.extend_from_slice(format!("\x1b[{}G", cols + 1 - width).as_bytes());
            }
        }
        if self.insert && width > 0 {
            self.out.extend_from_slice(format!("\x1b[{width}@").as_bytes());
        }
        let mut buf = [0u8; 4];
        self.out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }

    /// What vt100 should see of the held sequence, as it was (not one of ours).
    fn release(&mut self, b: u8) {
        self.held.push(b);
        self.out.extend_from_slice(&self.held);
        self.held.clear();
        self.scan = Scan::Ground;
        self.after_graphic = false;
    }

    fn done(&mut self) {
        self.held.clear();
        self.scan = Scan::Ground;
        self.after_graphic = false;
    }

    /// C0 controls inside a sequence act at once (as in any VT parser), and the sequence
    /// goes on; ESC starts another; CAN and SUB cancel it. True if `b` was one of these.
    fn control_inside(&mut self, b: u8) -> bool {
        match b {
            0x1b => {
                self.held.clear();
                self.held.push(b);
                self.scan = Scan::Esc;
            }
            0x18 | 0x1a => self.done(),
            0x00..=0x1f => {
                let scan = self.scan;
                self.scan = Scan::Ground;
                self.ground(b);
                self.scan = scan;
            }
            _ => return false,
        }
        true
    }

    fn esc(&mut self, b: u8) {
        if self.control_inside(b) {
            return;
        }
        match b {
            0x20..=0x2f => {
                self.held.push(b);
                self.scan = Scan::EscIntermediate;
            }
            b'[' => {
                self.held.push(b);
                self.scan = Scan::Csi;
            }
            b']' | b'P' | b'X' | b'^' => {
                self.held.push(b);
                self.out.extend_from_slice(&self.held);
                self.held.clear();
                self.scan = Scan::Passing { osc: b == b']' };
            }
            b'_' => {
                self.held.push(b);
                self.scan = Scan::ApcStart;
            }
            b'D' => {
                self.out.push(b'\n');
                self.done();
            }
            b'E' => {
                self.out.extend_from_slice(b"\r\n");
                self.done();
            }
            b'H' => {
                let (col, _) = self.cursor_col();
                if let Some(stop) = self.tabs.get_mut(usize::from(col)) {
                    *stop = true;
                }
                self.done();
            }
            b'N' | b'O' => {
                self.single_shift = Some(if b == b'N' { 2 } else { 3 });
                self.done();
            }
            b'7' => {
                self.saved = self.shifts;
                self.release(b);
            }
            b'8' => {
                self.shifts = self.saved;
                self.release(b);
            }
            b'c' => {
                // What came before the reset scrolled into history first; then it goes.
                self.flush();
                self.scrollback_mut().clear();
                self.reset();
                self.release(b);
            }
            _ => self.release(b),
        }
    }

    /// RIS: everything of ours as at power-on.
    fn reset(&mut self) {
        self.shifts = Shifts::default();
        self.saved = Shifts::default();
        self.single_shift = None;
        self.insert = false;
        self.autowrap = true;
        self.newline = false;
        self.tabs = default_tabs(self.cols());
    }

    fn esc_intermediate(&mut self, b: u8) {
        if self.control_inside(b) {
            return;
        }
        if (0x20..=0x2f).contains(&b) && self.held.len() < 4 {
            self.held.push(b);
            return;
        }
        let intermediate = self.held.get(1).copied().unwrap_or(0);
        match (intermediate, b) {
            (b'(' | b')' | b'*' | b'+', 0x30..=0x7e) => {
                let slot = usize::from(intermediate - b'(');
                self.shifts.g[slot] = Charset::designated(b);
                self.done();
            }
            // 96-character sets, character-set selection (UTF-8), 7/8-bit controls.
            (b'-' | b'.' | b'/' | b'%' | b' ', 0x30..=0x7e) => self.done(),
            (b'#', b'8') => {
                self.done();
                self.alignment_pattern();
            }
            // Double-height and double-width lines: not drawn.
            (b'#', b'3'..=b'6') => self.done(),
            _ => self.release(b),
        }
    }

    /// DECALN: the screen full of E, the margins reset, the cursor home.
    fn alignment_pattern(&mut self) {
        self.flush();
        let (rows, cols) = self.vt.screen().size();
        let attributes = self.vt.screen().attributes_formatted();
        let mut pattern = String::from("\x1b[r\x1b[0m");
        let line = "E".repeat(usize::from(cols.get()));
        for row in 1..=rows.get() {
            pattern.push_str(&format!("\x1b[{row};1H{line}"));
        }
        pattern.push_str("\x1b[H");
        pattern.push_str(&attributes);
        self.vt.process(pattern.as_bytes());
        self.scrollback_mut().set_region(false);
        self.scrollback_mut().forget_rows(rows.get());
    }

    fn csi(&mut self, b: u8) {
        if self.control_inside(b) {
            return;
        }
        if !(0x40..=0x7e).contains(&b) {
            self.held.push(b);
            if self.held.len() > MAX_HELD || b >= 0x80 {
                self.out.extend_from_slice(&self.held);
                self.held.clear();
                self.scan = if b >= 0x80 { Scan::Ground } else { Scan::CsiPassing };
            }
            return;
        }
        let body = &self.held[2..];
        let private = body.first().copied().filter(|p| (0x3c..=0x3f).contains(p));
        let params_end = body.iter().position(|c| !(0x30..=0x3f).contains(c)).unwrap_or(body.len());
        let intermediates = &body[params_end..];
        let params_text = &body[usize::from(private.is_some())..params_end];
        let params: Vec<u16> = params_text
            .split(|&c| c == b';')
            .map(|p| std::str::from_utf8(p).ok().and_then(|s| s.split(':').next()?.parse().ok()).unwrap_or(0))
            .collect();
        let first = params.first().copied().unwrap_or(0);
        match (private, intermediates, b) {
            (None, [], b'g') => {
                match first {
                    0 => {
                        let (col, _) = self.cursor_col();
                        if let Some(stop) = self.tabs.get_mut(usize::from(col)) {
                            *stop = false;
                        }
                    }
                    3 => self.tabs.iter_mut().for_each(|stop| *stop = false),
                    _ => {}
                }
                self.done();
            }
            (None, [], b'D') => {
                self.done();
                self.back(first.max(1));
            }
            // HPR, VPR, VPB (ECMA-48): the cursor moves vt100 knows by other names.
            (None, [], b'a' | b'e' | b'k') => {
                let name = match b {
                    b'a' => 'C',
                    b'e' => 'B',
                    _ => 'A',
                };
                self.done();
                self.out.extend_from_slice(format!("\x1b[{}{name}", first.max(1)).as_bytes());
            }
            // HPB: back, as CUB.
            (None, [], b'j') => {
                self.done();
                self.back(first.max(1));
            }
            // REP repeats the graphic character just before it, and nothing else.
            (None, [], b'b') if !self.after_graphic => self.done(),
            (None, [], b'b') => {
                // vt100 repeats its last character; a count of 0 means 1.
                self.done();
                self.out.extend_from_slice(format!("\x1b[{}b", first.max(1)).as_bytes());
            }
            (None, [], b'I') => {
                self.done();
                self.tab_forward(first.max(1));
            }
            (None, [], b'Z') => {
                self.done();
                self.tab_back(first.max(1));
            }
            (None, [], b'h' | b'l') => {
                let on = b == b'h';
                for mode in &params {
                    match mode {
                        4 => self.insert = on,
                        20 => self.newline = on,
                        _ => {}
                    }
                }
                self.release(b);
            }
            (Some(b'?'), [], b'h' | b'l') => {
                let on = b == b'h';
                for mode in &params {
                    match mode {
                        7 => self.autowrap = on,
                        // The alternate screen with a saved cursor: ours is saved too.
                        1049 if on => self.saved = self.shifts,
                        1049 => self.shifts = self.saved,
                        _ => {}
                    }
                }
                self.release(b);
            }
            (Some(b'?'), [], b'W') if first == 5 => {
                self.tabs = default_tabs(self.cols());
                self.done();
            }
            (None, [b'!'], b'p') => {
                // DECSTR, a soft reset: our modes, and vt100's that it leaves alone.
                self.shifts = Shifts::default();
                self.saved = Shifts::default();
                self.single_shift = None;
                self.insert = false;
                self.autowrap = true;
                self.done();
                self.out.extend_from_slice(b"\x1b[?25h\x1b[0m");
            }
            (None | Some(b'?'), [], b'J') if first == 3 => {
                // ED 3 erases the main screen's scrollback (the alternate one has none).
                self.flush();
                if !self.vt.screen().alternate_screen() {
                    self.scrollback_mut().clear();
                }
                self.release(b);
            }
            (None, [], b'c') if first == 0 => {
                // Primary device attributes: a VT220 with ANSI colour.
                self.replies.extend_from_slice(b"\x1b[?62;22c");
                self.done();
            }
            (Some(b'>'), [], b'c') if first == 0 => {
                self.replies.extend_from_slice(b"\x1b[>1;10;0c");
                self.done();
            }
            (None, [], b'n') if first == 5 => {
                self.replies.extend_from_slice(b"\x1b[0n");
                self.done();
            }
            (None | Some(b'?'), [], b'n') if first == 6 => {
                self.flush();
                let (row, col) = self.vt.screen().cursor_position();
                let col = col.min(self.cols() - 1);
                let private = if private.is_some() { "?" } else { "" };
                self.replies.extend_from_slice(format!("\x1b[{private}{};{}R", row + 1, col + 1).as_bytes());
                self.done();
            }
            _ => self.release(b),
        }
    }

    /// BS and CUB: from a pending wrap the cursor is on the last column, and moves back
    /// from there (vt100 would count from one past it).
    fn back(&mut self, count: u16) {
        let (col, waiting) = self.cursor_col();
        if waiting {
            self.out.extend_from_slice(format!("\x1b[{}G", col.saturating_sub(count) + 1).as_bytes());
        } else if count == 1 {
            self.out.push(0x08);
        } else {
            self.out.extend_from_slice(format!("\x1b[{count}D").as_bytes());
        }
    }

    fn tab_forward(&mut self, count: u16) {
        let (mut col, waiting) = self.cursor_col();
        if waiting {
            // At the right margin with a wrap pending: the tab has nowhere to go, and the
            // next character wraps (as xterm and vttest have it).
            return;
        }
        let last = self.cols() - 1;
        for _ in 0..count {
            col = (col + 1..=last).find(|&c| self.tabs.get(usize::from(c)).copied().unwrap_or(false)).unwrap_or(last);
        }
        self.out.extend_from_slice(format!("\x1b[{}G", col + 1).as_bytes());
    }

    fn tab_back(&mut self, count: u16) {
        let (mut col, _) = self.cursor_col();
        for _ in 0..count {
            col = (0..col).rev().find(|&c| self.tabs.get(usize::from(c)).copied().unwrap_or(false)).unwrap_or(0);
        }
        self.out.extend_from_slice(format!("\x1b[{}G", col + 1).as_bytes());
    }

    fn passing(&mut self, b: u8, osc: bool) {
        match b {
            // The string ends; ESC begins the next sequence (ST is ESC \).
            0x1b => {
                self.held.clear();
                self.held.push(b);
                self.scan = Scan::Esc;
            }
            0x18 | 0x1a => {
                self.out.push(b);
                self.scan = Scan::Ground;
            }
            0x07 if osc => {
                self.out.push(b);
                self.scan = Scan::Ground;
            }
            _ => self.out.push(b),
        }
    }

    fn apc_start(&mut self, b: u8) {
        self.held.push(b);
        let tail = &self.held[2..];
        if OURS.starts_with(tail) {
            if tail.len() == OURS.len() {
                self.held.clear();
                self.scan = Scan::Ours;
            }
            return;
        }
        // Someone else's APC: let vt100 see it (and ignore it).
        self.out.extend_from_slice(&self.held);
        self.held.clear();
        self.scan = Scan::Passing { osc: false };
        if b == 0x1b {
            self.out.pop();
            self.held.push(b);
            self.scan = Scan::Esc;
        }
    }

    fn ours(&mut self, b: u8) {
        match b {
            0x1b => {
                let state = std::mem::take(&mut self.held);
                self.apply_own_state(&state);
                self.held.push(b);
                self.scan = Scan::Esc;
            }
            0x18 | 0x1a => self.done(),
            _ if self.held.len() < MAX_STATE => self.held.push(b),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> Emulator {
        let mut emulator = Emulator::new(6, 20, 0);
        emulator.process(bytes);
        emulator
    }

    fn text(emulator: &Emulator) -> String {
        emulator.screen().contents()
    }

    #[test]
    fn dec_line_drawing_through_g0_designation() {
        let e = run(b"\x1b(0lqqk\r\nx  x\r\nmqqj\x1b(B ok");
        assert_eq!(text(&e), "┌──┐\n│  │\n└──┘ ok");
    }

    #[test]
    fn shift_out_and_in_switch_between_g0_and_g1() {
        let e = run(b"\x1b)0a\x0eqx\x0fq");
        assert_eq!(text(&e), "a─│q");
    }

    #[test]
    fn the_uk_set_has_a_pound_sign_and_single_shifts_last_one_character() {
        assert_eq!(text(&run(b"\x1b(A#1 \x1b(B#2")), "£1 #2");
        assert_eq!(text(&run(b"\x1b*0\x1bNqq")), "─q");
    }

    #[test]
    fn a_designation_split_over_two_reads_still_applies() {
        let mut e = Emulator::new(2, 10, 0);
        e.process(b"\x1b(");
        e.process(b"0q");
        e.process(b"\x1b");
        e.process(b"(Bq");
        assert_eq!(text(&e), "─q");
    }

    #[test]
    fn tab_stops_are_set_cleared_and_followed() {
        // Clear all, set stops at 3 and 9, then tab twice.
        let e = run(b"\x1b[3g\x1b[4G\x1bH\x1b[10G\x1bH\r\ta\tb\tc");
        assert_eq!(text(&e), "   a     b         c");
        let cleared = run(b"\x1b[9G\x1b[0g\r\tx");
        assert_eq!(text(&cleared), "                x", "the stop at column 8 is gone, 16 is next");
        assert_eq!(text(&run(b"\x1b[20G\x1b[2Zx")), "        x", "back two stops from the end");
        assert_eq!(text(&run(b"\x1b[2Ix")), "                x");
    }

    #[test]
    fn a_tab_at_the_margin_keeps_the_wrap_pending() {
        let e = run(b"\x1b[20Gx\tyz");
        let rows: Vec<String> = e.screen().rows(0, 20).collect();
        assert_eq!(&rows[..2], ["                   x", "yz"]);
    }

    #[test]
    fn relative_moves_and_rep_after_a_graphic_character_only() {
        assert_eq!(text(&run(b"a\x1b[3ab\x1b[2jc")), "a  cb", "right three, b, back two: c just before b");
        assert_eq!(text(&run(b"\x1b[2e\x1b[3;1Hx\x1b[1kyz")), "\n yz\nx", "VPR down two, then VPB up one");
        assert_eq!(text(&run(b"+\x1b[2b\x1b[5b")), "+++", "the second REP follows a control, not a character");
    }

    #[test]
    fn ind_and_nel_move_down_and_scroll_at_the_bottom() {
        let e = run(b"a\x1bDb\x1bEc");
        let rows: Vec<String> = e.screen().rows(0, 20).collect();
        assert_eq!(&rows[..3], ["a", " b", "c"], "IND goes down in its column, NEL to the next line's start");
        let bottom = run(b"top\x1b[6;1Hlast\x1bD\x1bDx");
        let rows: Vec<String> = bottom.screen().rows(0, 20).collect();
        assert_eq!(rows[3], "last", "two INDs at the bottom scrolled twice");
        assert_eq!(rows[5], "    x");
        assert!(!rows.contains(&"top".to_string()));
    }

    #[test]
    fn decaln_fills_the_screen_with_e_and_homes_the_cursor() {
        let e = run(b"\x1b[31mx\x1b[2;4r\x1b#8");
        assert!(text(&e).lines().all(|l| l == "E".repeat(20)), "{}", text(&e));
        assert_eq!(e.screen().cursor_position(), (0, 0));
        assert_eq!(e.screen().cell(3, 3).unwrap().fgcolor(), vt100::Color::Default, "drawn in plain attributes");
        assert_eq!(e.screen().fgcolor(), vt100::Color::Idx(1), "the current attributes stay");
    }

    #[test]
    fn insert_mode_pushes_the_line_right() {
        assert_eq!(text(&run(b"abcdef\r\x1b[4hXY\x1b[4lZ")), "XYZbcdef");
        assert_eq!(text(&run(b"abc\r\x1b[4h\xe6\x97\xa5")), "日abc", "a wide character makes room for two");
    }

    #[test]
    fn without_auto_wrap_the_last_column_is_overwritten() {
        let e = run(b"\x1b[?7l01234567890123456789XYZ\r\n\x1b[?7hab");
        let rows: Vec<String> = e.screen().rows(0, 20).collect();
        assert_eq!(rows[0], "0123456789012345678Z");
        assert_eq!(rows[1], "ab");
    }

    #[test]
    fn backspace_after_the_last_column_counts_from_the_last_column() {
        // The cursor waits to wrap after "t"; BS goes to the "8" before it, which a space and x overwrite.
        let e = run(b"0123456789012345678t\x08 \x08x");
        assert_eq!(text(&e), "012345678901234567xt");
        let cub = run(b"01234567890123456789\x1b[2Dx");
        assert_eq!(text(&cub), "01234567890123456x89");
    }

    #[test]
    fn new_line_mode_returns_the_carriage_too() {
        assert_eq!(text(&run(b"ab\ncd\x1b[20h\nef")), "ab\n  cd\nef");
    }

    #[test]
    fn queries_are_answered() {
        let mut e = run(b"\x1b[3;5H\x1b[6n\x1b[c\x1b[5n");
        assert_eq!(e.take_replies(), b"\x1b[3;5R\x1b[?62;22c\x1b[0n");
        assert!(e.take_replies().is_empty());
    }

    #[test]
    fn everything_else_reaches_vt100_unchanged() {
        let e = run(b"\x1b[1;31mred\x1b[0m \x1b]0;title\x07ok\x1bPq#0\x1b\\!");
        assert_eq!(text(&e), "red ok!");
        assert!(e.screen().cell(0, 0).unwrap().bold());
    }

    #[test]
    fn the_state_string_carries_charsets_and_tabs_to_a_fresh_emulator() {
        let e = run(b"\x1b)0\x0e\x1b[3g\x1b[6G\x1bH\x1b[4h");
        let mut copy = Emulator::new(6, 20, 0);
        copy.process(&e.state_formatted());
        copy.process(b"\rq\tx");
        assert_eq!(text(&copy), "─    │", "G1 in GL, insert mode and the one stop at 5 survived");
        assert!(copy.take_replies().is_empty());
    }

    #[test]
    fn ris_resets_what_is_ours() {
        assert_eq!(text(&run(b"\x1b(0\x1bcq")), "q");
    }
}
