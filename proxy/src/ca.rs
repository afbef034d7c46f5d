//! The SSH certificate authorities, Ed25519, made at first start and kept in the data
//! directory (private keys mode 0600, never sent anywhere):
//! - the **user CA** signs the certificates nodes accept (`TrustedUserCAKeys`): a
//!   direct-mode browser's, and the proxy's own in recorded mode;
//! - the **session CA** signs the browser's certificates in recorded mode, which only
//!   the proxy's own SSH server checks: no node trusts it, so a stolen copy opens
//!   nothing;
//! - the **host CA** signs host certificates for nodes (and the proxy's own SSH
//!   server); the browser pins its fingerprint.
//!
//! Every user certificate is one decision: one principal, `login@node` (nodes map the
//! login they are asked for to that name with `AuthorizedPrincipalsCommand`, see
//! [`gatehouse_ssh_policy::principal`]), a minute or two, `source-address` where the connection must come
//! from, and no forwarding unless a role grants it. Callers decide; this module signs.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use russh::keys::ssh_key::certificate::{Builder, CertType};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{self, Certificate, HashAlg, LineEnding, PrivateKey, PublicKey};

/// What one user certificate allows besides a pty (which every shell needs); OpenSSH
/// grants nothing a certificate omits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extensions {
    pub port_forwarding: bool,
    pub agent_forwarding: bool,
    pub x11_forwarding: bool,
}

/// One user certificate's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGrant {
    /// [`gatehouse_ssh_policy::principal`]`(login, node)`.
    pub principal: String,
    pub key_id: String,
    /// The `source-address` critical option: addresses or CIDR ranges, comma-separated,
    /// the connection must come from; `None` only for certificates no node trusts.
    pub source_address: Option<String>,
    pub extensions: Extensions,
    pub valid_after: u64,
    pub valid_before: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot read or write the CA key {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the CA key {path} is not a valid OpenSSH private key: {source}")]
    BadKey { path: String, source: ssh_key::Error },
    #[error("cannot sign the certificate: {0}")]
    Sign(#[from] ssh_key::Error),
    #[error("a certificate needs at least one principal")]
    NoPrincipals,
    #[error("a user certificate lasts at most {MAX_USER_CERT_SECS} s")]
    TooLong,
}

/// SHA-256 fingerprint of a CA's public key, as OpenSSH prints it (`SHA256:…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(pub String);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct CertificateAuthority {
    key: PrivateKey,
}

/// The longest a user certificate may be valid, from its first second to its last:
/// OpenSSH checks validity only when signing in, so this only bounds how long a copy
/// could be used to start a session.
pub const MAX_USER_CERT_SECS: u64 = 120;

/// The authorities of one Gatehouse cluster, and the proxy's own SSH host key (for
/// recorded sessions, where the browser's SSH ends at the proxy).
pub struct Authorities {
    pub user: CertificateAuthority,
    pub session: CertificateAuthority,
    pub host: CertificateAuthority,
    pub proxy_host_key: PrivateKey,
}

impl Authorities {
    /// Loads `user_ca`, `session_ca`, `host_ca` and `proxy_host_key` from `dir`, making
    /// any that is missing.
    pub fn load_or_create(dir: &Path) -> Result<Authorities, CaError> {
        Ok(Authorities {
            user: CertificateAuthority::load_or_create(&dir.join("user_ca"), "gatehouse user CA")?,
            session: CertificateAuthority::load_or_create(
                &dir.join("session_ca"),
                "gatehouse session CA (trusted by no node)",
            )?,
            host: CertificateAuthority::load_or_create(&dir.join("host_ca"), "gatehouse host CA")?,
            proxy_host_key: load_or_create_key(&dir.join("proxy_host_key"), "gatehouse proxy host key")?,
        })
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system random source failed");
    bytes
}

/// A fresh Ed25519 key that lives in memory only.
pub fn ephemeral_key(comment: &str) -> PrivateKey {
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&random::<32>()));
    key.set_comment(comment);
    key
}

