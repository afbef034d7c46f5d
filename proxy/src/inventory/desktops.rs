//! Remote desktops: RDP servers people open in the browser. A desktop has an address,
//! labels (for roles), the RDP account the proxy signs in with, and how (NLA or TLS).
//! The account's password never leaves the proxy: it is sealed at rest by the
//! [`crate::vault`] and opened only to connect.

use serde::Deserialize;

use crate::inventory::nodes::{Labels, NodeName};

/// How the proxy secures the RDP connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// CredSSP: the server checks the account before the session starts (Windows'
    /// default, FreeRDP's `/sec:nla`).
    #[default]
    Nla,
    /// TLS only; the account goes in the session's first packets (xrdp).
    Tls,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Nla => "nla",
            Security::Tls => "tls",
        }
    }

    pub fn parse(text: &str) -> Result<Security, DesktopError> {
        match text {
            "nla" => Ok(Security::Nla),
            "tls" => Ok(Security::Tls),
            other => Err(DesktopError::BadSecurity(other.to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desktop {
    pub name: NodeName,
    /// `HOST:PORT` of the RDP server.
    pub addr: String,
    pub labels: Labels,
    pub username: String,
    pub domain: Option<String>,
    pub security: Security,
    /// SHA-256 of the desktop's TLS certificate (`SHA256:` and hex), pinned by the first
    /// `gatehouse desktops check`; every later connection must present the same one
    /// before the account is sent.
    pub tls_pin: Option<String>,
}

/// How a TLS certificate (DER) is pinned.
pub fn certificate_pin(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("SHA256:{hex}")
}

#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    #[error("security must be \"nla\" or \"tls\", not {0:?}")]
    BadSecurity(String),
    #[error("a desktop needs an RDP user name")]
    NoUser,
    #[error("a desktop needs a password (from a prompt, --password-file or password_file)")]
    NoPassword,
}

/// A desktop as listed in the config file; its password is read from a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDesktop {
    pub name: String,
    pub addr: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    pub user: String,
    pub domain: Option<String>,
    #[serde(default)]
    pub security: Security,
    pub password_file: std::path::PathBuf,
    /// The desktop's TLS certificate pin (`SHA256:…`, as `desktops check` prints it).
    pub tls_pin: Option<String>,
}

impl ConfigDesktop {
    /// The desktop without its password (read from the file only to connect).
    pub fn desktop(&self) -> Result<Desktop, crate::inventory::nodes::NodeError> {
        Ok(Desktop {
            name: NodeName::parse(&self.name)?,
            addr: self.addr.clone(),
            labels: self.labels.clone(),
            username: self.user.clone(),
            domain: self.domain.clone(),
            security: self.security,
            tls_pin: self.tls_pin.clone(),
        })
    }
}

/// The config's desktops and the database's, the config winning on a name clash.
pub fn merge(config: &[Desktop], added: Vec<Desktop>) -> Vec<Desktop> {
    let mut all: Vec<Desktop> = config.to_vec();
    all.extend(added.into_iter().filter(|d| !config.iter().any(|c| c.name == d.name)));
    all.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_is_nla_or_tls() {
        assert_eq!(Security::parse("nla").unwrap(), Security::Nla);
        assert_eq!(Security::parse("tls").unwrap(), Security::Tls);
        assert!(Security::parse("rdp").is_err());
    }
}
