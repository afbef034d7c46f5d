//! The host CA pin: which CA a node's host certificate must be signed by. Learned on
//! first use from the proxy, or given in an admin's link (`#pin=`, see `link`; a link
//! sets the first pin but only the person can replace one), kept in localStorage (a
//! public fingerprint, not a secret), and checked against every host certificate. A
//! mismatch stops the connection; there is no fallback to trusting a bare key.

pub mod link;

use leptos::prelude::{ArcTrigger, Notify, Track};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::{Fingerprint, HashAlg};

const KEY: &str = "gatehouse.host_ca_pin";

thread_local! {
    /// Notified on every change, so what shows the pin follows it.
    static CHANGED: ArcTrigger = ArcTrigger::new();
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinError {
    /// The node showed a bare host key: nothing vouches for it.
    NotCertified,
    NotHostCertificate,
    /// Signed by a CA other than the pinned one: possible interception.
    WrongAuthority {
        pinned: String,
        got: String,
    },
    /// Expired, not yet valid, or a bad signature.
    Invalid(String),
    /// The certificate is for another host.
    WrongHost {
        node: String,
        principals: Vec<String>,
    },
}

impl std::fmt::Display for PinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinError::NotCertified => write!(f, "The node showed a host key that no Gatehouse host CA has signed."),
            PinError::NotHostCertificate => write!(f, "The node showed a certificate that is not a host certificate."),
            PinError::WrongAuthority { pinned, got } => {
                write!(f, "The node's host certificate is signed by {got}, not by the pinned host CA {pinned}.")
            }
            PinError::Invalid(why) => write!(f, "The node's host certificate is not valid: {why}."),
            PinError::WrongHost { node, principals } => {
                write!(f, "The host certificate is for {}, not for {node}.", principals.join(", "))
            }
        }
    }
}

/// Checks what the node presented at `now` (Unix seconds). On success, the certificate's
/// key id (which says whether the proxy's recording server answered).
pub fn check(key: &PublicKeyOrCertificate, pinned: &str, node: &str, now: u64) -> Result<String, PinError> {
    let PublicKeyOrCertificate::Certificate(cert) = key else {
        return Err(PinError::NotCertified);
    };
    if cert.cert_type() != CertType::Host {
        return Err(PinError::NotHostCertificate);
    }
    let signer = cert.signature_key().fingerprint(HashAlg::Sha256);
    if signer.to_string() != pinned {
        return Err(PinError::WrongAuthority { pinned: pinned.to_string(), got: signer.to_string() });
    }
    let trusted: Fingerprint = signer;
    cert.validate_at(now, [&trusted]).map_err(|err| PinError::Invalid(err.to_string()))?;
    if !cert.valid_principals().iter().any(|p| p == node) {
        return Err(PinError::WrongHost { node: node.to_string(), principals: cert.valid_principals().to_vec() });
    }
    Ok(cert.key_id().to_string())
}

// Hand-written, not gloo-storage: that stores JSON (what is kept here is plain text, and
// would no longer read back) and throws when the browser blocks storage.
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
