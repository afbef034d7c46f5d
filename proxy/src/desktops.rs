//! Remote desktops: RDP servers people open in the browser. A desktop has an address,
//! labels (for roles), the RDP account the proxy signs in with, and how (NLA or TLS).
//! The account's password never leaves the proxy: it is sealed at rest with a key of
//! the proxy's own (ChaCha20-Poly1305, `data_dir/ca/desktop_key`, 0600) and opened only
//! to connect.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ring::aead::{CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;

use crate::nodes::{Labels, NodeName};

/// How the proxy secures the RDP connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// CredSSP: the server checks the account before the session starts (Windows'
    /// default, FreeRDP's `/sec:nla`).
    #[default]
    Nla,
    /// TLS only; the account goes in the session's first packets (xrdp).
    Tls,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Nla => "nla",
            Security::Tls => "tls",
        }
    }

    pub fn parse(text: &str) -> Result<Security, DesktopError> {
        match text {
            "nla" => Ok(Security::Nla),
            "tls" => Ok(Security::Tls),
            other => Err(DesktopError::BadSecurity(other.to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desktop {
    pub name: NodeName,
    /// `HOST:PORT` of the RDP server.
    pub addr: String,
    pub labels: Labels,
    pub username: String,
    pub domain: Option<String>,
    pub security: Security,
    /// SHA-256 of the desktop's TLS certificate (`SHA256:` and hex), pinned by the first
    /// `gatehouse desktops check`; every later connection must present the same one
    /// before the account is sent.
    pub tls_pin: Option<String>,
}

/// How a TLS certificate (DER) is pinned.
pub fn certificate_pin(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("SHA256:{hex}")
}

#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    #[error("security must be \"nla\" or \"tls\", not {0:?}")]
    BadSecurity(String),
    #[error("a desktop needs an RDP user name")]
    NoUser,
    #[error("a desktop needs a password (from a prompt, --password-file or password_file)")]
    NoPassword,
    #[error("cannot read or write the desktop key {path}: {source}")]
    Key { path: String, source: std::io::Error },
    #[error("the stored password of {0} cannot be opened: the desktop key changed, or the data is damaged")]
    Sealed(String),
}

/// Seals and opens desktop passwords with the proxy's own key.
pub struct Vault {
    key: LessSafeKey,
}

impl Vault {
    /// Loads the key at `path`, making one (32 random bytes, mode 0600) if there is none.
    pub fn load_or_create(path: &Path) -> Result<Vault, DesktopError> {
        let shown = path.display().to_string();
        let io = |source| DesktopError::Key { path: shown.clone(), source };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                SystemRandom::new().fill(&mut key).map_err(|_| io(std::io::Error::other("no randomness")))?;
                let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
                file.write_all(&key).and_then(|()| file.sync_all()).map_err(io)?;
                key.to_vec()
            }
            Err(err) => return Err(io(err)),
        };
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .map_err(|_| io(std::io::Error::other("the key file is not 32 bytes")))?;
        Ok(Vault { key: LessSafeKey::new(unbound) })
    }

    /// A random nonce, then the ciphertext with its tag. `name` is bound in as
    /// associated data, so a sealed password moved to another desktop does not open.
    pub fn seal(&self, name: &str, secret: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("the system random source failed");
        let mut in_out = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), ring::aead::Aad::from(name.as_bytes()), &mut in_out)
            .expect("sealing cannot fail for short inputs");
        let mut sealed = nonce.to_vec();
        sealed.extend(in_out);
        sealed
    }

    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<String, DesktopError> {
        let fail = || DesktopError::Sealed(name.to_string());
        if sealed.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut in_out = body.to_vec();
        let plain = self.key.open_in_place(nonce, ring::aead::Aad::from(name.as_bytes()), &mut in_out).map_err(|_| fail())?;
        String::from_utf8(plain.to_vec()).map_err(|_| fail())
    }
}

/// A desktop as listed in the config file; its password is read from a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDesktop {
    pub name: String,
    pub addr: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    pub user: String,
    pub domain: Option<String>,
    #[serde(default)]
    pub security: Security,
    pub password_file: std::path::PathBuf,
    /// The desktop's TLS certificate pin (`SHA256:…`, as `desktops check` prints it).
    pub tls_pin: Option<String>,
}

impl ConfigDesktop {
    /// The desktop without its password (read from the file only to connect).
    pub fn desktop(&self) -> Result<Desktop, crate::nodes::NodeError> {
        Ok(Desktop {
            name: NodeName::parse(&self.name)?,
            addr: self.addr.clone(),
            labels: self.labels.clone(),
            username: self.user.clone(),
            domain: self.domain.clone(),
            security: self.security,
            tls_pin: self.tls_pin.clone(),
        })
    }
}

/// The config's desktops and the database's, the config winning on a name clash.
pub fn merge(config: &[Desktop], added: Vec<Desktop>) -> Vec<Desktop> {
    let mut all: Vec<Desktop> = config.to_vec();
    all.extend(added.into_iter().filter(|d| !config.iter().any(|c| c.name == d.name)));
    all.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> (Vault, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("gh-vault-{}", crate::recording::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("desktop_key");
        (Vault::load_or_create(&path).unwrap(), path)
    }

    #[test]
    fn a_sealed_password_opens_only_for_its_desktop_and_key() {
        let (vault, path) = vault();
        let sealed = vault.seal("win-1", "Tr0ub4dor&3");
        assert!(!sealed.windows(4).any(|w| w == b"Tr0u"), "the password is not in the clear");
        assert_eq!(vault.open("win-1", &sealed).unwrap(), "Tr0ub4dor&3");
        assert!(vault.open("win-2", &sealed).is_err(), "bound to the desktop's name");
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(vault.open("win-1", &flipped).is_err());
        assert!(vault.open("win-1", b"short").is_err());
        assert_ne!(vault.seal("win-1", "x"), vault.seal("win-1", "x"), "a fresh nonce each time");
        // The same key file again opens it; the file is private.
        let again = Vault::load_or_create(&path).unwrap();
        assert_eq!(again.open("win-1", &sealed).unwrap(), "Tr0ub4dor&3");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn security_is_nla_or_tls() {
        assert_eq!(Security::parse("nla").unwrap(), Security::Nla);
        assert_eq!(Security::parse("tls").unwrap(), Security::Tls);
        assert!(Security::parse("rdp").is_err());
    }
}
