//! SSH nodes: ordinary OpenSSH servers that trust our user CA. They come from the
//! config file (`[[nodes]]`) and from `gatehouse nodes add` (the database).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// A node's name: what people pick and what its host certificate names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct NodeName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodeError {
    #[error("a node name is 1 to 63 characters: lower-case letters, digits and '-', not starting with '-' (got {0:?})")]
    Name(String),
    #[error("labels are written key=value,key=value (got {0:?})")]
    Labels(String),
    #[error("a node address is HOST:PORT (got {0:?})")]
    Addr(String),
}

impl NodeName {
    pub fn parse(name: &str) -> Result<NodeName, NodeError> {
        let ok = !name.is_empty()
            && name.len() <= 63
            && !name.starts_with('-')
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(NodeName(name.to_string())) } else { Err(NodeError::Name(name.to_string())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeName {
    type Error = NodeError;
    fn try_from(name: String) -> Result<Self, NodeError> {
        NodeName::parse(&name)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub name: NodeName,
    /// HOST:PORT of the node's sshd.
    #[serde(deserialize_with = "addr")]
    pub addr: String,
    #[serde(default)]
    pub labels: Labels,
}

/// Checks HOST:PORT (a name or an IP, with a numeric port).
pub fn check_addr(addr: &str) -> Result<(), NodeError> {
    let bad = || NodeError::Addr(addr.to_string());
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(())
}

fn addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let addr = String::deserialize(d)?;
    check_addr(&addr).map_err(serde::de::Error::custom)?;
    Ok(addr)
}

/// Parses `env=dev,team=core`. An empty string is no labels.
pub fn parse_labels(text: &str) -> Result<Labels, NodeError> {
    let mut labels = Labels::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| NodeError::Labels(text.to_string()))?;
        let (key, value) = (key.trim(), value.trim());
        let fine = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
        if !fine(key) || !fine(value) {
            return Err(NodeError::Labels(text.to_string()));
        }
        labels.insert(key.to_string(), value.to_string());
    }
    Ok(labels)
}

/// Every node: the config's, then those added from the command line whose names the
/// config does not already use (the config wins).
pub fn merge(configured: &[Node], added: Vec<Node>) -> Vec<Node> {
    let mut all = configured.to_vec();
    for node in added {
        if !all.iter().any(|n| n.name == node.name) {
            all.push(node);
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

pub fn format_labels(labels: &Labels) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_dns_labels() {
        NodeName::parse("web-1").unwrap();
        for bad in ["", "-web", "Web", "web_1", "web.example", &"a".repeat(64)] {
            assert!(NodeName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels_parse_and_format_back() {
        let labels = parse_labels("env=dev, team=core").unwrap();
        assert_eq!(labels.get("env").map(String::as_str), Some("dev"));
        assert_eq!(format_labels(&labels), "env=dev,team=core");
        assert_eq!(parse_labels("").unwrap(), Labels::new());
        assert!(parse_labels("env").is_err());
        assert!(parse_labels("env=").is_err());
        assert!(parse_labels("e nv=x").is_err());
    }

    #[test]
    fn addresses_need_a_host_and_a_port() {
        check_addr("127.0.0.1:22").unwrap();
        check_addr("node.example:2222").unwrap();
        for bad in ["node", ":22", "node:", "node:0", "node:99999", "node:ssh"] {
            assert!(check_addr(bad).is_err(), "{bad:?}");
        }
    }
}
