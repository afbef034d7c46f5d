//! One connection attempt, as a tab's first connect and each Reconnect start it: the
//! page's key (`key`), a certificate for this node and login only (`identity`), the
//! passkey check when the roles ask for one (`mfa`), then the session (`session`).
//!
//! The passkey check normally follows the certificate request's `mfa_required`; a socket
//! the proxy still closes with 4428 (no ticket) leads to the same check, once.

use tokio::sync::mpsc;

use super::identity::{self, Refusal};
use super::key::{self, PageKey};
use super::mfa;
use super::pin;
use super::session::{self, Command, End, Event, Plan};

/// What a tab connects to.
pub struct Target {
    pub node: String,
    pub login: String,
    /// The page's name for the tab, so it finds its session among the live ones.
    pub tab: String,
}

/// A certificate for this connection, and the ticket if a passkey check gave it.
struct Credentials {
    certificate: russh::keys::ssh_key::Certificate,
    ticket: Option<String>,
    file_transfer: super::files::Allowed,
}

/// Runs one attempt until its session ends. `size` gives the terminal's (rows, cols)
/// when the socket opens; `commands` are the tab's input and resizes.
pub async fn attempt(
    csrf: &str,
    target: &Target,
    size: impl Fn() -> (u16, u16),
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: impl Fn(Event),
) -> End {
    let key = match key::page_key().await {
        Ok(key) => key,
        Err(message) => return End::Closed(message),
    };
    events(Event::Key(key.kind()));
    let attempt = Attempt { csrf, key, target, events: &events };
    let (credentials, pin) = match attempt.certificate().await {
        Ok(found) => found,
        Err(message) => return End::Closed(message),
    };
    let checked_already = credentials.ticket.is_some();
    let refused = match attempt.open(credentials, &pin, size(), &mut commands).await {
        Ok(end) => return end,
        Err(refused) => refused,
    };
    // The socket asks for the passkey check the certificate request did not.
    if checked_already {
        return End::Closed(refused.reason);
    }
    let credentials = match attempt.passkey_check().await {
        Ok((credentials, _)) => credentials,
        Err(message) => return End::Closed(message),
    };
    match attempt.open(credentials, &pin, size(), &mut commands).await {
        Ok(end) => end,
        Err(refused) => End::Closed(refused.reason),
    }
}

struct Attempt<'a, E: Fn(Event)> {
    csrf: &'a str,
    key: &'a PageKey,
    target: &'a Target,
    events: &'a E,
}

impl<E: Fn(Event)> Attempt<'_, E> {
    /// The certificate (after a passkey check if the roles ask for one) and the pin.
    async fn certificate(&self) -> Result<(Credentials, String), String> {
        match identity::certify(self.csrf, self.key, &self.target.node, &self.target.login).await {
            Ok(certified) => {
                // First use: trust the CA our own proxy names, over its TLS connection.
                let pin = pin::pinned().unwrap_or_else(|| {
                    pin::remember(&certified.host_ca_fingerprint);
                    certified.host_ca_fingerprint
                });
                let credentials = Credentials {
                    certificate: certified.certificate,
                    ticket: None,
                    file_transfer: certified.file_transfer,
                };
                Ok((credentials, pin))
            }
            Err(Refusal::PasskeyFirst) => {
                let (credentials, offered) = self.passkey_check().await?;
                // First use, as above: the CA our own proxy names with the grant.
                let pin = pin::pinned().unwrap_or_else(|| {
                    pin::remember(&offered);
                    offered
                });
                Ok((credentials, pin))
            }
            Err(Refusal::Said(message)) => Err(message),
        }
    }

    /// The passkey check; the certificate and ticket it gives, and the host CA it names.
    async fn passkey_check(&self) -> Result<(Credentials, String), String> {
        (self.events)(Event::Confirming);
        let grant = mfa::check(self.csrf, self.key, &self.target.node, &self.target.login).await?;
        let credentials = Credentials {
            certificate: grant.certificate,
            ticket: Some(grant.ticket),
            file_transfer: grant.file_transfer,
        };
        Ok((credentials, grant.host_ca_fingerprint))
    }

    async fn open(
        &self,
        credentials: Credentials,
        pin: &str,
        (rows, cols): (u16, u16),
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Result<End, session::PasskeyFirst> {
        // The tab was closed while its certificate or passkey check was on the way.
        if commands.is_closed() {
            return Ok(End::Closed("The tab was closed.".into()));
        }
        (self.events)(Event::Connecting);
        let plan = Plan {
            node: &self.target.node,
            login: &self.target.login,
            key: self.key,
            certificate: credentials.certificate,
            pin,
            ticket: credentials.ticket,
            file_transfer: credentials.file_transfer,
            tab: &self.target.tab,
            cols,
            rows,
        };
        session::run(plan, commands, self.events).await
    }
}
