//! The Gatehouse single-page app, as a library two binaries start:
//! - `gatehouse-web` (`main.rs`): the whole app, every page, the SSH tabs, the players
//!   and the desktops;
//! - `gatehouse-signin` (`bin/gatehouse-signin.rs`): the sign-in page alone, which the
//!   proxy serves when `/signin` is the first page loaded. It links only what signing in
//!   needs, so that first load stays small; signing in then loads the whole app.
//!
//! Components render; the API, session and theme logic live in their own modules.

mod api;
mod app;
mod components;
mod desktop_worker;
mod factors;
mod listen;
mod pages;
mod passkey;
mod session;
mod ssh;
mod term_prefs;
mod theme;
mod workspace;

#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// Mounts the whole app.
pub fn start_app() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}

/// Mounts the sign-in app.
pub fn start_signin() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::SignInApp);
}

/// What the terminal benchmark (`main.rs`'s `bench`) drives. It lives in the whole
/// app's binary, not here: its exports would otherwise keep the terminal in the sign-in
/// app's wasm too.
#[doc(hidden)]
pub mod bench_parts {
    pub use crate::components::term_renderer::Renderer;
    pub use crate::components::terminal_view::fixed_renderer;
    pub use crate::term_prefs::TermTheme;
}
