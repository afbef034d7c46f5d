//! Single sign-on with OpenID Connect: connectors from the config (`[[sso]]`), the
//! authorization code flow with PKCE, `state` and `nonce` (`oidc.rs`, over the
//! `openidconnect` crate: discovery, the token exchange, the ID token's signature
//! against the issuer's keys, `iss`, `aud`, `exp` and `nonce`), and what the verified
//! claims make of the person ([`mapping`]: the account name and the roles).
//!
//! A sign-in leaves for the provider with a random `state`, under whose hash the flow is
//! kept in the database ([`flow::Flow`]: the PKCE verifier, the nonce, and the hash of a
//! random value set in the browser's `gatehouse_sso` cookie). It comes back to
//! `/sso/callback/{name}`, whose page posts what the provider said; the flow is taken out of
//! the database (one use), the cookie must match (so a callback link cannot sign a
//! victim's browser in as someone else), and only then is the code exchanged. Roles are
//! mapped again at every sign-in: someone removed from a group at the provider loses
//! the role at their next sign-in, and the sweep ends their live sessions of it.

pub mod error;
pub mod flow;
pub mod mapping;
mod oidc;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;

pub use crate::config::SsoConnector as ConnectorConfig;

use crate::accounts::user::{User, UserId};
use crate::auth::token;
use crate::config::PasskeyAfter;
use crate::store::StoreError;
use crate::store::backend::Store;
pub use error::SsoError;
use error::clip;
use flow::Flow;

/// How long a person may take at the provider (and, after it, to add a passkey).
pub const FLOW_SECS: u64 = 10 * 60;

/// A connector ready to use: its config, its secret, and its HTTP client.
struct Connector {
    config: ConnectorConfig,
    secret: String,
    http: reqwest::Client,
}

/// A sign-in about to leave for the provider.
pub struct Started {
    /// Where to send the browser.
    pub url: String,
    /// The value for the browser's `gatehouse_sso` cookie.
    pub binding: String,
}

/// What the provider said on the way back (the callback's query, posted by the page).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Callback {
    /// The connector whose callback path it came back to.
    pub connector: String,
    pub state: String,
    /// The provider's name for itself, when it says (RFC 9207).
    pub iss: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A person the provider proved.
pub struct Proved {
    pub connector: String,
    /// The issuer that proved them (an account stays linked to the issuer that made it).
    pub issuer: String,
    pub provider: String,
    pub subject: String,
    pub name: String,
    pub roles: Vec<String>,
    pub passkey: PasskeyAfter,
}

/// What signing a proved person in did to their account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    Created,
    Roles { before: Vec<String> },
    None,
}

/// The configured connectors.
pub struct Sso {
    connectors: BTreeMap<String, Connector>,
    /// `PUBLIC_URL/sso/callback/`: each connector comes back to its own path under it.
    callback_base: String,
    store: Arc<dyn Store>,
}

impl Sso {
    /// Reads each connector's secret and builds its HTTP client. The provider is not
    /// asked anything yet: a provider that is down when the proxy starts only fails its
    /// own sign-ins.
    pub fn new(configs: &[ConnectorConfig], public_url: &str, store: Arc<dyn Store>) -> anyhow::Result<Sso> {
        let mut connectors = BTreeMap::new();
        for config in configs {
            let secret = std::fs::read_to_string(&config.client_secret_file)
                .with_context(|| {
                    format!(
                        "[[sso]] {}: cannot read client_secret_file {}",
                        config.name,
                        config.client_secret_file.display()
                    )
                })?
                .trim()
                .to_string();
            let http = oidc::http_client(config.ca_file.as_deref(), !config.issuer.starts_with("http://"))
                .with_context(|| format!("[[sso]] {}: cannot set up its HTTP client", config.name))?;
            if connectors.insert(config.name.clone(), Connector { config: config.clone(), secret, http }).is_some() {
                anyhow::bail!("[[sso]] {} is listed twice", config.name);
            }
        }
        Ok(Sso { connectors, callback_base: format!("{public_url}/sso/callback/"), store })
    }

