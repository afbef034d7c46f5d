//! The Gatehouse single-page app. Components render; the API, session and theme logic
//! live in their own modules.

mod api;
mod app;
mod components;
mod pages;
mod session;
mod ssh;
mod term_prefs;
mod theme;
mod workspace;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
