//! The OpenID Connect calls, through the `openidconnect` crate: discovery, the
//! authorization URL (PKCE S256, `state`, `nonce`), the code's exchange, the ID token's
//! verification (signature against the issuer's JWKS, `iss`, `aud`, `exp`, `nonce`),
//! and the userinfo endpoint. Nothing here decides who gets what ([`super::mapping`]).

use std::path::Path;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{SsoError, clip};
use crate::config::SsoConnector as ConnectorConfig;

/// Claims beyond the standard ones (`groups`, a department…), kept as they came.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Extra {
    #[serde(flatten)]
    claims: Map<String, Value>,
}

impl AdditionalClaims for Extra {}

type Fields = IdTokenFields<
    Extra,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
type OidcClient = Client<
    Extra,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The HTTP client for one provider: no redirects followed (the OAuth 2.0 security
/// advice: a token request must not be sent on elsewhere), a deadline on every call, and
/// the system's roots plus `ca_file`'s.
pub fn http_client(ca_file: Option<&Path>, https_only: bool) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Endpoints the metadata names may not downgrade to plain HTTP (the client
        // secret, the code and the verifier go to them), unless the issuer is local.
        .https_only(https_only)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)?;
        for certificate in reqwest::Certificate::from_pem_bundle(&pem)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder.build()?)
}

/// The provider's metadata and keys, read afresh (a rotated key is seen at once), and
/// the client for it.
async fn client(
    config: &ConnectorConfig,
    secret: &str,
    http: &reqwest::Client,
    redirect_url: &str,
) -> Result<OidcClient, SsoError> {
    let down = |detail: String| SsoError::ProviderDown { provider: config.display_name.clone(), detail };
    let issuer = IssuerUrl::new(config.issuer.clone()).map_err(|err| down(format!("its issuer URL: {err}")))?;
    let metadata = CoreProviderMetadata::discover_async(issuer, http).await.map_err(|err| {
        tracing::warn!(connector = %config.name, error = %chain(&err), "single sign-on: discovery failed");
        down(format!("reading its configuration failed: {}", root_cause(&err)))
    })?;
    let redirect = RedirectUrl::new(redirect_url.to_string()).map_err(|err| down(format!("redirect URL: {err}")))?;
    Ok(OidcClient::from_provider_metadata(
        metadata,
        ClientId::new(config.client_id.clone()),
        Some(ClientSecret::new(secret.to_string())),
    )
    .set_redirect_uri(redirect))
}

/// A sign-in leaving for the provider.
pub struct Leaving {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

pub async fn authorize(
    config: &ConnectorConfig,
    secret: &str,
    http: &reqwest::Client,
    redirect_url: &str,
) -> Result<Leaving, SsoError> {
    let client = client(config, secret, http, redirect_url).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge);
    for scope in config.scopes.iter().filter(|s| s.as_str() != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.url();
    Ok(Leaving {
        url: url.to_string(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    })
}

/// Exchanges the code (with the PKCE verifier), verifies the ID token, and returns its
/// claims with the userinfo endpoint's added (for the same subject; the token's own
/// `iss`, `sub`, `aud` stand).
pub async fn redeem(
    config: &ConnectorConfig,
    secret: &str,
    http: &reqwest::Client,
    redirect_url: &str,
    code: &str,
    pkce_verifier: &str,
    nonce: &str,
) -> Result<Map<String, Value>, SsoError> {
    let provider = || config.display_name.clone();
    let client = client(config, secret, http, redirect_url).await?;
    let request = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|err| SsoError::ProviderDown { provider: provider(), detail: err.to_string() })?
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()));
    let tokens = request.request_async(http).await.map_err(|err| match err {
        RequestTokenError::ServerResponse(answer) => {
            let mut detail = answer.error().to_string();
            if let Some(description) = answer.error_description() {
                detail = format!("{detail}: {}", clip(description));
            }
            SsoError::CodeRefused { provider: provider(), detail }
        }
        RequestTokenError::Request(err) => {
            tracing::warn!(connector = %config.name, error = %chain(&err), "single sign-on: token request failed");
            SsoError::ProviderDown { provider: provider(), detail: format!("its token endpoint: {}", root_cause(&err)) }
        }
        other => SsoError::TokenInvalid { provider: provider(), detail: format!("token response: {other}") },
    })?;
    let invalid = |detail: String| SsoError::TokenInvalid { provider: provider(), detail };
    let id_token = tokens.id_token().ok_or_else(|| invalid("it sent no ID token".into()))?;
    let verifier = client.id_token_verifier();
    let verified =
        id_token.claims(&verifier, &Nonce::new(nonce.to_string())).map_err(|err| invalid(err.to_string()))?;
    let mut claims = match serde_json::to_value(verified) {
        Ok(Value::Object(claims)) => claims,
        _ => return Err(invalid("its claims are not an object".into())),
    };
    if let Ok(request) =
        client.user_info(AccessToken::new(tokens.access_token().secret().clone()), Some(verified.subject().clone()))
    {
        let info: UserInfoClaims<Extra, CoreGenderClaim> = request.request_async(http).await.map_err(|err| {
            if let openidconnect::UserInfoError::ClaimsVerification(verification) = &err {
                // Another subject's answer, or one that does not parse as claims.
                return SsoError::TokenInvalid { provider: provider(), detail: format!("userinfo: {verification}") };
            }
            tracing::warn!(connector = %config.name, error = %chain(&err), "single sign-on: userinfo failed");
            SsoError::ProviderDown {
                provider: provider(),
                detail: format!("its userinfo endpoint: {}", root_cause(&err)),
            }
        })?;
        if let Ok(Value::Object(more)) = serde_json::to_value(&info) {
            for (claim, value) in more {
                if !matches!(claim.as_str(), "iss" | "sub" | "aud" | "exp" | "iat" | "nonce") {
                    claims.entry(claim).or_insert(value);
                }
            }
        }
    }
    Ok(claims)
}

/// The innermost cause: what a person can act on ("Connection refused", a timeout, a
/// status), without the layers above it.
fn root_cause(err: &dyn std::error::Error) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// An error with its causes, on one line (for the log).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}