/// Loads an Ed25519 private key from `path`, or makes one there (mode 0600, with the
/// public key beside it in `.pub`) if there is none.
pub fn load_or_create_key(path: &Path, comment: &str) -> Result<PrivateKey, CaError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => PrivateKey::from_openssh(text).map_err(|source| CaError::BadKey { path: shown, source }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = ephemeral_key(comment);
            let pem = key.to_openssh(LineEnding::LF)?;
            let io = |source| CaError::Io { path: shown.clone(), source };
            // Write aside, then link into place: the link fails if another process
            // (say `gatehouse nodes add` beside `gatehouse start`) made the key first,
            // and then its key, complete, is the one to use.
            let aside = path.with_extension(format!("new-{}", std::process::id()));
            let mut file =
                OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&aside).map_err(io)?;
            file.write_all(pem.as_bytes()).and_then(|()| file.sync_all()).map_err(io)?;
            let linked = std::fs::hard_link(&aside, path);
            let _ = std::fs::remove_file(&aside);
            match linked {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    return load_or_create_key(path, comment);
                }
                Err(err) => return Err(io(err)),
            }
            let public = key.public_key().to_openssh().unwrap_or_default();
            std::fs::write(path.with_extension("pub"), format!("{public}\n")).map_err(io)?;
            let fingerprint = key.fingerprint(HashAlg::Sha256);
            tracing::info!(path = %shown, %fingerprint, "made a new SSH key");
            Ok(key)
        }
        Err(source) => Err(CaError::Io { path: shown, source }),
    }
}

impl CertificateAuthority {
    #[cfg(test)]
    pub fn generate(comment: &str) -> CertificateAuthority {
        CertificateAuthority { key: ephemeral_key(comment) }
    }

    pub fn load_or_create(path: &Path, comment: &str) -> Result<CertificateAuthority, CaError> {
        Ok(CertificateAuthority { key: load_or_create_key(path, comment)? })
    }

