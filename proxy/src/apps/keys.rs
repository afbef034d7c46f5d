//! The keys that sign the identity assertion each request to an app carries: Ed25519,
//! one cluster-wide set in the database (the private halves sealed by the vault, so
//! every proxy of a cluster signs with the same key and publishes the same set).
//!
//! Rotation: a new key is published at once but signs only from a while later
//! (`key_publish_ahead`, longer than an app may cache the key set), so an app that
//! refreshes its cached set on time knows the key before it meets a token signed with
//! it; the keys it replaces retire when it starts signing and stay published until
//! every token they signed has expired ([`published`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, OctetKeyPairParameters,
    OctetKeyPairType, PublicKeyUse,
};
use ring::signature::KeyPair;

use crate::vault::Vault;

/// How long past a token's lifetime a retired key stays published: clocks differ a
/// little between proxies and apps.
pub const CLOCK_SKEW_SECS: u64 = 30;

/// A signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Its JWK thumbprint (RFC 7638), the `kid` of the tokens it signs.
    pub kid: String,
    /// The raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// The PKCS#8 private key, sealed by the vault for its `kid`.
    pub private_sealed: Vec<u8>,
    pub created_at: u64,
    /// When it starts signing (published from `created_at`).
    pub signs_from: u64,
    /// When a newer key replaced it (that key's `signs_from`).
    pub retired_at: Option<u64>,
}

/// A key to sign with, its private half opened.
pub struct SigningKey {
    pub kid: String,
    pkcs8: Vec<u8>,
}

impl SigningKey {
    pub fn encoding_key(&self) -> jsonwebtoken::EncodingKey {
        jsonwebtoken::EncodingKey::from_ed_der(&self.pkcs8)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot make a signing key: {0}")]
    Generate(String),
    #[error("cannot open the signing key {0}: {1}")]
    Open(String, crate::vault::VaultError),
}

fn vault_owner(kid: &str) -> String {
    format!("app-key:{kid}")
}

/// A new key made at `now` to sign from `signs_from`, sealed by `vault`.
pub fn generate(vault: &Vault, now: u64, signs_from: u64) -> Result<StoredKey, KeyError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| KeyError::Generate(e.to_string()))?;
    let pair =
        ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| KeyError::Generate(e.to_string()))?;
    let public_key = pair.public_key().as_ref().to_vec();
    let kid = thumbprint(&public_key);
    let private_sealed = vault.seal_bytes(&vault_owner(&kid), pkcs8.as_ref());
    Ok(StoredKey { kid, public_key, private_sealed, created_at: now, signs_from, retired_at: None })
}

/// Opens a stored key's private half.
pub fn open(vault: &Vault, key: &StoredKey) -> Result<SigningKey, KeyError> {
    let pkcs8 = vault
        .open_bytes(&vault_owner(&key.kid), &key.private_sealed)
        .map_err(|e| KeyError::Open(key.kid.clone(), e))?;
    Ok(SigningKey { kid: key.kid.clone(), pkcs8 })
}

/// RFC 7638: the SHA-256 of the key's required members in lexicographic order, base64url.
pub fn thumbprint(public_key: &[u8]) -> String {
    let x = URL_SAFE_NO_PAD.encode(public_key);
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
}

/// The key that signs at `now`: of those whose time has come and that are not retired,
/// the one that started last.
pub fn signing(keys: &[StoredKey], now: u64) -> Option<&StoredKey> {
    keys.iter()
        .filter(|k| k.signs_from <= now && k.retired_at.is_none_or(|at| at > now))
        .max_by(|a, b| (a.signs_from, &a.kid).cmp(&(b.signs_from, &b.kid)))
}

/// The keys an app may meet in a token at `now`, when tokens live `token_ttl` seconds:
/// those not retired, and those retired less than a token's lifetime (and the skew) ago.
pub fn published(keys: &[StoredKey], now: u64, token_ttl: u64) -> Vec<&StoredKey> {
    keys.iter().filter(|k| k.retired_at.is_none_or(|at| now < at + token_ttl + CLOCK_SKEW_SECS)).collect()
}

/// The JWK set of `keys`, as `/.well-known/jwks.json` serves it.
pub fn jwks(keys: &[&StoredKey]) -> JwkSet {
    let keys = keys
        .iter()
        .map(|k| Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(k.kid.clone()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(&k.public_key),
            }),
        })
        .collect();
    JwkSet { keys }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, created_at: u64, retired_at: Option<u64>) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            public_key: vec![7; 32],
            private_sealed: vec![],
            created_at,
            signs_from: created_at,
            retired_at,
        }
    }

    #[test]
    fn the_newest_key_not_retired_signs() {
        let keys = [key("a", 100, Some(200)), key("b", 200, None), key("c", 150, Some(200))];
        assert_eq!(signing(&keys, 300).map(|k| k.kid.as_str()), Some("b"));
        assert_eq!(signing(&keys[..1], 300), None);
    }

    #[test]
    fn a_rotated_key_is_published_before_it_signs() {
        // Rotated at 1000 to sign from 1120: the old key signs until then.
        let keys = [key("old", 100, Some(1120)), StoredKey { signs_from: 1120, ..key("new", 1000, None) }];
        assert_eq!(published(&keys, 1000, 60).len(), 2, "the new key is known at once");
        assert_eq!(signing(&keys, 1119).map(|k| k.kid.as_str()), Some("old"));
        assert_eq!(signing(&keys, 1120).map(|k| k.kid.as_str()), Some("new"));
    }

    #[test]
    fn a_retired_key_is_published_until_its_last_token_expired() {
        let keys = [key("old", 100, Some(1000)), key("new", 1000, None)];
        let kids = |now| published(&keys, now, 60).iter().map(|k| k.kid.clone()).collect::<Vec<_>>();
        assert_eq!(kids(1000), ["old", "new"]);
        assert_eq!(kids(1000 + 60 + CLOCK_SKEW_SECS - 1), ["old", "new"]);
        assert_eq!(kids(1000 + 60 + CLOCK_SKEW_SECS), ["new"]);
    }

    #[test]
    fn a_generated_key_signs_what_its_published_half_verifies() {
        let vault = Vault::ephemeral();
        let stored = generate(&vault, 5, 5).unwrap();
        assert_eq!(stored.kid, thumbprint(&stored.public_key));
        let signer = open(&vault, &stored).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(signer.kid.clone());
        let token = jsonwebtoken::encode(&header, &serde_json::json!({"sub": "ada"}), &signer.encoding_key()).unwrap();
        let set = jwks(&[&stored]);
        let jwk = set.find(&stored.kid).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims["sub"], "ada");
        assert!(open(&Vault::ephemeral(), &stored).is_err(), "another vault cannot open it");
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        // RFC 8037, appendix A.3: the thumbprint of its example Ed25519 key.
        let x = URL_SAFE_NO_PAD.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        assert_eq!(thumbprint(&x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }
}
