//! A terminal drawn on a canvas from the [`Terminal`] model: only the rows that changed
//! are repainted, at most once per animation frame; crisp at any devicePixelRatio.
//! Keys, pastes and size changes go out through the callbacks. Text that comes without
//! a key press (an input method, dictation, an on-screen keyboard) arrives in a
//! transparent `<textarea>` kept at the cursor, which holds the focus for the canvas;
//! what is being composed is shown there, underlined, until it is committed.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gatehouse_terminal::{KeyInput, Selection, Terminal, TextInput, encode_key, encode_paste, key_is_text_input};

use super::term_renderer::{FONT, Renderer};
use crate::term_prefs::{Palette, use_term_prefs};
use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlElement};

/// The cell under a mouse event, from its CSS-pixel offset in the canvas.
fn cell_at(event: &web_sys::MouseEvent, renderer: &RefCell<Option<Renderer>>, term: &Terminal) -> Option<(u16, u16)> {
    let renderer = renderer.borrow();
    let renderer = renderer.as_ref()?;
    let (rows, cols) = term.size();
    let row = (f64::from(event.offset_y()) / renderer.cell_h).floor().clamp(0.0, f64::from(rows - 1)) as u16;
    let col = (f64::from(event.offset_x()) / renderer.cell_w).floor().clamp(0.0, f64::from(cols - 1)) as u16;
    Some((row, col))
}

/// A renderer for `canvas` at a fixed grid size (the benchmark's; the live view sizes
/// from its container instead).
pub fn fixed_renderer(
    canvas: &HtmlCanvasElement,
    rows: u16,
    cols: u16,
    font_px: f64,
    palette: &'static Palette,
) -> Option<Renderer> {
    let ctx = canvas.get_context("2d").ok().flatten()?.dyn_into::<CanvasRenderingContext2d>().ok()?;
    let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let (cell_w, cell_h) = cell_size(&ctx, font_px);
    size_canvas(canvas, &ctx, rows, cols, cell_w, cell_h, dpr, font_px);
    Some(Renderer::new(ctx, cell_w, cell_h, dpr, font_px, palette))
}

/// The size of one cell, in CSS pixels, for the font at `font_px`.
fn cell_size(ctx: &CanvasRenderingContext2d, font_px: f64) -> (f64, f64) {
    ctx.set_font(&format!("{font_px}px {FONT}"));
    let cell_w = ctx.measure_text("M").map(|m| m.width()).unwrap_or(font_px * 0.6).max(1.0);
    (cell_w, (font_px * 1.3).round())
}

/// Gives the canvas the device pixels for `rows` × `cols` cells and the CSS size that
/// shows them 1:1, and sets the context's scale and font.
#[allow(clippy::too_many_arguments)]
fn size_canvas(
    canvas: &HtmlCanvasElement,
    ctx: &CanvasRenderingContext2d,
    rows: u16,
    cols: u16,
    cell_w: f64,
    cell_h: f64,
    dpr: f64,
    font_px: f64,
) {
    canvas.set_width((f64::from(cols) * cell_w * dpr).ceil() as u32);
    canvas.set_height((f64::from(rows) * cell_h * dpr).ceil() as u32);
    // CSSOM, not a style attribute: the CSP allows the former only.
    let style = web_sys::HtmlElement::style(canvas);
    let _ = style.set_property("width", &format!("{}px", f64::from(cols) * cell_w));
    let _ = style.set_property("height", &format!("{}px", f64::from(rows) * cell_h));
    let _ = canvas.set_attribute("data-cols", &cols.to_string());
    let _ = canvas.set_attribute("data-rows", &rows.to_string());
    let _ = ctx.scale(dpr, dpr);
    ctx.set_font(&format!("{font_px}px {FONT}"));
}

/// Rows and columns that fit `width` × `height` CSS pixels.
fn grid_for(width: f64, height: f64, cell_w: f64, cell_h: f64) -> (u16, u16) {
    let cols = (width / cell_w).floor().clamp(2.0, 500.0) as u16;
    let rows = (height / cell_h).floor().clamp(2.0, 300.0) as u16;
    (rows, cols)
}