    pub fn public_key(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// `ssh-ed25519 AAAA… comment`, the line sshd_config's TrustedUserCAKeys file holds.
    pub fn public_key_line(&self) -> String {
        self.public_key().to_openssh().unwrap_or_default()
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(self.key.fingerprint(HashAlg::Sha256).to_string())
    }

    /// A host certificate for a node's host key, valid for the node's names.
    pub fn sign_host(
        &self,
        host_key: &PublicKey,
        principals: &[String],
        key_id: &str,
        valid_after: u64,
        valid_before: u64,
    ) -> Result<Certificate, CaError> {
        self.sign(CertType::Host, host_key, principals, key_id, valid_after, valid_before, &[])
    }

    /// A user certificate for one decision ([`UserGrant`]).
    pub fn sign_user(&self, user_key: &PublicKey, grant: &UserGrant) -> Result<Certificate, CaError> {
        if grant.valid_before.saturating_sub(grant.valid_after) > MAX_USER_CERT_SECS {
            return Err(CaError::TooLong);
        }
        let mut extensions = vec!["permit-pty"];
        let wanted = grant.extensions;
        for (on, name) in [
            (wanted.port_forwarding, "permit-port-forwarding"),
            (wanted.agent_forwarding, "permit-agent-forwarding"),
            (wanted.x11_forwarding, "permit-X11-forwarding"),
        ] {
            if on {
                extensions.push(name);
            }
        }
        let mut builder = self.builder(
            CertType::User,
            user_key,
            std::slice::from_ref(&grant.principal),
            &grant.key_id,
            grant.valid_after,
            grant.valid_before,
        )?;
        for extension in extensions {
            builder.extension(extension, "")?;
        }
        if let Some(sources) = &grant.source_address {
            builder.critical_option("source-address", sources.clone())?;
        }
        Ok(builder.sign(&self.key)?)
    }

    #[allow(clippy::too_many_arguments)]
    fn sign(
        &self,
        cert_type: CertType,
        subject: &PublicKey,
        principals: &[String],
        key_id: &str,
        valid_after: u64,
        valid_before: u64,
        extensions: &[&str],
    ) -> Result<Certificate, CaError> {
        let mut builder = self.builder(cert_type, subject, principals, key_id, valid_after, valid_before)?;
        for extension in extensions {
            builder.extension(*extension, "")?;
        }
        Ok(builder.sign(&self.key)?)
    }

    fn builder(
        &self,
        cert_type: CertType,
        subject: &PublicKey,
        principals: &[String],
        key_id: &str,
        valid_after: u64,
        valid_before: u64,
    ) -> Result<Builder, CaError> {
        if principals.is_empty() || principals.iter().any(String::is_empty) {
            return Err(CaError::NoPrincipals);
        }
        let mut builder = Builder::new(random::<32>().to_vec(), subject.key_data().clone(), valid_after, valid_before)?;
        builder.serial(u64::from_be_bytes(random::<8>()))?;
        builder.cert_type(cert_type)?;
        builder.key_id(key_id)?;
        for principal in principals {
            builder.valid_principal(principal.clone())?;
        }
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> PublicKey {
        CertificateAuthority::generate("subject").public_key().clone()
    }

    #[test]
    fn host_certificate_validates_against_its_ca_only() {
        let ca = CertificateAuthority::generate("host ca");
        let other = CertificateAuthority::generate("other ca");
        let cert = ca.sign_host(&subject(), &["web-1".into()], "node web-1", 1000, 2000).unwrap();
        assert_eq!(cert.cert_type(), CertType::Host);
        assert_eq!(cert.valid_principals(), ["web-1"]);
        let ca_fp = ca.key.fingerprint(HashAlg::Sha256);
        let other_fp = other.key.fingerprint(HashAlg::Sha256);
        cert.validate_at(1500, [&ca_fp]).unwrap();
        assert!(cert.validate_at(1500, [&other_fp]).is_err(), "another CA's pin refuses it");
        assert!(cert.validate_at(2500, [&ca_fp]).is_err(), "expired");
    }

    fn grant(principal: &str) -> UserGrant {
        UserGrant {
            principal: principal.into(),
            key_id: gatehouse_ssh_policy::browser_key_id("alice"),
            source_address: Some("192.0.2.7".into()),
            extensions: Extensions::default(),
            valid_after: 1000,
            valid_before: 1120,
        }
    }

    #[test]
    fn a_user_certificate_is_one_login_on_one_node_from_one_place_with_a_pty_only() {
        let ca = CertificateAuthority::generate("user ca");
        let cert = ca.sign_user(&subject(), &grant(&gatehouse_ssh_policy::principal("ubuntu", "web-1"))).unwrap();
        assert_eq!(cert.cert_type(), CertType::User);
        assert_eq!(cert.valid_principals(), ["ubuntu@web-1"]);
        assert_eq!(cert.key_id(), "gatehouse:alice");
        assert_eq!(cert.extensions().keys().collect::<Vec<_>>(), ["permit-pty"]);
        assert_eq!(cert.critical_options().get("source-address").map(String::as_str), Some("192.0.2.7"));
        assert_eq!(cert.valid_before() - cert.valid_after(), 120);
    }

    #[test]
    fn forwarding_is_in_a_certificate_only_when_granted() {
        let ca = CertificateAuthority::generate("user ca");
        let mut wide = grant("root@db");
        wide.extensions = Extensions { port_forwarding: true, agent_forwarding: true, x11_forwarding: true };
        wide.source_address = None;
        let cert = ca.sign_user(&subject(), &wide).unwrap();
        let names: Vec<&str> = cert.extensions().keys().map(String::as_str).collect();
        assert_eq!(names, ["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty"]);
        assert!(cert.critical_options().is_empty());
    }

    #[test]
    fn a_certificate_without_principals_or_lasting_too_long_is_refused() {
        let ca = CertificateAuthority::generate("user ca");
        assert!(matches!(ca.sign_user(&subject(), &grant("")), Err(CaError::NoPrincipals)));
        let mut long = grant("a@b");
        long.valid_before = long.valid_after + MAX_USER_CERT_SECS + 1;
        assert!(matches!(ca.sign_user(&subject(), &long), Err(CaError::TooLong)));
    }

    #[test]
    fn authorities_are_made_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("gatehouse-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = Authorities::load_or_create(&dir).unwrap();
        let again = Authorities::load_or_create(&dir).unwrap();
        assert_eq!(first.user.fingerprint(), again.user.fingerprint());
        assert_eq!(first.host.fingerprint(), again.host.fingerprint());
        assert_eq!(first.session.fingerprint(), again.session.fingerprint());
        assert_ne!(first.user.fingerprint(), first.host.fingerprint());
        assert_ne!(
            first.user.fingerprint(),
            first.session.fingerprint(),
            "nodes trust the user CA, never the session CA"
        );
        assert!(first.host.fingerprint().0.starts_with("SHA256:"));
        let mode = std::fs::metadata(dir.join("user_ca")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let public = std::fs::read_to_string(dir.join("user_ca.pub")).unwrap();
        assert!(public.starts_with("ssh-ed25519 "));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_key_file_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("gatehouse-ca-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("user_ca"), "not a key").unwrap();
        let err = CertificateAuthority::load_or_create(&dir.join("user_ca"), "x").err().unwrap();
        assert!(err.to_string().contains("not a valid OpenSSH private key"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
