//! The page's SSH key: one Ed25519 key per page load, made on first use and kept in
//! memory only (never in storage). Where the browser can, it is a non-extractable
//! WebCrypto key: the page's own code can have it sign but cannot read it. Otherwise
//! (an older browser) it is an Ed25519 key made here from 32 random bytes, which lives
//! in the page's memory. Every tab signs with it; each connection gets its own
//! certificate for it (`identity`).

mod webcrypto;

use std::sync::Arc;

use russh::client::{self, Handler};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{Certificate, PrivateKey, PublicKey};
use tokio::sync::OnceCell;

/// Which kind of key signs for this page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Held by the browser's WebCrypto; the page cannot export it.
    WebCrypto,
    /// Made and held in the page's memory.
    Memory,
}

impl KeyKind {
    /// The name end-to-end tests read (`data-key-kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::WebCrypto => "webcrypto",
            KeyKind::Memory => "memory",
        }
    }
}

pub enum PageKey {
    WebCrypto(webcrypto::Key),
    Memory(Arc<PrivateKey>),
}

/// Made once, on the first connection of the page; a reload makes a new one.
static PAGE_KEY: OnceCell<PageKey> = OnceCell::const_new();

/// The page's key, made on first use.
pub async fn page_key() -> Result<&'static PageKey, String> {
    PAGE_KEY.get_or_try_init(make).await
}

async fn make() -> Result<PageKey, String> {
    match webcrypto::generate().await {
        Ok(key) => Ok(PageKey::WebCrypto(key)),
        Err(why) => {
            leptos::logging::log!("No WebCrypto Ed25519 key ({why}); using a key in the page's memory.");
            in_memory()
        }
    }
}

fn in_memory() -> Result<PageKey, String> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|err| format!("This browser could not make a key ({err})."))?;
    Ok(PageKey::Memory(Arc::new(PrivateKey::from(Ed25519Keypair::from_seed(&seed)))))
}

impl PageKey {
    pub fn kind(&self) -> KeyKind {
        match self {
            PageKey::WebCrypto(_) => KeyKind::WebCrypto,
            PageKey::Memory(_) => KeyKind::Memory,
        }
    }

    pub fn public_key(&self) -> &PublicKey {
        match self {
            PageKey::WebCrypto(key) => key.public_key(),
            PageKey::Memory(key) => key.public_key(),
        }
    }

    /// The public key in OpenSSH form (`ssh-ed25519 AAAA…`), as the proxy certifies it.
    pub fn openssh(&self) -> Result<String, String> {
        self.public_key().to_openssh().map_err(|err| format!("This page's SSH key could not be written out ({err})."))
    }

    /// Signs in as `login` with `certificate` (which must be for this key). True when
    /// the node accepted it.
    pub async fn sign_in<H: Handler>(
        &self,
        handle: &mut client::Handle<H>,
        login: &str,
        certificate: Certificate,
    ) -> Result<bool, String> {
        match self {
            PageKey::WebCrypto(key) => handle
                .authenticate_certificate_with(login, certificate, None, &mut key.signer())
                .await
                .map(|result| result.success())
                .map_err(|err| err.to_string()),
            PageKey::Memory(key) => handle
                .authenticate_openssh_cert(login, key.clone(), certificate)
                .await
                .map(|result| result.success())
                .map_err(|err| err.to_string()),
        }
    }
}