    /// `(name, display name)` of each connector, for the sign-in page.
    pub fn list(&self) -> Vec<(String, String)> {
        self.connectors.values().map(|c| (c.config.name.clone(), c.config.display_name.clone())).collect()
    }

    /// Where the provider sends the browser back for `name`: a path of its own, so a
    /// callback can be told apart from another provider's (the "mix-up" attack sends a
    /// code from one provider to another's flow).
    fn redirect_url(&self, name: &str) -> String {
        format!("{}{name}", self.callback_base)
    }

    fn connector(&self, name: &str) -> Result<&Connector, SsoError> {
        self.connectors.get(name).ok_or_else(|| SsoError::UnknownConnector(name.to_string()))
    }

    /// Starts a sign-in with `name`: the provider's authorization URL, and the cookie
    /// value that binds the flow to this browser.
    pub async fn start(&self, name: &str, now: u64) -> Result<Started, SsoError> {
        let connector = self.connector(name)?;
        let leaving =
            oidc::authorize(&connector.config, &connector.secret, &connector.http, &self.redirect_url(name)).await?;
        let binding = token::random_token();
        let flow = Flow {
            connector: name.to_string(),
            binding_hash: token::token_hash(&binding),
            pkce_verifier: leaving.pkce_verifier,
            nonce: leaving.nonce,
            user: None,
            expires_at: now + FLOW_SECS,
        };
        self.store.put_flow(&token::token_hash(&leaving.state), &flow, now)?;
        Ok(Started { url: leaving.url, binding })
    }

    /// The flow behind `token`, taken out (one use) and checked against the browser's
    /// cookie.
    fn take(&self, token: &str, binding: Option<&str>, now: u64) -> Result<Flow, SsoError> {
        let flow = self.store.take_flow(&token::token_hash(token), now)?.ok_or(SsoError::FlowUnknown)?;
        match binding {
            Some(binding) if token::token_hash(binding) == flow.binding_hash => Ok(flow),
            _ => Err(SsoError::WrongBrowser),
        }
    }

    /// The connector's name a flow's error is about, for the audit, when it can be told.
    pub fn provider_of(&self, name: &str) -> Option<String> {
        self.connectors.get(name).map(|c| c.config.display_name.clone())
    }