#[component]
pub fn TerminalView(
    terminal: Rc<RefCell<Terminal>>,
    /// Bumped whenever output was fed, so the view schedules a paint.
    output: ReadSignal<u64>,
    on_input: Callback<Vec<u8>>,
    on_resize: Callback<(u16, u16)>,
    /// Ctrl+Shift+F: the browser's own find cannot see text drawn on a canvas.
    #[prop(optional)]
    on_search: Option<Callback<()>>,
) -> impl IntoView {
    let prefs = use_term_prefs();
    let canvas_ref = NodeRef::<html::Canvas>::new();
    let mirror_ref = NodeRef::<html::Pre>::new();
    let renderer: Rc<RefCell<Option<Renderer>>> = Rc::default();
    let frame_pending = Rc::new(Cell::new(false));

    let schedule = {
        let (renderer, terminal, frame_pending) = (renderer.clone(), terminal.clone(), frame_pending.clone());
        move || {
            if frame_pending.replace(true) {
                return;
            }
            let (renderer, terminal, frame_pending) = (renderer.clone(), terminal.clone(), frame_pending.clone());
            let paint = Closure::once_into_js(move || {
                frame_pending.set(false);
                if let Some(renderer) = renderer.borrow_mut().as_mut() {
                    let mirror = mirror_ref.get_untracked();
                    renderer.paint(&mut terminal.borrow_mut(), mirror.as_deref());
                }
            });
            if let Some(window) = web_sys::window() {
                let _ = window.request_animation_frame(paint.unchecked_ref());
            }
        }
    };

    // Fit the canvas to its box: size in device pixels, scale for crisp text.
    let fit = {
        let (renderer, terminal, schedule) = (renderer.clone(), terminal.clone(), schedule.clone());
        move |canvas: &HtmlCanvasElement| {
            let Some(ctx) =
                canvas.get_context("2d").ok().flatten().and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
            else {
                return;
            };
            let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
            let parent = canvas.parent_element();
            let (width, height) =
                parent.map_or((800.0, 480.0), |p| (f64::from(p.client_width()), f64::from(p.client_height())));
            if width < 1.0 || height < 1.0 {
                // A hidden tab has no size: keep the last one rather than tell the node 2x2.
                return;
            }
            let font_px = f64::from(prefs.font_px.get_untracked());
            let palette = prefs.theme.get_untracked().palette();
            let (cell_w, cell_h) = cell_size(&ctx, font_px);
            let (rows, cols) = grid_for(width, height, cell_w, cell_h);
            size_canvas(canvas, &ctx, rows, cols, cell_w, cell_h, dpr, font_px);
            if let Some(screen) = canvas.parent_element().and_then(|p| p.parent_element()) {
                let _ =
                    web_sys::HtmlElement::style(screen.unchecked_ref()).set_property("background", palette.background);
            }
            let changed = terminal.borrow().size() != (rows, cols);
            terminal.borrow_mut().resize(rows, cols);
            *renderer.borrow_mut() = Some(Renderer::new(ctx, cell_w, cell_h, dpr, font_px, palette));
            terminal.borrow_mut().repaint_all();
            if changed {
                on_resize.run((rows, cols));
            }
            schedule();
        }
    };

    let observer_fit = fit.clone();
    Effect::new(move |_| {
        let Some(canvas) = canvas_ref.get() else { return };
        let canvas: HtmlCanvasElement = canvas.clone();
        observer_fit(&canvas);
        let _ = canvas.focus();
        let refit = observer_fit.clone();
        let target = canvas.clone();
        let on_resize = Closure::<dyn FnMut()>::new(move || refit(&target));
        if let Ok(observer) = web_sys::ResizeObserver::new(on_resize.as_ref().unchecked_ref())
            && let Some(parent) = canvas.parent_element()
        {
            observer.observe(&parent);
        }
        // A ResizeObserver's callback, not an event listener (gloo has no wrapper for it):
        // it lives with the page, one per terminal view.
        on_resize.forget();
    });

    let prefs_fit = fit.clone();
    Effect::new(move |first: Option<()>| {
        prefs.theme.track();
        prefs.font_px.track();
        if first.is_some()
            && let Some(canvas) = canvas_ref.get_untracked()
        {
            prefs_fit(&canvas);
        }
    });

    let repaint = schedule.clone();
    Effect::new(move |_| {
        output.track();
        repaint();
    });

    let keys_terminal = terminal.clone();
    let keys_schedule = schedule.clone();
    let on_keydown = move |event: web_sys::KeyboardEvent| {
        let key = event.key();
        // The input method's: its text comes through the composition instead.
        if key_is_text_input(&key, event.is_composing()) {
            return;
        }
        let input = KeyInput {
            key: &key,
            ctrl: event.ctrl_key(),
            alt: event.alt_key(),
            shift: event.shift_key(),
            meta: event.meta_key(),
        };
        // Ctrl+Shift+V and Shift+Insert are the browser's paste: let them through.
        if (input.ctrl && input.shift && key.eq_ignore_ascii_case("v")) || (input.shift && key == "Insert") {
            return;
        }
        if input.ctrl
            && input.shift
            && key.eq_ignore_ascii_case("f")
            && let Some(on_search) = on_search
        {
            event.prevent_default();
            on_search.run(());
            return;
        }
        // Shift+PageUp/PageDown page through the scrollback, as in most terminals.
        if input.shift && !input.ctrl && (key == "PageUp" || key == "PageDown") {
            let rows = keys_terminal.borrow().size().0 as isize - 1;
            keys_terminal.borrow_mut().scroll_by(if key == "PageUp" { rows } else { -rows });
            event.prevent_default();
            keys_schedule();
            return;
        }
        let application_cursor = keys_terminal.borrow().screen().application_cursor();
        if let Some(bytes) = encode_key(input, application_cursor) {
            event.prevent_default();
            keys_terminal.borrow_mut().scroll_to_live();
            keys_schedule();
            on_input.run(bytes);
        }
    };
    let paste_terminal = terminal.clone();
    let on_paste = move |event: web_sys::ClipboardEvent| {
        let Some(text) = event.clipboard_data().and_then(|d| d.get_data("text/plain").ok()) else { return };
        event.prevent_default();
        let bracketed = paste_terminal.borrow().screen().bracketed_paste();
        on_input.run(encode_paste(&text, bracketed));
    };

    let wheel_terminal = terminal.clone();
    let wheel_renderer = renderer.clone();
    let wheel_schedule = schedule.clone();
    let on_wheel = move |event: web_sys::WheelEvent| {
        let mut term = wheel_terminal.borrow_mut();
        // Full-screen programs (vi, less) own the screen: no scrollback there.
        if term.screen().alternate_screen() {
            return;
        }
        let cell_h = wheel_renderer.borrow().as_ref().map_or(18.0, |r| r.cell_h);
        let lines = (event.delta_y() / cell_h).round() as isize;
        let lines = if lines == 0 { event.delta_y().signum() as isize } else { lines };
        term.scroll_by(-lines);
        event.prevent_default();
        drop(term);
        wheel_schedule();
    };

    // Text without a key press: composition (IME) and `beforeinput`, into the textarea.
    let text_input = Rc::new(RefCell::new(TextInput::new()));
    let input_ref = NodeRef::<html::Textarea>::new();
    let preedit_ref = NodeRef::<html::Span>::new();
    let place = {
        let (renderer, terminal) = (renderer.clone(), terminal.clone());
        move || {
            let renderer = renderer.borrow();
            let Some(renderer) = renderer.as_ref() else { return };
            let (row, col) = terminal.borrow().cursor().unwrap_or((0, 0));
            let (left, top) = (f64::from(col) * renderer.cell_w, f64::from(row) * renderer.cell_h);
            let font = format!("{}px {FONT}", renderer.font_px);
            let palette = prefs.theme.get_untracked().palette();
            for element in [
                input_ref.get_untracked().map(|e| -> HtmlElement { e.into() }),
                preedit_ref.get_untracked().map(|e| -> HtmlElement { e.into() }),
            ]
            .into_iter()
            .flatten()
            {
                let style = element.style();
                let _ = style.set_property("left", &format!("{left}px"));
                let _ = style.set_property("top", &format!("{top}px"));
                let _ = style.set_property("height", &format!("{}px", renderer.cell_h));
                let _ = style.set_property("line-height", &format!("{}px", renderer.cell_h));
                let _ = style.set_property("font", &font);
                let _ = style.set_property("color", palette.foreground);
                let _ = style.set_property("background", palette.background);
            }
        }
    };
    let show_preedit = {
        let text_input = text_input.clone();
        move || {
            let Some(preedit) = preedit_ref.get_untracked() else { return };
            let text = text_input.borrow().preedit().map(str::to_string);
            preedit.set_text_content(text.as_deref());
            preedit.set_hidden(text.is_none());
        }
    };
    let clear_input = move || {
        if let Some(input) = input_ref.get_untracked() {
            input.set_value("");
        }
    };
    let on_composition_start = {
        let (text_input, place, show_preedit) = (text_input.clone(), place.clone(), show_preedit.clone());
        move |_: web_sys::CompositionEvent| {
            text_input.borrow_mut().composition_start();
            place();
            show_preedit();
        }
    };
    let on_composition_update = {
        let (text_input, show_preedit) = (text_input.clone(), show_preedit.clone());
        move |event: web_sys::CompositionEvent| {
            text_input.borrow_mut().composition_update(&event.data().unwrap_or_default());
            show_preedit();
        }
    };
    let (end_terminal, end_schedule) = (terminal.clone(), schedule.clone());
    let on_composition_end = {
        let (text_input, show_preedit) = (text_input.clone(), show_preedit.clone());
        move |event: web_sys::CompositionEvent| {
            let committed = text_input.borrow_mut().composition_end(&event.data().unwrap_or_default());
            show_preedit();
            clear_input();
            if let Some(bytes) = committed {
                end_terminal.borrow_mut().scroll_to_live();
                end_schedule();
                on_input.run(bytes);
            }
        }
    };
    let (before_terminal, before_schedule) = (terminal.clone(), schedule.clone());
    let on_before_input = {
        let text_input = text_input.clone();
        move |event: web_sys::InputEvent| {
            let bytes = text_input.borrow_mut().before_input(
                &event.input_type(),
                event.data().as_deref(),
                event.is_composing(),
            );
            if let Some(bytes) = bytes {
                // Sent, so the textarea keeps nothing of it.
                event.prevent_default();
                before_terminal.borrow_mut().scroll_to_live();
                before_schedule();
                on_input.run(bytes);
            }
        }
    };
    let on_text_input = {
        let text_input = text_input.clone();
        move |_: web_sys::Event| {
            // Whatever the browser put there and nobody sent (a drop, an undo) goes.
            if !text_input.borrow().is_composing() {
                clear_input();
            }
        }
    };
    // The canvas's focus belongs to the textarea, which an input method can type into.
    let focus_input = {
        let place = place.clone();
        move |_: web_sys::FocusEvent| {
            place();
            if let Some(input) = input_ref.get_untracked() {
                let _ = input.focus();
            }
        }
    };

    let dragging = Rc::new(Cell::new(false));
    let (down_terminal, down_renderer, down_schedule, down_dragging) =
        (terminal.clone(), renderer.clone(), schedule.clone(), dragging.clone());
    let on_mousedown = move |event: web_sys::MouseEvent| {
        if event.button() != 0 {
            return;
        }
        let mut term = down_terminal.borrow_mut();
        let Some(cell) = cell_at(&event, &down_renderer, &term) else { return };
        term.select(Some(Selection { anchor: cell, head: cell }));
        down_dragging.set(true);
        drop(term);
        down_schedule();
    };
    let (move_terminal, move_renderer, move_schedule, move_dragging) =
        (terminal.clone(), renderer.clone(), schedule.clone(), dragging.clone());
    let on_mousemove = move |event: web_sys::MouseEvent| {
        if !move_dragging.get() {
            return;
        }
        let mut term = move_terminal.borrow_mut();
        let Some(head) = cell_at(&event, &move_renderer, &term) else { return };
        if let Some(selection) = term.selection() {
            term.select(Some(Selection { head, ..selection }));
        }
        drop(term);
        move_schedule();
    };
    let (up_terminal, up_schedule) = (terminal.clone(), schedule.clone());
    let on_mouseup = move |_event: web_sys::MouseEvent| {
        if !dragging.replace(false) {
            return;
        }
        let mut term = up_terminal.borrow_mut();
        match term.selection() {
            Some(selection) if selection.anchor == selection.head => term.select(None),
            Some(_) => {
                // Copy on select, as terminals on Linux do; the selection stays shown.
                if let (Some(text), Some(window)) = (term.selected_text(), web_sys::window()) {
                    let _ = window.navigator().clipboard().write_text(&text);
                }
            }
            None => {}
        }
        drop(term);
        up_schedule();
    };

    view! {
        <div class="terminal-box" on:keydown=on_keydown on:paste=on_paste>
            <canvas
                class="terminal-canvas"
                node_ref=canvas_ref
                tabindex="0"
                aria-label="Terminal"
                data-testid="terminal"
                on:focus=focus_input
                on:wheel=on_wheel
                on:mousedown=on_mousedown
                on:mousemove=on_mousemove
                on:mouseup=on_mouseup
            ></canvas>
            <textarea
                class="terminal-input"
                node_ref=input_ref
                tabindex="-1"
                aria-label="Terminal input"
                data-testid="terminal-input"
                autocomplete="off"
                autocapitalize="off"
                spellcheck="false"
                on:compositionstart=on_composition_start
                on:compositionupdate=on_composition_update
                on:compositionend=on_composition_end
                on:beforeinput=on_before_input
                on:input=on_text_input
            ></textarea>
            <span class="terminal-preedit" node_ref=preedit_ref data-testid="terminal-preedit" hidden></span>
            <pre class="visually-hidden" node_ref=mirror_ref data-testid="screen-text" aria-live="off"></pre>
        </div>
    }
}
