//! The identity assertion: a JWT the proxy puts in the `Gatehouse-Jwt-Assertion` header
//! of every request it forwards to an app, so the app knows who is calling without a
//! user database of its own. It verifies the token against `/.well-known/jwks.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::keys::SigningKey;

/// The header the assertion travels in. Whatever a browser sends under this name is
/// dropped before the request goes on.
pub const HEADER: &str = "gatehouse-jwt-assertion";

/// What the token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Gatehouse's public URL.
    pub iss: String,
    /// The user's name.
    pub sub: String,
    /// The app's internal address (`http://HOST:PORT`): a token for one app is no good
    /// at another.
    pub aud: String,
    /// The app's name: two apps served from one address (told apart by `host`) differ
    /// here, so such an app checks this too.
    pub app: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// Unique per token, for apps that refuse a token seen before.
    pub jti: String,
    pub username: String,
    /// The roles the user holds now (standing and requested).
    pub roles: Vec<String>,
    /// What else is known of the user (`logins`: the SSH logins their roles give).
    pub traits: BTreeMap<String, Vec<String>>,
}

/// Who the token is about, and for which app.
pub struct Subject<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub app: &'a str,
    pub user: &'a str,
    pub roles: &'a [String],
    pub traits: BTreeMap<String, Vec<String>>,
}

/// The claims for `subject` at `now`, valid for `ttl` seconds, with `jti`.
pub fn claims(subject: Subject<'_>, now: u64, ttl: u64, jti: String) -> Claims {
    Claims {
        iss: subject.issuer.to_string(),
        sub: subject.user.to_string(),
        aud: subject.audience.to_string(),
        app: subject.app.to_string(),
        iat: now,
        nbf: now,
        exp: now + ttl,
        jti,
        username: subject.user.to_string(),
        roles: subject.roles.to_vec(),
        traits: subject.traits,
    }
}

/// Signs `claims` with `key` (EdDSA, `kid` in the header).
pub fn sign(claims: &Claims, key: &SigningKey) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding_key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::keys;
    use crate::vault::Vault;

    fn subject(roles: &[String]) -> Subject<'_> {
        Subject {
            issuer: "https://gatehouse.example",
            audience: "http://10.0.0.7:3000",
            app: "wiki",
            user: "ada",
            roles,
            traits: BTreeMap::from([("logins".to_string(), vec!["ada".to_string()])]),
        }
    }

    #[test]
    fn the_claims_name_the_user_the_app_and_a_short_life() {
        let roles = vec!["dev".to_string()];
        let c = claims(subject(&roles), 1000, 60, "j1".into());
        assert_eq!(
            (c.iss.as_str(), c.aud.as_str(), c.sub.as_str()),
            ("https://gatehouse.example", "http://10.0.0.7:3000", "ada")
        );
        assert_eq!((c.iat, c.nbf, c.exp), (1000, 1000, 1060));
        assert_eq!(c.roles, ["dev"]);
        assert_eq!(c.traits["logins"], ["ada"]);
    }

    #[test]
    fn a_token_verifies_only_for_its_app_and_only_unaltered() {
        let vault = Vault::ephemeral();
        let stored = keys::generate(&vault, 0, 0).unwrap();
        let key = keys::open(&vault, &stored).unwrap();
        let now = crate::auth::now();
        let roles = vec!["dev".to_string()];
        let token = sign(&claims(subject(&roles), now, 60, "j1".into()), &key).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!((header.alg, header.kid.as_deref()), (jsonwebtoken::Algorithm::EdDSA, Some(stored.kid.as_str())));
        let set = keys::jwks(&[&stored]);
        let decoding = jsonwebtoken::DecodingKey::from_jwk(set.find(&stored.kid).unwrap()).unwrap();
        let verify = |token: &str, audience: &str| {
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
            validation.set_audience(&[audience]);
            validation.set_issuer(&["https://gatehouse.example"]);
            jsonwebtoken::decode::<Claims>(token, &decoding, &validation).map(|d| d.claims)
        };
        assert_eq!(verify(&token, "http://10.0.0.7:3000").unwrap().username, "ada");
        assert!(verify(&token, "http://10.0.0.8:3000").is_err(), "another app's audience");
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        use base64::Engine;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims(subject(&["admin".to_string()]), now, 60, "j1".into())).unwrap());
        assert!(verify(&format!("{head}.{forged}.{signature}"), "http://10.0.0.7:3000").is_err(), "altered claims");
    }
}
