//! Where apps live: each on an origin of its own, `https://NAME.<public host>[:port]`
//! beside Gatehouse's `https://<public host>[:port]`, so that an app's pages can never
//! read Gatehouse's cookies or call its API as the user (the browser's same-origin rule
//! and host-only cookies keep them apart). Browsers resolve every `*.localhost` name to
//! loopback, so the embedded default needs no DNS.

use crate::inventory::nodes::NodeName;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origins {
    /// The public host, lower-case, without the port.
    host: String,
    /// `:PORT` when the public URL has one, else empty.
    port: String,
}

impl Origins {
    /// From Gatehouse's public URL; `None` when its host is an IP address (an address
    /// has no names under it, so apps cannot be served).
    pub fn from_public_url(public_url: &str) -> Option<Origins> {
        let url = url::Url::parse(public_url).ok()?;
        let host = match url.host()? {
            url::Host::Domain(domain) => domain.to_ascii_lowercase(),
            url::Host::Ipv4(_) | url::Host::Ipv6(_) => return None,
        };
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        Some(Origins { host, port })
    }

    /// The app a request's `Host` header names, if it is `NAME.<public host>` (any port:
    /// a load balancer may listen on another).
    pub fn app_for_host(&self, host_header: &str) -> Option<NodeName> {
        let host = match host_header.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => host_header,
        };
        let host = host.to_ascii_lowercase();
        let label = host.strip_suffix(&self.host)?.strip_suffix('.')?;
        NodeName::parse(label).ok()
    }

    /// `https://NAME.<public host>[:port]`.
    pub fn app_origin(&self, app: &str) -> String {
        format!("https://{app}.{}{}", self.host, self.port)
    }

    /// `NAME.<public host>[:port]`: what `X-Forwarded-Host` says.
    pub fn app_authority(&self, app: &str) -> String {
        format!("{app}.{}{}", self.host, self.port)
    }

    /// The names a certificate must cover for every app: `*.<public host>`.
    pub fn wildcard(&self) -> String {
        format!("*.{}", self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_is_one_label_under_the_public_host() {
        let origins = Origins::from_public_url("https://localhost:3080").unwrap();
        assert_eq!(origins.app_for_host("whoami.localhost:3080").unwrap().as_str(), "whoami");
        assert_eq!(origins.app_for_host("WhoAmI.LocalHost").unwrap().as_str(), "whoami");
        for not_an_app in [
            "localhost:3080",
            "localhost",
            "a.b.localhost",
            ".localhost",
            "whoamilocalhost",
            "evil.example",
            "whoami.localhost.evil.example",
            "who_ami.localhost",
        ] {
            assert!(origins.app_for_host(not_an_app).is_none(), "{not_an_app:?}");
        }
        assert_eq!(origins.app_origin("whoami"), "https://whoami.localhost:3080");
        assert_eq!(
            Origins::from_public_url("https://gatehouse.example").unwrap().app_origin("wiki"),
            "https://wiki.gatehouse.example"
        );
    }

    #[test]
    fn an_address_has_no_apps() {
        assert!(Origins::from_public_url("https://127.0.0.1:3080").is_none());
        assert!(Origins::from_public_url("https://[::1]:3080").is_none());
    }
}
