//! Gatehouse's SSH certificate policy, in one place for the browser (wasm) and the
//! proxy (native): what a certificate names ([`principal`], the key ids) and how each
//! end checks the certificate the other shows ([`check_host`], [`check_user`]). Pure
//! functions over `ssh-key` certificates and a clock; errors are typed, each with the
//! sentence a person reads.
//!
//! The model: every user certificate names exactly one principal, `login@node`, which a
//! node's sshd asks for (`AuthorizedPrincipalsCommand /bin/echo %u@NAME`), so it opens
//! one login on one node. Every host certificate names the node, and the browser trusts
//! only the host CA it pinned.

use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::{Certificate, Fingerprint, HashAlg};

/// The key id of the host certificate the proxy's own SSH server presents in recorded
/// mode. Only the host CA can issue it, so a browser that sees it (after the pin check)
/// knows its session ends at the proxy and is recorded.
pub const RECORDING_PROXY_KEY_ID: &str = "gatehouse:recording-proxy";

/// The key id of the certificates `gatehouse nodes check` probes a node with.
pub const NODES_CHECK_KEY_ID: &str = "gatehouse:nodes-check";

/// The one principal of a user certificate for `login` on `node`.
pub fn principal(login: &str, node: &str) -> String {
    format!("{login}@{node}")
}

/// The key id of the certificate a browser signs in with; the proxy's recording server
/// admits only the web session's own user.
pub fn browser_key_id(user: &str) -> String {
    format!("gatehouse:{user}")
}

/// The key id of the certificate the proxy signs in to a node with, for `user`'s
/// recorded session: the node's log says whose session it was.
pub fn recorded_key_id(user: &str) -> String {
    format!("{}:recorded", browser_key_id(user))
}

/// The principals of a node's host certificate: its name, and the host part of its
/// address when that differs (what a client may dial it by).
pub fn host_principals(name: &str, addr: &str) -> Vec<String> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let mut principals = vec![name.to_string()];
    if host != name {
        principals.push(host.to_string());
    }
    principals
}

/// Why a node's host key is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCertError {
    /// The node showed a bare host key: nothing vouches for it.
    NotCertified,
    NotHostCertificate,
    /// Signed by a CA other than the trusted one: possible interception.
    WrongAuthority {
        trusted: String,
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

impl std::fmt::Display for HostCertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostCertError::NotCertified => {
                write!(f, "The node showed a host key that no Gatehouse host CA has signed.")
            }
            HostCertError::NotHostCertificate => {
                write!(f, "The node showed a certificate that is not a host certificate.")
            }
            HostCertError::WrongAuthority { trusted, got } => {
                write!(f, "The node's host certificate is signed by {got}, not by the pinned host CA {trusted}.")
            }
            HostCertError::Invalid(why) => write!(f, "The node's host certificate is not valid: {why}."),
            HostCertError::WrongHost { node, principals } => {
                write!(f, "The host certificate is for {}, not for {node}.", principals.join(", "))
            }
        }
    }
}

impl std::error::Error for HostCertError {}

/// Checks what the node presented at `now` (Unix seconds) against the host CA whose
/// SHA-256 fingerprint (`SHA256:…`) is `trusted`. On success, the certificate's key id.
pub fn check_host(key: &PublicKeyOrCertificate, trusted: &str, node: &str, now: u64) -> Result<String, HostCertError> {
    let PublicKeyOrCertificate::Certificate(cert) = key else {
        return Err(HostCertError::NotCertified);
    };
    if cert.cert_type() != CertType::Host {
        return Err(HostCertError::NotHostCertificate);
    }
    let signer = cert.signature_key().fingerprint(HashAlg::Sha256);
    if signer.to_string() != trusted {
        return Err(HostCertError::WrongAuthority { trusted: trusted.to_string(), got: signer.to_string() });
    }
    cert.validate_at(now, [&signer]).map_err(|err| HostCertError::Invalid(err.to_string()))?;
    if !cert.valid_principals().iter().any(|p| p == node) {
        return Err(HostCertError::WrongHost { node: node.to_string(), principals: cert.valid_principals().to_vec() });
    }
    Ok(cert.key_id().to_string())
}

