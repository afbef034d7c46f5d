//! The certificate for one connection: right before each socket opens (a tab's first
//! connect and every Reconnect), the proxy certifies the page's key (`key`) for one node
//! and one login, for about a minute. Roles that ask for a passkey before each session
//! answer `mfa_required` instead; the certificate then comes from the passkey check
//! (`mfa`).

use gatehouse_proto::api::{MFA_REQUIRED, SshCertificate, SshCertificateRequest};
use russh::keys::ssh_key::Certificate;

use super::key::PageKey;
use crate::api;

/// A certificate for this connection's node and login.
pub struct Certified {
    pub certificate: Certificate,
    /// The host CA the proxy names, for a browser that has no pin yet.
    pub host_ca_fingerprint: String,
    /// What the Files panel may move.
    pub file_transfer: super::files::Allowed,
}

pub enum Refusal {
    /// Check a passkey first (`/ssh/mfa/*`): that gives the certificate.
    PasskeyFirst,
    /// No certificate, with the sentence to show (no access, locked, no such node…).
    Said(String),
}

/// Asks the proxy to certify `key` for `login` on `node`.
pub async fn certify(csrf: &str, key: &PageKey, node: &str, login: &str) -> Result<Certified, Refusal> {
    let request = SshCertificateRequest {
        public_key: key.openssh().map_err(Refusal::Said)?,
        node: node.to_string(),
        login: login.to_string(),
    };
    let info: SshCertificate = api::post("/api/v1/ssh/certificate", &request, csrf).await.map_err(|failure| {
        if failure.code == MFA_REQUIRED { Refusal::PasskeyFirst } else { Refusal::Said(failure.message) }
    })?;
    if info.node != node || info.login != login {
        return Err(Refusal::Said(format!(
            "The proxy certified {}@{} when {login}@{node} was asked for. Reload the page and try again.",
            info.login, info.node
        )));
    }
    let certificate = read(&info.certificate, key).map_err(Refusal::Said)?;
    Ok(Certified {
        certificate,
        host_ca_fingerprint: info.host_ca_fingerprint,
        file_transfer: super::files::Allowed::parse(&info.file_transfer),
    })
}

/// Reads a certificate the proxy issued, which must be for the page's key.
pub fn read(openssh: &str, key: &PageKey) -> Result<Certificate, String> {
    let certificate = Certificate::from_openssh(openssh)
        .map_err(|err| format!("The proxy's certificate could not be read ({err}). Reload the page."))?;
    if certificate.public_key() != key.public_key().key_data() {
        return Err("The proxy's certificate is for another key than this page's. Reload the page.".into());
    }
    Ok(certificate)
}
