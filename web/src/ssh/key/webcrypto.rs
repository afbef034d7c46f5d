//! A non-extractable Ed25519 key in the browser's WebCrypto, signing for russh.
//!
//! russh asks a [`russh::Signer`] for each signature with a future that must be `Send`,
//! and JS promises are not. So the key lives in a local task that signs whatever it is
//! sent over a channel and answers on a oneshot (both `Send`); the signer russh holds
//! is only the sending end.

use std::fmt;

use js_sys::{Array, Uint8Array};
use russh::keys::agent::AgentIdentity;
use russh::keys::ssh_key::public::Ed25519PublicKey;
use russh::keys::ssh_key::{HashAlg, PublicKey};
use tokio::sync::{mpsc, oneshot};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, CryptoKeyPair, SubtleCrypto};

/// WebCrypto's name for the algorithm (`{name: "Ed25519"}` in short form).
const ALGORITHM: &str = "Ed25519";
/// SSH's name for the signature.
const SSH_ALGORITHM: &[u8] = b"ssh-ed25519";

type RawSignature = [u8; 64];

struct SignRequest {
    data: Vec<u8>,
    reply: oneshot::Sender<Result<RawSignature, String>>,
}

/// The public half, and the way to the task that holds the private half.
pub struct Key {
    public: PublicKey,
    requests: mpsc::UnboundedSender<SignRequest>,
}

/// Makes the key, or says why this browser cannot (then the caller falls back).
pub async fn generate() -> Result<Key, String> {
    let window = web_sys::window().ok_or("no window")?;
    if !window.is_secure_context() {
        return Err("not a secure context".into());
    }
    let subtle = window.crypto().map_err(describe)?.subtle();
    let usages = Array::of2(&"sign".into(), &"verify".into());
    let pair = call(subtle.generate_key_with_str(ALGORITHM, false, &usages)).await?;
    if !pair.is_object() {
        return Err("generateKey gave no key pair".into());
    }
    // CryptoKeyPair is a dictionary, not a class: `dyn_into`'s instanceof would fail.
    let pair: CryptoKeyPair = pair.unchecked_into();
    let raw = Uint8Array::new(&call(subtle.export_key("raw", &pair.get_public_key())).await?).to_vec();
    let public: [u8; 32] = raw.as_slice().try_into().map_err(|_| format!("a public key of {} bytes", raw.len()))?;
    let (requests, incoming) = mpsc::unbounded_channel();
    wasm_bindgen_futures::spawn_local(serve(subtle, pair.get_private_key(), incoming));
    Ok(Key { public: PublicKey::from(Ed25519PublicKey(public)), requests })
}

impl Key {
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn signer(&self) -> Signer {
        Signer { requests: self.requests.clone() }
    }
}

/// Signs every request it is sent, one at a time, for the page's life.
async fn serve(subtle: SubtleCrypto, private: CryptoKey, mut incoming: mpsc::UnboundedReceiver<SignRequest>) {
    while let Some(request) = incoming.recv().await {
        let signed = sign(&subtle, &private, &request.data).await;
        let _ = request.reply.send(signed);
    }
}

async fn sign(subtle: &SubtleCrypto, key: &CryptoKey, data: &[u8]) -> Result<RawSignature, String> {
    let signature = Uint8Array::new(&call(subtle.sign_with_str_and_u8_array(ALGORITHM, key, data)).await?).to_vec();
    signature.as_slice().try_into().map_err(|_| format!("a signature of {} bytes", signature.len()))
}

async fn call(promise: Result<js_sys::Promise, JsValue>) -> Result<JsValue, String> {
    JsFuture::from(promise.map_err(describe)?).await.map_err(describe)
}

/// A DOMException's name and message, e.g. `NotSupportedError: Unrecognized name`.
fn describe(err: JsValue) -> String {
    let field = |name: &str| js_sys::Reflect::get(&err, &name.into()).ok().and_then(|v| v.as_string());
    match (field("name"), field("message")) {
        (Some(name), Some(message)) => format!("{name}: {message}"),
        (Some(text), None) | (None, Some(text)) => text,
        (None, None) => err.as_string().unwrap_or_else(|| "an unknown error".into()),
    }
}

/// What russh calls to sign the authentication request.
pub struct Signer {
    requests: mpsc::UnboundedSender<SignRequest>,
}

#[derive(Debug)]
pub enum SignError {
    /// russh's session went away while signing.
    Session,
    /// The task holding the key is gone.
    KeyGone,
    /// WebCrypto refused to sign.
    Refused(String),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::Session => write!(f, "the SSH connection ended while signing in"),
            SignError::KeyGone => write!(f, "this page's key stopped answering; reload the page"),
            SignError::Refused(why) => write!(f, "the browser would not sign with this page's key ({why})"),
        }
    }
}

impl From<russh::SendError> for SignError {
    fn from(_: russh::SendError) -> SignError {
        SignError::Session
    }
}

impl russh::Signer for Signer {
    type Error = SignError;

    /// Signs the whole of `to_sign` (session id and request, as an agent does) and
    /// returns it with the signature appended.
    async fn auth_sign(
        &mut self,
        _key: &AgentIdentity,
        _hash_alg: Option<HashAlg>,
        to_sign: Vec<u8>,
    ) -> Result<Vec<u8>, SignError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(SignRequest { data: to_sign.clone(), reply }).map_err(|_| SignError::KeyGone)?;
        let signature = answer.await.map_err(|_| SignError::KeyGone)?.map_err(SignError::Refused)?;
        Ok(with_signature(to_sign, &signature))
    }
}

/// `data` followed by an Ed25519 signature in SSH wire form: the length of the rest,
/// then the strings `ssh-ed25519` and the 64 signature bytes.
fn with_signature(mut data: Vec<u8>, signature: &RawSignature) -> Vec<u8> {
    let string_len = |bytes: &[u8]| (bytes.len() as u32).to_be_bytes();
    let blob_len = 4 + SSH_ALGORITHM.len() + 4 + signature.len();
    data.reserve(4 + blob_len);
    data.extend_from_slice(&(blob_len as u32).to_be_bytes());
    data.extend_from_slice(&string_len(SSH_ALGORITHM));
    data.extend_from_slice(SSH_ALGORITHM);
    data.extend_from_slice(&string_len(signature));
    data.extend_from_slice(signature);
    data
}

#[cfg(test)]
mod tests {
    use russh::keys::signature::{Signer as _, Verifier};
    use russh::keys::ssh_key::encoding::Decode;
    use russh::keys::ssh_key::private::Ed25519Keypair;
    use russh::keys::ssh_key::{PrivateKey, Signature};

    use super::*;

    #[test]
    fn the_appended_signature_is_an_ssh_signature_that_verifies() {
        let key = PrivateKey::from(Ed25519Keypair::from_seed(&[7; 32]));
        let to_sign = b"session id, then the userauth request".to_vec();
        let signature: Signature = key.try_sign(&to_sign).unwrap();
        let raw: RawSignature = signature.as_bytes().try_into().unwrap();

        let signed = with_signature(to_sign.clone(), &raw);

        assert_eq!(&signed[..to_sign.len()], &to_sign[..], "the signed bytes come first, unchanged");
        let mut rest = &signed[to_sign.len()..];
        let blob = Vec::<u8>::decode(&mut rest).unwrap();
        assert!(rest.is_empty(), "nothing after the signature blob");
        let decoded = Signature::decode(&mut blob.as_slice()).unwrap();
        Verifier::verify(key.public_key().key_data(), &to_sign, &decoded).unwrap();
    }
}
