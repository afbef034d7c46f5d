//! Drawing a [`Terminal`] on a canvas: the rows that changed since the last paint, with
//! backgrounds merged into runs and each glyph copied from a glyph atlas (an offscreen
//! canvas where every (character, style, colour) is drawn once, at device resolution).
//! `fillText` shapes text on every call; copying pixels from the atlas does not.

use std::collections::HashMap;

use gatehouse_terminal::{Terminal, vt100};
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use crate::term_prefs::Palette;

pub(crate) const FONT: &str = "\"DejaVu Sans Mono\", ui-monospace, Menlo, Consolas, monospace";
/// Atlas size in device pixels; when full it starts over (glyphs are cheap to redraw).
const ATLAS_PX: u32 = 1024;

/// `#rrggbb` as 0xrrggbb.
fn parse_hex(css: &str) -> u32 {
    u32::from_str_radix(css.trim_start_matches('#'), 16).unwrap_or(0)
}

fn css(rgb: u32) -> String {
    format!("#{rgb:06x}")
}

/// A palette as numbers, so a cell's colours cost no allocation.
struct Colors {
    foreground: u32,
    background: u32,
    cursor: u32,
    selection: u32,
    ansi: [u32; 16],
}

impl Colors {
    fn new(p: &Palette) -> Colors {
        Colors {
            foreground: parse_hex(p.foreground),
            background: parse_hex(p.background),
            cursor: parse_hex(p.cursor),
            selection: parse_hex(p.selection),
            ansi: p.ansi.map(parse_hex),
        }
    }

