//! The Gatehouse single-page app. Components render; the API, session and theme logic
//! live in their own modules.

mod api;
mod app;
mod bench;
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

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