/// Why the recording server refuses a browser's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCertError {
    /// The login asked for is not the one the socket was opened for.
    WrongLogin {
        asked: String,
        opened: String,
    },
    NotUserCertificate,
    /// Not from the session CA, expired, or a bad signature.
    Invalid(String),
    /// Not exactly the one principal `login@node`.
    WrongPrincipal {
        got: Vec<String>,
        wanted: String,
    },
    /// Issued to someone other than the signed-in user.
    WrongUser {
        key_id: String,
    },
}

impl std::fmt::Display for UserCertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserCertError::WrongLogin { asked, opened } => {
                write!(f, "asked to log in as {asked}, but the session was opened for {opened}")
            }
            UserCertError::NotUserCertificate => write!(f, "the certificate is not a user certificate"),
            UserCertError::Invalid(why) => {
                write!(f, "the certificate is not valid for the Gatehouse session CA: {why}")
            }
            UserCertError::WrongPrincipal { got, wanted } => {
                write!(f, "the certificate is for {}, not {wanted}", got.join(", "))
            }
            UserCertError::WrongUser { key_id } => {
                write!(f, "the certificate was issued to {key_id}, not to the signed-in user")
            }
        }
    }
}

impl std::error::Error for UserCertError {}

/// What a recorded session's socket was opened for: whose, which node, which login.
#[derive(Debug, Clone, Copy)]
pub struct Opened<'a> {
    pub user: &'a str,
    pub node: &'a str,
    pub login: &'a str,
}