    fn resolve(&self, c: vt100::Color, default: u32) -> u32 {
        match c {
            vt100::Color::Default => default,
            vt100::Color::Idx(i) if i < 16 => self.ansi[usize::from(i)],
            vt100::Color::Idx(i) if i < 232 => {
                let i = i - 16;
                let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * u32::from(v) };
                level(i / 36) << 16 | level((i / 6) % 6) << 8 | level(i % 6)
            }
            vt100::Color::Idx(i) => {
                let gray = 8 + 10 * (u32::from(i) - 232);
                gray << 16 | gray << 8 | gray
            }
            vt100::Color::Rgb(r, g, b) => u32::from(r) << 16 | u32::from(g) << 8 | u32::from(b),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct GlyphKey {
    ch: char,
    /// bold | italic << 1 | wide << 2
    style: u8,
    fg: u32,
}

struct Atlas {
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    slots: HashMap<GlyphKey, (f64, f64)>,
    /// Where the next glyph goes, in device pixels.
    next: (u32, u32),
    slot_w: u32,
    slot_h: u32,
    font: Option<u8>,
}

impl Atlas {
    fn new(slot_w: u32, slot_h: u32) -> Option<Atlas> {
        let canvas: HtmlCanvasElement =
            web_sys::window()?.document()?.create_element("canvas").ok()?.dyn_into().ok()?;
        canvas.set_width(ATLAS_PX);
        canvas.set_height(ATLAS_PX);
        let ctx = canvas.get_context("2d").ok().flatten()?.dyn_into::<CanvasRenderingContext2d>().ok()?;
        ctx.set_text_baseline("top");
        Some(Atlas { canvas, ctx, slots: HashMap::new(), next: (0, 0), slot_w, slot_h, font: None })
    }

    /// The atlas position of `key`'s glyph, drawing it first if it is new.
    fn glyph(&mut self, key: GlyphKey, font_px: f64, dpr: f64) -> (f64, f64) {
        if let Some(&at) = self.slots.get(&key) {
            return at;
        }
        let width = if key.style & 4 != 0 { 2 * self.slot_w } else { self.slot_w };
        if self.next.0 + width > ATLAS_PX {
            self.next = (0, self.next.1 + self.slot_h);
        }
        if self.next.1 + self.slot_h > ATLAS_PX {
            // Full: start over. Glyphs already on screen are pixels there, unaffected.
            self.slots.clear();
            self.next = (0, 0);
            self.ctx.clear_rect(0.0, 0.0, f64::from(ATLAS_PX), f64::from(ATLAS_PX));
        }
        let (x, y) = (f64::from(self.next.0), f64::from(self.next.1));
        self.next.0 += width;
        let style = key.style & 3;
        if self.font != Some(style) {
            let weight = if style & 1 != 0 { "bold " } else { "" };
            let slant = if style & 2 != 0 { "italic " } else { "" };
            self.ctx.set_font(&format!("{slant}{weight}{}px {FONT}", font_px * dpr));
            self.font = Some(style);
        }
        self.ctx.save();
        self.ctx.begin_path();
        self.ctx.rect(x, y, f64::from(width), f64::from(self.slot_h));
        self.ctx.clip();
        self.ctx.set_fill_style_str(&css(key.fg));
        let mut buf = [0u8; 4];
        let _ = self.ctx.fill_text(key.ch.encode_utf8(&mut buf), x, y + dpr);
        self.ctx.restore();
        self.slots.insert(key, (x, y));
        (x, y)
    }
}

pub struct Renderer {
    ctx: CanvasRenderingContext2d,
    pub(crate) cell_w: f64,
    pub(crate) cell_h: f64,
    dpr: f64,
    pub(crate) font_px: f64,
    colors: Colors,
    atlas: Option<Atlas>,
}

impl Renderer {
    /// A renderer for a canvas whose context is already scaled by `dpr` (drawing in CSS
    /// pixels), with cells of `cell_w` × `cell_h` CSS pixels.
    pub(crate) fn new(
        ctx: CanvasRenderingContext2d,
        cell_w: f64,
        cell_h: f64,
        dpr: f64,
        font_px: f64,
        palette: &'static Palette,
    ) -> Renderer {
        let slot_w = (cell_w * dpr).ceil() as u32;
        let slot_h = (cell_h * dpr).ceil() as u32;
        Renderer { ctx, cell_w, cell_h, dpr, font_px, colors: Colors::new(palette), atlas: Atlas::new(slot_w, slot_h) }
    }

    /// Snaps a CSS-pixel edge to the device pixel grid, so neighbouring cells share
    /// exact edges and runs of background show no seams.
    fn snap(&self, v: f64) -> f64 {
        (v * self.dpr).round() / self.dpr
    }

    fn fill(&self, current: &mut Option<u32>, rgb: u32) {
        if *current != Some(rgb) {
            self.ctx.set_fill_style_str(&css(rgb));
            *current = Some(rgb);
        }
    }

    /// Paints the rows that changed; returns whether anything was painted.
    pub fn paint(&mut self, term: &mut Terminal, mirror: Option<&web_sys::HtmlElement>) -> bool {
        // Moving drawn rows is exact only when a row is a whole number of device pixels.
        let row_px = self.cell_h * self.dpr;
        let frame = term.take_frame((row_px - row_px.round()).abs() < 1e-6);
        let (rows, cols) = term.size();
        if frame.scroll_up > 0
            && let Some(canvas) = self.ctx.canvas()
        {
            let moved = f64::from(frame.scroll_up) * row_px;
            let kept = f64::from(rows - frame.scroll_up) * row_px;
            let width = f64::from(canvas.width());
            let _ = self.ctx.draw_image_with_html_canvas_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
                &canvas,
                0.0,
                moved,
                width,
                kept,
                0.0,
                0.0,
                width / self.dpr,
                kept / self.dpr,
            );
        }
        let dirty = frame.rows;
        if dirty.is_empty() {
            return frame.scroll_up > 0;
        }
        // Backgrounds span the canvas's whole width, partial device pixel included, so a
        // moved row never keeps a half-covered edge.
        let full_width = self.ctx.canvas().map_or(f64::from(cols) * self.cell_w, |c| f64::from(c.width()) / self.dpr);
        let cursor = term.cursor();
        let selection = term.selection();
        let c = &self.colors;
        let mut fill = None;
        // (fg, bg) per column of the row being painted.
        let mut inks: Vec<(u32, u32)> = Vec::with_capacity(usize::from(cols));
        for row in dirty {
            // The live screen's row, or a line of the scrollback when scrolled back.
            let view = term.view_row(row);
            let y = f64::from(row) * self.cell_h;
            let (top, bottom) = (self.snap(y), self.snap(y + self.cell_h));
            self.fill(&mut fill, c.background);
            self.ctx.fill_rect(0.0, top, full_width, bottom - top);
            inks.clear();
            for col in 0..cols {
                let Some(cell) = view.cell(col) else {
                    inks.push((c.foreground, c.background));
                    continue;
                };
                // Bold text in one of the eight base colours is drawn in its bright twin,
                // as xterm and xterm.js do: dialog's white-on-grey box edges depend on it.
                let fg_colour = match cell.fgcolor() {
                    vt100::Color::Idx(i) if i < 8 && cell.bold() => vt100::Color::Idx(i + 8),
                    other => other,
                };
                let (mut fg, mut bg) = (c.resolve(fg_colour, c.foreground), c.resolve(cell.bgcolor(), c.background));
                // An erased cell shows its background only (as xterm's do): the inverse
                // (or underline) of whatever erased it does not paint it.
                if cell.inverse() && cell.has_contents() {
                    std::mem::swap(&mut fg, &mut bg);
                }
                if selection.is_some_and(|s| s.contains(row, col)) {
                    bg = c.selection;
                }
                if cursor == Some((row, col)) {
                    bg = c.cursor;
                    fg = c.background;
                }
                inks.push((fg, bg));
            }
            // Backgrounds: one rectangle per run of the same colour.
            let mut col = 0;
            while col < inks.len() {
                let bg = inks[col].1;
                let start = col;
                while col < inks.len() && inks[col].1 == bg {
                    col += 1;
                }
                if bg != c.background {
                    let (left, right) = (self.snap(start as f64 * self.cell_w), self.snap(col as f64 * self.cell_w));
                    self.fill(&mut fill, bg);
                    self.ctx.fill_rect(left, top, right - left, bottom - top);
                }
            }
            // Glyphs, from the atlas; underlines.
            for col in 0..cols {
                let Some(cell) = view.cell(col) else { continue };
                if cell.is_wide_continuation() {
                    continue;
                }
                let fg = inks[usize::from(col)].0;
                let x = self.snap(f64::from(col) * self.cell_w);
                let wide = cell.is_wide();
                let text = cell.contents();
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (None, _) | (Some(' '), None) => {}
                    (Some(ch), None) => {
                        let key = GlyphKey {
                            ch,
                            style: u8::from(cell.bold()) | u8::from(cell.italic()) << 1 | u8::from(wide) << 2,
                            fg,
                        };
                        if let Some(atlas) = self.atlas.as_mut() {
                            let (sx, sy) = atlas.glyph(key, self.font_px, self.dpr);
                            let sw = f64::from(if wide { 2 * atlas.slot_w } else { atlas.slot_w });
                            let sh = f64::from(atlas.slot_h);
                            let _ =
                                self.ctx.draw_image_with_html_canvas_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
                                    &atlas.canvas,
                                    sx,
                                    sy,
                                    sw,
                                    sh,
                                    x,
                                    top,
                                    sw / self.dpr,
                                    sh / self.dpr,
                                );
                        }
                    }
                    // A cluster of several characters (combining marks, emoji sequences):
                    // rare enough to draw directly.
                    _ => {
                        let weight = if cell.bold() { "bold " } else { "" };
                        let slant = if cell.italic() { "italic " } else { "" };
                        self.ctx.set_font(&format!("{slant}{weight}{}px {FONT}", self.font_px));
                        self.ctx.set_text_baseline("top");
                        self.fill(&mut fill, fg);
                        let _ = self.ctx.fill_text(text, x, y + 1.0);
                    }
                }
                if cell.underline() && cell.has_contents() {
                    let width = if wide { 2.0 } else { 1.0 } * self.cell_w;
                    self.fill(&mut fill, fg);
                    self.ctx.fill_rect(x, y + self.cell_h - 2.0, width, 1.0);
                }
            }
        }
        if let Some(mirror) = mirror {
            mirror.set_text_content(Some(&term.text()));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_and_xterm_colours_resolve_to_rgb() {
        let colors = Colors::new(crate::term_prefs::TermTheme::Dark.palette());
        assert_eq!(colors.resolve(vt100::Color::Default, 0x123456), 0x123456);
        assert_eq!(colors.resolve(vt100::Color::Idx(1), 0), 0xcc6666);
        assert_eq!(colors.resolve(vt100::Color::Idx(16), 0), 0x000000);
        assert_eq!(colors.resolve(vt100::Color::Idx(231), 0), 0xffffff);
        assert_eq!(colors.resolve(vt100::Color::Idx(196), 0), 0xff0000);
        assert_eq!(colors.resolve(vt100::Color::Idx(232), 0), 0x080808);
        assert_eq!(colors.resolve(vt100::Color::Rgb(1, 2, 3), 0), 0x010203);
        assert_eq!(css(0x0a0b0c), "#0a0b0c");
    }
}