    /// Finishes a sign-in: the flow (once, from this browser), then the provider's
    /// answer, the code's exchange and the ID token's checks, then the claims' mapping.
    pub async fn finish(&self, callback: &Callback, binding: Option<&str>, now: u64) -> Result<Proved, SsoError> {
        let flow = self.take(&callback.state, binding, now)?;
        if flow.user.is_some() {
            // An enrolment token is not a state the provider hands back.
            return Err(SsoError::FlowUnknown);
        }
        let connector = self.connector(&flow.connector)?;
        let provider = connector.config.display_name.clone();
        // It must come back where its own provider sends it, and, when the provider names
        // itself in the answer (RFC 9207), as that provider.
        let issuer_differs = callback
            .iss
            .as_deref()
            .is_some_and(|iss| iss.trim_end_matches('/') != connector.config.issuer.trim_end_matches('/'));
        if callback.connector != flow.connector || issuer_differs {
            return Err(SsoError::WrongProvider { provider });
        }
        if let Some(error) = &callback.error {
            let detail = match (error.as_str(), callback.error_description.as_deref()) {
                ("access_denied", _) => "you (or the provider) declined to let Gatehouse sign you in".to_string(),
                (error, Some(description)) => format!("it answered {}: {}", clip(error), clip(description)),
                (error, None) => format!("it answered {}", clip(error)),
            };
            return Err(SsoError::Declined { provider, detail });
        }
        let code = callback.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| SsoError::Declined {
            provider: provider.clone(),
            detail: "it sent neither a code nor an error".into(),
        })?;
        let claims = oidc::redeem(
            &connector.config,
            &connector.secret,
            &connector.http,
            &self.redirect_url(&flow.connector),
            code,
            &flow.pkce_verifier,
            &flow.nonce,
        )
        .await?;
        let subject = claims.get("sub").and_then(|s| s.as_str()).unwrap_or_default().to_string();
        let name = mapping::account_name(&claims, &connector.config.username_claim).ok_or_else(|| {
            SsoError::NoName { provider: provider.clone(), claim: connector.config.username_claim.clone() }
        })?;
        let roles = mapping::roles_for(&connector.config.roles, &claims);
        Ok(Proved {
            connector: flow.connector,
            issuer: connector.config.issuer.clone(),
            provider,
            subject,
            name,
            roles,
            passkey: connector.config.passkey,
        })
    }

    /// The account a proved person signs in as: the one linked to their subject at this
    /// issuer, or a new one (never an existing account that is not linked: a provider
    /// cannot take over a local `admin`). Its roles become the mapped ones: a known
    /// account may come back with none (its sessions then end, and the caller refuses
    /// the sign-in); a new one with none is refused before it is made.
    pub fn account(&self, proved: &Proved, now: u64) -> Result<(User, AccountChange), SsoError> {
        let store = self.store.as_ref();
        let linked = match store.sso_user(&proved.connector, &proved.subject)? {
            Some((_, issuer)) if issuer != proved.issuer => {
                return Err(SsoError::IssuerChanged { provider: proved.provider.clone() });
            }
            Some((id, _)) => store.user_by_id(id)?,
            None => None,
        };
        let (user, change) = match linked {
            Some(user) => {
                if user.roles == proved.roles {
                    (user, AccountChange::None)
                } else {
                    store.set_roles(user.id, &proved.roles)?;
                    let before = user.roles.clone();
                    (User { roles: proved.roles.clone(), ..user }, AccountChange::Roles { before })
                }
            }
            None => {
                if proved.roles.is_empty() {
                    return Err(SsoError::NoRole { provider: proved.provider.clone() });
                }
                let id = match store.create_user(&proved.name, &proved.roles, now) {
                    Ok(id) => id,
                    Err(StoreError::UserExists(name)) => {
                        return Err(SsoError::NameTaken { provider: proved.provider.clone(), name });
                    }
                    Err(err) => return Err(err.into()),
                };
                if !store.link_sso(&proved.connector, &proved.subject, &proved.issuer, id, now)? {
                    // Another first sign-in of the same subject won the race with its own account.
                    return Err(SsoError::FlowUnknown);
                }
                let user = store.user_by_id(id)?.ok_or(SsoError::FlowUnknown)?;
                (user, AccountChange::Created)
            }
        };
        Ok((user, change))
    }

    /// Keeps a proved account waiting for its first passkey: the token for the
    /// enrolment step, bound to the same browser.
    pub fn await_passkey(&self, user: UserId, connector: &str, binding: &str, now: u64) -> Result<String, SsoError> {
        let token = token::random_token();
        let flow = Flow {
            connector: connector.to_string(),
            binding_hash: token::token_hash(binding),
            pkce_verifier: String::new(),
            nonce: String::new(),
            user: Some(user),
            expires_at: now + FLOW_SECS,
        };
        self.store.put_flow(&token::token_hash(&token), &flow, now)?;
        Ok(token)
    }

    /// The account an enrolment token was kept for (once, from the same browser), and
    /// its connector's name.
    pub fn take_enrolment(&self, token: &str, binding: Option<&str>, now: u64) -> Result<(UserId, String), SsoError> {
        let flow = self.take(token, binding, now)?;
        let user = flow.user.ok_or(SsoError::FlowUnknown)?;
        Ok((user, flow.connector))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn sso() -> Sso {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        Sso { connectors: BTreeMap::new(), callback_base: "https://gh.example/sso/callback/".into(), store }
    }

    fn proved(name: &str, subject: &str, roles: &[&str]) -> Proved {
        Proved {
            connector: "corp".into(),
            issuer: "https://id.corp.example".into(),
            provider: "Corp ID".into(),
            subject: subject.into(),
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            passkey: PasskeyAfter::MfaRoles,
        }
    }

    #[test]
    fn a_first_sign_in_makes_the_account_and_later_ones_remap_its_roles() {
        let sso = sso();
        let (user, change) = sso.account(&proved("olga", "s-1", &["ops"]), 10).unwrap();
        assert_eq!(
            (user.name.as_str(), user.roles.clone(), change),
            ("olga", vec!["ops".to_string()], AccountChange::Created)
        );
        let (again, change) = sso.account(&proved("olga", "s-1", &["dev"]), 20).unwrap();
        assert_eq!(again.id, user.id);
        assert_eq!(change, AccountChange::Roles { before: vec!["ops".into()] });
        assert_eq!(sso.store.user_by_id(user.id).unwrap().unwrap().roles, ["dev"]);
        let (_, change) = sso.account(&proved("olga", "s-1", &["dev"]), 30).unwrap();
        assert_eq!(change, AccountChange::None);
    }

    #[test]
    fn a_subject_left_with_no_role_loses_its_roles() {
        let sso = sso();
        let (user, _) = sso.account(&proved("olga", "s-1", &["ops"]), 10).unwrap();
        let (left, change) = sso.account(&proved("olga", "s-1", &[]), 20).unwrap();
        assert!(left.roles.is_empty(), "the caller refuses the sign-in");
        assert_eq!(change, AccountChange::Roles { before: vec!["ops".into()] });
        assert!(sso.store.user_by_id(user.id).unwrap().unwrap().roles.is_empty(), "its sessions end with the roles");
        assert!(matches!(sso.account(&proved("sam", "s-2", &[]), 20), Err(SsoError::NoRole { .. })));
        assert!(sso.store.user_by_name("sam").unwrap().is_none(), "no account for someone with no role");
    }

    #[test]
    fn a_subject_stays_with_the_issuer_that_made_its_account() {
        let sso = sso();
        sso.account(&proved("olga", "1001", &["ops"]), 10).unwrap();
        let elsewhere = Proved { issuer: "https://id.other.example".into(), ..proved("olga", "1001", &["ops"]) };
        let err = sso.account(&elsewhere, 20).map(|_| ()).unwrap_err();
        assert!(matches!(err, SsoError::IssuerChanged { .. }), "{err}");
    }

    #[test]
    fn an_existing_local_account_is_not_taken_over() {
        let sso = sso();
        let admin = sso.store.create_user("admin", &["admin".into()], 1).unwrap();
        let err = sso.account(&proved("admin", "s-9", &["dev"]), 10).map(|_| ()).unwrap_err();
        assert!(matches!(err, SsoError::NameTaken { .. }), "{err}");
        assert_eq!(sso.store.user_by_id(admin).unwrap().unwrap().roles, ["admin"]);
        assert_eq!(sso.store.sso_user("corp", "s-9").unwrap(), None);
    }

    #[test]
    fn a_flow_is_bound_to_its_browser_and_used_once() {
        let sso = sso();
        let binding = token::random_token();
        let id = sso.store.create_user("ada", &["ops".into()], 1).unwrap();
        let token = sso.await_passkey(id, "corp", &binding, 100).unwrap();
        assert!(matches!(sso.take_enrolment(&token, Some("another browser's"), 110), Err(SsoError::WrongBrowser)));
        assert!(
            matches!(sso.take_enrolment(&token, Some(&binding), 110), Err(SsoError::FlowUnknown)),
            "the wrong browser spent it"
        );
        let token = sso.await_passkey(id, "corp", &binding, 100).unwrap();
        assert_eq!(sso.take_enrolment(&token, Some(&binding), 110).unwrap(), (id, "corp".to_string()));
        assert!(matches!(sso.take_enrolment(&token, Some(&binding), 110), Err(SsoError::FlowUnknown)));
        let token = sso.await_passkey(id, "corp", &binding, 100).unwrap();
        assert!(
            matches!(sso.take_enrolment(&token, Some(&binding), 100 + FLOW_SECS), Err(SsoError::FlowUnknown)),
            "expired"
        );
    }
}
