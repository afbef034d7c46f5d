//! The host CA pin: which CA a node's host certificate must be signed by. Learned on
//! first use from the proxy, or given in an admin's link (`#pin=`, see `link`; a link
//! sets the first pin but only the person can replace one), kept in localStorage (a
//! public fingerprint, not a secret), and checked against every host certificate
//! ([`gatehouse_ssh_policy::check_host`], the check the proxy makes too). A mismatch
//! stops the connection; there is no fallback to trusting a bare key.

pub mod link;

use leptos::prelude::{ArcTrigger, Notify, Track};

const KEY: &str = "gatehouse.host_ca_pin";

thread_local! {
    /// Notified on every change, so what shows the pin follows it.
    static CHANGED: ArcTrigger = ArcTrigger::new();
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn pinned() -> Option<String> {
    storage()?.get_item(KEY).ok()?.filter(|p| p.starts_with("SHA256:"))
}

/// [`pinned`], as a reactive read: a view that shows it updates when it changes.
pub fn watched() -> Option<String> {
    CHANGED.with(Track::track);
    pinned()
}

pub fn remember(fingerprint: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(KEY, fingerprint);
    }
    CHANGED.with(Notify::notify);
}

pub fn forget() {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(KEY);
    }
    CHANGED.with(Notify::notify);
}

/// Looks once, at start, at a pin the page's address offers. Nothing pinned: it is
/// adopted; the same pin: nothing to do; another one: nothing changes, and the conflict
/// is returned for the person to [`settle`].
pub fn offer_from_address() -> Option<link::Conflict> {
    let fragment = web_sys::window()?.location().hash().ok()?;
    let offered = link::offered(&fragment)?;
    match link::decide(pinned().as_deref(), offered) {
        link::Offer::Adopt(fingerprint) => remember(&fingerprint),
        link::Offer::Same => {}
        link::Offer::Conflict(conflict) => return Some(conflict),
    }
    remove_from_address();
    None
}

/// The person's answer to a link that offers another host CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Keep,
    Replace,
}

/// Applies the answer. Either way the address loses its pin, so a reload does not ask
/// again.
pub fn settle(conflict: &link::Conflict, choice: Choice) {
    if choice == Choice::Replace {
        remember(&conflict.offered);
    }
    remove_from_address();
}

/// Rewrites the address without its `pin=` (other fragment fields stay) and without
/// adding a history entry.
fn remove_from_address() {
    let Some(window) = web_sys::window() else { return };
    let location = window.location();
    let (Ok(path), Ok(search), Ok(fragment)) = (location.pathname(), location.search(), location.hash()) else {
        return;
    };
    let rest = link::without_pin(&fragment);
    let url = if rest.is_empty() { format!("{path}{search}") } else { format!("{path}{search}#{rest}") };
    if let Ok(history) = window.history() {
        // The router's state stays as it was.
        let state = history.state().unwrap_or(wasm_bindgen::JsValue::NULL);
        let _ = history.replace_state_with_url(&state, "", Some(&url));
    }
}
