//! The terminal as the benchmark drives it: the same model and renderer as a live tab,
//! fed from JavaScript, so `e2e/bench/terminal.mjs` can compare it with xterm.js in the
//! same page without SSH in the way. Reached through trunk's `window.wasmBindings`.

use gatehouse_terminal::Terminal;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

use gatehouse_web::bench_parts::{Renderer, TermTheme, fixed_renderer};

#[wasm_bindgen]
pub struct TerminalBench {
    terminal: Terminal,
    renderer: Renderer,
}

#[wasm_bindgen]
impl TerminalBench {
    /// A terminal of `rows` × `cols` drawn on `canvas` in the dark theme.
    #[wasm_bindgen(constructor)]
    pub fn new(canvas: HtmlCanvasElement, rows: u16, cols: u16, font_px: f64) -> Result<TerminalBench, JsValue> {
        let renderer = fixed_renderer(&canvas, rows, cols, font_px, TermTheme::Dark.palette())
            .ok_or_else(|| JsValue::from_str("no 2d context"))?;
        Ok(TerminalBench { terminal: Terminal::new(rows, cols, 10_000), renderer })
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.terminal.feed(bytes);
    }

    /// Draws the rows that changed since the last paint, as an animation frame does.
    pub fn paint(&mut self) {
        self.renderer.paint(&mut self.terminal, None);
    }

    /// The visible text, rows joined by newlines.
    pub fn text(&self) -> String {
        self.terminal.text()
    }
}