/// The browser's certificate must be from the session CA, current, for the login it asks
/// for on this node (which must be what the socket was opened for), and issued to the
/// user whose web session opened the socket.
pub fn check_user(
    cert: &Certificate,
    login: &str,
    opened: Opened<'_>,
    session_ca: &Fingerprint,
    now: u64,
) -> Result<(), UserCertError> {
    if login != opened.login {
        return Err(UserCertError::WrongLogin { asked: login.to_string(), opened: opened.login.to_string() });
    }
    if cert.cert_type() != CertType::User {
        return Err(UserCertError::NotUserCertificate);
    }
    cert.validate_at(now, [session_ca]).map_err(|err| UserCertError::Invalid(err.to_string()))?;
    let wanted = principal(login, opened.node);
    if cert.valid_principals() != [wanted.as_str()] {
        return Err(UserCertError::WrongPrincipal { got: cert.valid_principals().to_vec(), wanted });
    }
    if cert.key_id() != browser_key_id(opened.user) {
        return Err(UserCertError::WrongUser { key_id: cert.key_id().to_string() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::PrivateKey;
    use russh::keys::ssh_key::certificate::Builder;
    use russh::keys::ssh_key::private::Ed25519Keypair;

    const NOW: u64 = 1_800_000_000;

    fn key(seed: u8) -> PrivateKey {
        PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]))
    }

    fn fingerprint(ca: &PrivateKey) -> Fingerprint {
        ca.fingerprint(HashAlg::Sha256)
    }

    fn certificate(ca: &PrivateKey, kind: CertType, principals: &[&str], key_id: &str) -> Certificate {
        let mut builder =
            Builder::new(vec![7; 32], key(9).public_key().key_data().clone(), NOW - 60, NOW + 60).unwrap();
        builder.cert_type(kind).unwrap();
        builder.key_id(key_id).unwrap();
        for principal in principals {
            builder.valid_principal(*principal).unwrap();
        }
        builder.sign(ca).unwrap()
    }

    fn host(ca: &PrivateKey, name: &str) -> PublicKeyOrCertificate {
        PublicKeyOrCertificate::Certificate(certificate(ca, CertType::Host, &[name], "web-1"))
    }

    #[test]
    fn a_host_certificate_must_be_from_the_trusted_ca_current_and_for_the_node() {
        let (ca, other) = (key(1), key(2));
        let trusted = fingerprint(&ca).to_string();
        assert_eq!(check_host(&host(&ca, "web-1"), &trusted, "web-1", NOW), Ok("web-1".to_string()));
        let err = check_host(&host(&ca, "web-2"), &trusted, "web-1", NOW).unwrap_err();
        assert_eq!(err, HostCertError::WrongHost { node: "web-1".into(), principals: vec!["web-2".into()] });
        assert_eq!(err.to_string(), "The host certificate is for web-2, not for web-1.");
        assert!(matches!(
            check_host(&host(&ca, "web-1"), &trusted, "web-1", NOW + 120),
            Err(HostCertError::Invalid(_))
        ));
        let swapped = check_host(&host(&other, "web-1"), &trusted, "web-1", NOW).unwrap_err();
        assert_eq!(
            swapped,
            HostCertError::WrongAuthority { trusted: trusted.clone(), got: fingerprint(&other).to_string() }
        );
        assert!(swapped.to_string().contains("not by the pinned host CA SHA256:"));
        let plain = PublicKeyOrCertificate::PublicKey { key: key(3).public_key().clone(), hash_alg: None };
        assert_eq!(check_host(&plain, &trusted, "web-1", NOW), Err(HostCertError::NotCertified));
        let user = PublicKeyOrCertificate::Certificate(certificate(&ca, CertType::User, &["web-1"], "x"));
        assert_eq!(check_host(&user, &trusted, "web-1", NOW), Err(HostCertError::NotHostCertificate));
    }

    #[test]
    fn a_user_certificate_must_be_ours_current_for_the_login_the_node_and_the_user() {
        let (ca, other) = (key(4), key(5));
        let session_ca = fingerprint(&ca);
        let opened = Opened { user: "alice", node: "web-1", login: "ubuntu" };
        let user_cert =
            |ca: &PrivateKey, principal: &str, key_id: &str| certificate(ca, CertType::User, &[principal], key_id);
        let good = user_cert(&ca, "ubuntu@web-1", "gatehouse:alice");
        assert_eq!(check_user(&good, "ubuntu", opened, &session_ca, NOW), Ok(()));
        let refused = |cert: &Certificate, login: &str, now: u64| {
            check_user(cert, login, opened, &session_ca, now).unwrap_err().to_string()
        };
        assert!(refused(&good, "root", NOW).contains("opened for ubuntu"));
        assert!(refused(&good, "ubuntu", NOW + 120).contains("not valid"));
        assert!(refused(&user_cert(&ca, "root@web-1", "gatehouse:alice"), "ubuntu", NOW).contains("not ubuntu@web-1"));
        assert!(
            refused(&user_cert(&ca, "ubuntu@web-2", "gatehouse:alice"), "ubuntu", NOW).contains("for ubuntu@web-2")
        );
        assert!(refused(&user_cert(&ca, "ubuntu", "gatehouse:alice"), "ubuntu", NOW).contains("not ubuntu@web-1"));
        assert!(
            refused(&user_cert(&ca, "ubuntu@web-1", "gatehouse:bob"), "ubuntu", NOW)
                .contains("issued to gatehouse:bob")
        );
        assert!(refused(&user_cert(&other, "ubuntu@web-1", "gatehouse:alice"), "ubuntu", NOW).contains("not valid"));
        let host = certificate(&other, CertType::Host, &["ubuntu"], "x");
        assert!(refused(&host, "ubuntu", NOW).contains("not a user certificate"));
        let two = certificate(&ca, CertType::User, &["ubuntu@web-1", "root@web-1"], "gatehouse:alice");
        assert!(matches!(
            check_user(&two, "ubuntu", opened, &session_ca, NOW),
            Err(UserCertError::WrongPrincipal { .. })
        ));
    }

    #[test]
    fn names_and_key_ids() {
        assert_eq!(principal("ubuntu", "web-1"), "ubuntu@web-1");
        assert_eq!(browser_key_id("alice"), "gatehouse:alice");
        assert_eq!(recorded_key_id("alice"), "gatehouse:alice:recorded");
        assert_eq!(host_principals("web-1", "web-1:22"), ["web-1"]);
        assert_eq!(host_principals("web-1", "10.0.0.5:2222"), ["web-1", "10.0.0.5"]);
        assert_eq!(host_principals("web-1", "[::1]:22"), ["web-1", "[::1]"]);
    }
}
