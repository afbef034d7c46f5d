//! Web applications behind Gatehouse: an internal HTTP address people reach through the
//! proxy at an origin of the app's own (`https://NAME.<public host>`), with labels for
//! roles (`app_labels`). From the config file (`[[apps]]`) and `gatehouse apps add`.

use serde::Deserialize;

use crate::inventory::nodes::{Labels, NodeError, NodeName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// A DNS label: the app's origin is `https://NAME.<public host>`.
    pub name: NodeName,
    pub uri: AppUri,
    pub labels: Labels,
    /// The `Host` header the app gets; by default the authority of its URI (what a
    /// request straight to it would send).
    pub host_header: Option<String>,
    /// `Location` headers naming the app's internal address are rewritten to its public
    /// origin (on by default).
    pub rewrite_redirects: bool,
}

impl App {
    /// What the `Host` header to the app says.
    pub fn host_header(&self) -> &str {
        self.host_header.as_deref().unwrap_or(self.uri.authority())
    }
}

/// An app's internal address: `http://HOST:PORT` (plain HTTP on the proxy's network;
/// the proxy is the app's only client that matters). A path is not allowed: the app is
/// served at its origin's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUri {
    /// `http://HOST:PORT`, as given (without a trailing `/`).
    origin: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AppError {
    #[error(transparent)]
    Name(#[from] NodeError),
    #[error(
        "an app's address is http://HOST[:PORT] with no path, query or user (got {0:?}); https to the app is not supported yet"
    )]
    Uri(String),
    #[error("the Host header for an app is HOST or HOST:PORT (got {0:?})")]
    Host(String),
}

impl AppUri {
    pub fn parse(text: &str) -> Result<AppUri, AppError> {
        let bad = || AppError::Uri(text.to_string());
        let url = url::Url::parse(text).map_err(|_| bad())?;
        let plain = url.scheme() == "http"
            && url.host_str().is_some_and(|h| !h.is_empty())
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none()
            && url.path() == "/";
        if !plain {
            return Err(bad());
        }
        let host = url.host_str().ok_or_else(bad)?;
        let origin = match url.port() {
            Some(port) => format!("http://{host}:{port}"),
            None => format!("http://{host}"),
        };
        Ok(AppUri { origin })
    }

    /// `http://HOST[:PORT]`: the JWT's `aud`, and what redirects to the app start with.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `HOST[:PORT]`.
    pub fn authority(&self) -> &str {
        &self.origin["http://".len()..]
    }
}

impl std::fmt::Display for AppUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.origin)
    }
}

/// Checks a `Host` header value to send: a host name or address, and a port maybe.
pub fn check_host_header(host: &str) -> Result<(), AppError> {
    let fine = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if fine { Ok(()) } else { Err(AppError::Host(host.to_string())) }
}

/// An app as listed in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigApp {
    pub name: String,
    pub uri: String,
    #[serde(default)]
    pub labels: Labels,
    /// The `Host` header the app gets (default: its URI's `HOST:PORT`).
    pub host: Option<String>,
    #[serde(default = "yes")]
    pub rewrite_redirects: bool,
}

fn yes() -> bool {
    true
}

impl ConfigApp {
    pub fn app(&self) -> Result<App, AppError> {
        if let Some(host) = &self.host {
            check_host_header(host)?;
        }
        Ok(App {
            name: NodeName::parse(&self.name)?,
            uri: AppUri::parse(&self.uri)?,
            labels: self.labels.clone(),
            host_header: self.host.clone(),
            rewrite_redirects: self.rewrite_redirects,
        })
    }
}

/// The config's apps and the database's, the config winning on a name clash.
pub fn merge(config: &[App], added: Vec<App>) -> Vec<App> {
    let mut all: Vec<App> = config.to_vec();
    all.extend(added.into_iter().filter(|a| !config.iter().any(|c| c.name == a.name)));
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_address_is_a_plain_http_origin() {
        let uri = AppUri::parse("http://10.0.0.7:3000").unwrap();
        assert_eq!((uri.origin(), uri.authority()), ("http://10.0.0.7:3000", "10.0.0.7:3000"));
        assert_eq!(AppUri::parse("http://wiki.internal/").unwrap().origin(), "http://wiki.internal");
        for bad in [
            "https://10.0.0.7",
            "http://10.0.0.7:3000/admin",
            "http://user:pw@10.0.0.7",
            "http://10.0.0.7?x=1",
            "ftp://10.0.0.7",
            "10.0.0.7:3000",
            "",
        ] {
            assert!(AppUri::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_host_header_defaults_to_the_address_and_can_be_set() {
        let mut app = ConfigApp {
            name: "wiki".into(),
            uri: "http://10.0.0.7:3000".into(),
            labels: Labels::new(),
            host: None,
            rewrite_redirects: true,
        };
        assert_eq!(app.app().unwrap().host_header(), "10.0.0.7:3000");
        app.host = Some("wiki.internal".into());
        assert_eq!(app.app().unwrap().host_header(), "wiki.internal");
        app.host = Some("wiki.internal\r\nX-Evil: 1".into());
        assert!(app.app().is_err());
        app.host = None;
        app.name = "Wiki".into();
        assert!(app.app().is_err(), "an app's name is a DNS label");
    }
}
