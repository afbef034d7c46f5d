//! Secrets the proxy must keep but never show, sealed at rest with a key of its own
//! (ChaCha20-Poly1305 from ring, 32 random bytes in `data_dir/ca/desktop_key`, 0600):
//! desktop passwords and TOTP secrets. Each secret is bound to what it belongs to (the
//! desktop's name, the user's id) as associated data, so a sealed value copied to
//! another row does not open there.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The first bytes of every sealed value, so a value from before sealing (a raw TOTP
/// secret in an old database) is told apart and sealed when next read.
const MAGIC: &[u8; 4] = b"GHv1";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("cannot read or write the vault key {path}: {source}")]
    Key { path: String, source: std::io::Error },
    #[error("the stored secret of {0} cannot be opened: the vault key changed, or the data is damaged")]
    Sealed(String),
}

pub struct Vault {
    key: LessSafeKey,
    fingerprint: String,
}

/// Names the key without revealing it: SHA-256 of a fixed label and the key.
fn fingerprint(key: &[u8]) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, &[b"gatehouse desktop vault key\0", key].concat());
    format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest.as_ref()))
}

impl Vault {
    /// Loads the key at `path`, making one (32 random bytes, mode 0600) if there is none.
    pub fn load_or_create(path: &Path) -> Result<Vault, VaultError> {
        let shown = path.display().to_string();
        let io = |source| VaultError::Key { path: shown.clone(), source };
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
        Ok(Vault { key: LessSafeKey::new(unbound), fingerprint: fingerprint(&bytes) })
    }

    /// A key that lives in memory only, for unit tests.
    #[cfg(test)]
    pub fn ephemeral() -> Vault {
        let mut key = [0u8; 32];
        SystemRandom::new().fill(&mut key).expect("the system random source failed");
        Vault {
            key: LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).expect("32 bytes")),
            fingerprint: fingerprint(&key),
        }
    }

    /// A name for the key that does not reveal it (proxies of a cluster compare them).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The magic, a random nonce, then the ciphertext with its tag; `owner` is bound in
    /// as associated data.
    pub fn seal_bytes(&self, owner: &str, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("the system random source failed");
        let mut in_out = secret.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(owner.as_bytes()), &mut in_out)
            .expect("sealing cannot fail for short inputs");
        let mut sealed = MAGIC.to_vec();
        sealed.extend(nonce);
        sealed.extend(in_out);
        sealed
    }

    pub fn open_bytes(&self, owner: &str, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        let fail = || VaultError::Sealed(owner.to_string());
        let body = sealed.strip_prefix(MAGIC.as_slice()).unwrap_or(sealed);
        if body.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, body) = body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut in_out = body.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(owner.as_bytes()), &mut in_out).map_err(|_| fail())?;
        Ok(plain.to_vec())
    }

    /// Whether `value` was sealed by a vault (rather than stored before sealing existed).
    pub fn is_sealed(value: &[u8]) -> bool {
        value.starts_with(MAGIC)
    }

    pub fn seal(&self, owner: &str, secret: &str) -> Vec<u8> {
        self.seal_bytes(owner, secret.as_bytes())
    }

    pub fn open(&self, owner: &str, sealed: &[u8]) -> Result<String, VaultError> {
        String::from_utf8(self.open_bytes(owner, sealed)?).map_err(|_| VaultError::Sealed(owner.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> (Vault, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("gh-vault-{}", crate::recordings::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("desktop_key");
        (Vault::load_or_create(&path).unwrap(), path)
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_owner_and_key() {
        let (vault, path) = vault();
        let sealed = vault.seal("win-1", "Tr0ub4dor&3");
        assert!(Vault::is_sealed(&sealed));
        assert!(!sealed.windows(4).any(|w| w == b"Tr0u"), "the secret is not in the clear");
        assert_eq!(vault.open("win-1", &sealed).unwrap(), "Tr0ub4dor&3");
        assert!(vault.open("win-2", &sealed).is_err(), "bound to its owner");
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(vault.open("win-1", &flipped).is_err());
        assert!(vault.open("win-1", b"short").is_err());
        assert_ne!(vault.seal("win-1", "x"), vault.seal("win-1", "x"), "a fresh nonce each time");
        // The same key file again opens it; the file is private.
        let again = Vault::load_or_create(&path).unwrap();
        assert_eq!(again.open("win-1", &sealed).unwrap(), "Tr0ub4dor&3");
        assert!(Vault::ephemeral().open("win-1", &sealed).is_err(), "another key");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn values_sealed_before_the_magic_still_open() {
        let vault = Vault::ephemeral();
        let sealed = vault.seal_bytes("o", b"secret");
        let legacy = &sealed[MAGIC.len()..];
        assert!(!Vault::is_sealed(legacy));
        assert_eq!(vault.open_bytes("o", legacy).unwrap(), b"secret");
        assert!(!Vault::is_sealed(&[7u8; 20]), "a raw 20-byte TOTP secret is not sealed");
    }
}
