//! Search in a terminal's scrollback: a bar with the text to find, how many places it
//! appears, and buttons (or Enter / Shift+Enter) to step through them, newest first.
//! Each step scrolls the terminal there and selects the match.

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse_terminal::{Found, Terminal};
use leptos::html;
use leptos::prelude::*;

#[component]
pub fn TermSearch(
    terminal: Rc<RefCell<Terminal>>,
    /// Whether the bar is open; closing it returns the terminal to the live screen.
    open: RwSignal<bool>,
    /// Bumped to make the terminal repaint.
    repaint: WriteSignal<u64>,
) -> impl IntoView {
    let input_ref = NodeRef::<html::Input>::new();
    let found = StoredValue::new_local(Vec::<Found>::new());
    let count = RwSignal::new(0usize);
    let current = RwSignal::new(None::<usize>);
    let query = RwSignal::new(String::new());

    let show = {
        let terminal = terminal.clone();
        move |index: Option<usize>| {
            current.set(index);
            if let Some(i) = index {
                found.with_value(|f| terminal.borrow_mut().reveal(f[i]));
            } else {
                terminal.borrow_mut().select(None);
            }
            repaint.update(|n| *n += 1);
        }
    };
    let run = {
        let (terminal, show) = (terminal.clone(), show.clone());
        move |text: String| {
            let results = terminal.borrow_mut().search(&text);
            let last = results.len().checked_sub(1);
            count.set(results.len());
            found.set_value(results);
            show(last);
        }
    };
    let step = {
        let show = show.clone();
        move |delta: isize| {
            let n = count.get_untracked();
            if n == 0 {
                return;
            }
            let i = current.get_untracked().unwrap_or(n - 1) as isize;
            show(Some((i + delta).rem_euclid(n as isize) as usize));
        }
    };
    let close = {
        let terminal = terminal.clone();
        move || {
            open.set(false);
            let mut terminal = terminal.borrow_mut();
            terminal.select(None);
            terminal.scroll_to_live();
            repaint.update(|n| *n += 1);
        }
    };

    // Focus the field whenever the bar opens, and search again for what it holds (the
    // screen may have changed since).
    let reopen = run.clone();
    Effect::new(move |_| {
        if open.get() {
            if let Some(input) = input_ref.get() {
                let _ = input.focus();
                input.select();
            }
            reopen(query.get_untracked());
        }
    });

    let (on_input_run, key_step, key_close, older, newer, close_button) =
        (run.clone(), step.clone(), close.clone(), step.clone(), step.clone(), close.clone());
    view! {
        <div class="term-search" role="search" class:hidden=move || !open.get() data-testid="term-search">
            <input node_ref=input_ref type="search" placeholder="Search the scrollback" aria-label="Search the scrollback"
                data-testid="search-input" prop:value=move || query.get()
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    query.set(text.clone());
                    on_input_run(text);
                }
                on:keydown=move |ev: web_sys::KeyboardEvent| match ev.key().as_str() {
                    "Enter" => {
                        ev.prevent_default();
                        key_step(if ev.shift_key() { 1 } else { -1 });
                    }
                    "Escape" => {
                        ev.prevent_default();
                        key_close();
                    }
                    _ => {}
                }/>
            <span class="term-search-status" data-testid="search-status" aria-live="polite">
                {move || match (count.get(), current.get()) {
                    (_, _) if query.with(String::is_empty) => String::new(),
                    (0, _) => "No matches".to_string(),
                    (n, Some(i)) => format!("{} of {n}", i + 1),
                    (n, None) => format!("{n} matches"),
                }}
            </span>
            <button class="button button-small" type="button" title="Older match (Enter)" aria-label="Older match"
                data-testid="search-older" on:click=move |_| older(-1)>"↑"</button>
            <button class="button button-small" type="button" title="Newer match (Shift+Enter)" aria-label="Newer match"
                data-testid="search-newer" on:click=move |_| newer(1)>"↓"</button>
            <button class="button button-small" type="button" title="Close the search (Escape)" aria-label="Close the search"
                data-testid="search-close" on:click=move |_| close_button()>"×"</button>
        </div>
    }
}
