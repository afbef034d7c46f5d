//! The host CA pin: which CA a node's host certificate must be signed by. Learned on
//! first use from the proxy (or given in a sign-in link's `#pin=` fragment, which no
//! server sees), kept in localStorage (a public fingerprint, not a secret), and checked
//! against every host certificate. A mismatch stops the connection; there is no
//! fallback to trusting a bare key.

use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::{Fingerprint, HashAlg};

const KEY: &str = "gatehouse.host_ca_pin";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinError {
    /// The node showed a bare host key: nothing vouches for it.
    NotCertified,
    NotHostCertificate,
    /// Signed by a CA other than the pinned one: possible interception.
    WrongAuthority { pinned: String, got: String },
    /// Expired, not yet valid, or a bad signature.
    Invalid(String),
    /// The certificate is for another host.
    WrongHost { node: String, principals: Vec<String> },
}

impl std::fmt::Display for PinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinError::NotCertified => write!(f, "The node showed a host key that no Gatehouse host CA has signed."),
            PinError::NotHostCertificate => write!(f, "The node showed a certificate that is not a host certificate."),
            PinError::WrongAuthority { pinned, got } => write!(
                f,
                "The node's host certificate is signed by {got}, not by the pinned host CA {pinned}."
            ),
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

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn pinned() -> Option<String> {
    storage()?.get_item(KEY).ok()?.filter(|p| p.starts_with("SHA256:"))
}

pub fn remember(fingerprint: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(KEY, fingerprint);
    }
}

pub fn forget() {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(KEY);
    }
}

/// Takes a pin given in the page address's fragment (`#…&pin=SHA256:…`), as invite and
/// sign-in links from an admin carry it. A pin from the admin replaces one learned on
/// first use.
pub fn adopt_from_fragment() {
    let Some(hash) = web_sys::window().and_then(|w| w.location().hash().ok()) else { return };
    let given = hash
        .trim_start_matches('#')
        .split('&')
        .find_map(|pair| pair.strip_prefix("pin="))
        .filter(|fp| fp.starts_with("SHA256:") && fp.len() < 100);
    if let Some(fingerprint) = given {
        remember(fingerprint);
    }
}
