//! Signing the browser's key for one decision: one node, one login, a minute either side
//! of now. In direct mode the certificate is from the user CA the node trusts, for
//! `login@node`, from the proxy's egress address only, with forwarding only if a role
//! grants it; in recorded mode it is from the session CA, which only the proxy's own SSH
//! server accepts.

use std::net::IpAddr;

use russh::keys::ssh_key::PublicKey;

use crate::access::rbac::SshMode;
use crate::access::{Refusal, SshGrant};
use crate::audit::Kind;
use crate::gate::Gatehouse;

/// How far either side of now a certificate is valid: clocks differ a little.
pub const CERT_SKEW_SECS: u64 = 60;

/// Signs `key` for `grant`: the certificate (OpenSSH text) and when it stops working.
/// Audited with its scope.
pub async fn certify(
    gatehouse: &Gatehouse,
    peer: IpAddr,
    grant: &SshGrant,
    key: &PublicKey,
) -> Result<(String, u64), Refusal> {
    let node = grant.node.name.to_string();
    let (ca, source_address) = match grant.mode {
        SshMode::Recorded => (&gatehouse.cas.session, None),
        SshMode::Direct => {
            let source = match &gatehouse.ssh_source_addresses {
                Some(configured) => configured.clone(),
                None => route_source(&grant.node.addr).await.ok_or_else(|| {
                    Refusal::Unreachable(format!(
                        "The proxy has no route to {node} ({}); the node may be down or misnamed.",
                        grant.node.addr
                    ))
                })?,
            };
            (&gatehouse.cas.user, Some(source))
        }
    };
    let now = crate::auth::now();
    let cert_grant = crate::ca::UserGrant {
        principal: gatehouse_ssh_policy::principal(&grant.login, &node),
        key_id: gatehouse_ssh_policy::browser_key_id(&grant.user),
        source_address: source_address.clone(),
        extensions: grant.extensions,
        valid_after: now.saturating_sub(CERT_SKEW_SECS),
        valid_before: now + CERT_SKEW_SECS,
    };
    let certificate = ca.sign_user(key, &cert_grant).and_then(|cert| Ok(cert.to_openssh()?)).map_err(|err| {
        tracing::error!(%err, user = %grant.user, "cannot sign a user certificate");
        Refusal::Unavailable("The proxy cannot sign certificates right now; an admin should look at its log.".into())
    })?;
    let detail = format!(
        "{} on {node}, {}, until {}{}",
        grant.login,
        if grant.mode == SshMode::Recorded { "recorded (session CA)" } else { "direct (user CA)" },
        cert_grant.valid_before,
        source_address.map(|s| format!(", from {s}")).unwrap_or_default()
    );
    gatehouse.audit.record(Kind::SshCertIssued, Some(&grant.user), Some(peer), &detail);
    if grant.mode == SshMode::Direct {
        // Noted before the certificate leaves: a session that cannot answer for its
        // login must not be opened by it.
        gatehouse.passes.note_certified(&grant.user, &node, &grant.login, cert_grant.valid_before, now).map_err(
            |err| {
                tracing::error!(%err, user = %grant.user, "cannot note a certified login");
                Refusal::Unavailable(crate::gate::STATE_UNREADABLE.into())
            },
        )?;
    }
    Ok((certificate, cert_grant.valid_before))
}

/// The address this machine's connection to `addr` would come from (no packet is sent:
/// a UDP socket is only routed).
async fn route_source(addr: &str) -> Option<String> {
    let target = tokio::net::lookup_host(addr).await.ok()?.next()?;
    let bind = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = std::net::UdpSocket::bind(bind).ok()?;
    socket.connect(target).ok()?;
    Some(socket.local_addr().ok()?.ip().to_string())
}

/// Why the browser's public key is not one the proxy certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("The public key is not an OpenSSH public key (ssh-ed25519 AAAA…).")]
    NotOpenSsh,
    #[error("Only Ed25519 keys are certified.")]
    NotEd25519,
}

/// The browser's OpenSSH public key, if it is an Ed25519 one (the only kind certified).
pub fn browser_key(text: &str) -> Result<PublicKey, KeyError> {
    let key = PublicKey::from_openssh(text.trim()).map_err(|_| KeyError::NotOpenSsh)?;
    if key.algorithm() != russh::keys::ssh_key::Algorithm::Ed25519 {
        return Err(KeyError::NotEd25519);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ed25519_keys_are_certified() {
        let ed25519 = crate::ca::ephemeral_key("test").public_key().to_openssh().unwrap();
        assert!(browser_key(&format!("  {ed25519}\n")).is_ok());
        assert_eq!(browser_key("ssh-ed25519 not-base64").unwrap_err(), KeyError::NotOpenSsh);
        // Made with ssh-keygen -t ecdsa for this test.
        let ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNIMe/8dcKuyR9SNdIt/shqsuQCE9SEhzrguMYzxJOgo/kzBPWaplKrnQC1MimNWKxcr3UfsoGrfBl6UPmP4/Z4= test";
        assert_eq!(browser_key(ecdsa).unwrap_err(), KeyError::NotEd25519);
    }
}
