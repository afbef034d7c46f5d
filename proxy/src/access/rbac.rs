//! Roles, from the config file: which nodes (by label) and which logins each role
//! grants, and how sessions run. The proxy decides with this on every connection;
//! nothing the browser says about access is trusted.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::inventory::nodes::{Labels, Node};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SshMode {
    /// The browser's SSH runs end to end to the node; the proxy relays bytes only and
    /// cannot record. Ordered first, so `max` picks recorded when roles disagree.
    Direct,
    /// The proxy terminates the browser's SSH, checks it, and records the session.
    #[default]
    Recorded,
}

/// Which recordings a role lets its holders list and replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingAccess {
    #[default]
    None,
    /// Their own sessions.
    Own,
    /// Everyone's (auditors).
    All,
}

/// What a role's SSH sessions may move through the Files panel (SFTP): recorded
/// sessions enforce it at the proxy, packet by packet; direct sessions only by what the
/// page offers (README, "Files": a shell can still move bytes by other means).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileTransfer {
    #[default]
    None,
    /// Read files from the node.
    Download,
    /// Write files to the node (and make folders, rename, delete).
    Upload,
    Both,
}

impl FileTransfer {
    pub fn download(self) -> bool {
        matches!(self, FileTransfer::Download | FileTransfer::Both)
    }

    pub fn upload(self) -> bool {
        matches!(self, FileTransfer::Upload | FileTransfer::Both)
    }

    /// What either of two grants allows.
    pub fn union(self, other: FileTransfer) -> FileTransfer {
        match (self.download() || other.download(), self.upload() || other.upload()) {
            (true, true) => FileTransfer::Both,
            (true, false) => FileTransfer::Download,
            (false, true) => FileTransfer::Upload,
            (false, false) => FileTransfer::None,
        }
    }

    /// The word the config and the API use.
    pub fn as_str(self) -> &'static str {
        match self {
            FileTransfer::None => "none",
            FileTransfer::Download => "download",
            FileTransfer::Upload => "upload",
            FileTransfer::Both => "both",
        }
    }
}

/// Whether a role's sessions need a trusted device ([`crate::devices`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceTrust {
    /// Devices play no part.
    #[default]
    Off,
    /// A session check answered by a trusted device records which device it was.
    Optional,
    /// Opening a session needs a fresh assertion from one of the user's trusted devices.
    /// Ordered last, so `max` picks it when roles disagree.
    Required,
}

/// How a role's holders may join someone else's live session ([`crate::access::join`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JoinMode {
    /// Sees the terminal live; types nothing.
    Observer,
    /// Types too.
    Peer,
}

impl JoinMode {
    pub fn as_str(self) -> &'static str {
        match self {
            JoinMode::Observer => "observer",
            JoinMode::Peer => "peer",
        }
    }

    pub fn parse(text: &str) -> Option<JoinMode> {
        match text {
            "observer" => Some(JoinMode::Observer),
            "peer" => Some(JoinMode::Peer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Nodes whose labels match every entry (`"*"` as a value matches any value; the
    /// entry `"*" = "*"` matches every node). No entries: no nodes.
    #[serde(default)]
    pub node_labels: Labels,
    /// OS logins this role may use on those nodes.
    #[serde(default)]
    pub logins: Vec<String>,
    #[serde(default)]
    pub ssh_mode: SshMode,
    #[serde(default)]
    pub recordings: RecordingAccess,
    /// Opening an SSH session on these nodes needs a fresh passkey assertion.
    #[serde(default)]
    pub require_session_mfa: bool,
    /// Desktops whose labels match every entry (as `node_labels`).
    #[serde(default)]
    pub desktop_labels: Labels,
    /// The RDP accounts (each desktop's configured user) this role may use; `"*"`: any.
    #[serde(default)]
    pub desktop_users: Vec<String>,
    /// Direct mode only: the certificate allows `ssh -L`/`-R`/`-W` (OpenSSH's
    /// `permit-port-forwarding`). Recorded sessions never forward: what crosses a
    /// forwarded port cannot be recorded.
    #[serde(default)]
    pub port_forwarding: bool,
    /// Direct mode only: `permit-agent-forwarding`.
    #[serde(default)]
    pub agent_forwarding: bool,
    /// Direct mode only: `permit-X11-forwarding`.
    #[serde(default)]
    pub x11_forwarding: bool,
    /// Web apps whose labels match every entry (as `node_labels`).
    #[serde(default)]
    pub app_labels: Labels,
    /// Files to and from the node over SFTP ([`FileTransfer`]).
    #[serde(default)]
    pub file_transfer: FileTransfer,
    /// Whether opening this role's SSH sessions and desktops needs a trusted device.
    #[serde(default)]
    pub device_trust: DeviceTrust,
    /// Holders of these (standing) roles may ask for this role for a while
    /// ([`crate::access::requests`]). Empty: nobody may ask.
    #[serde(default)]
    pub requestable_by: Vec<String>,
    /// The longest an approved request of this role lasts (`"4h"`).
    #[serde(default, deserialize_with = "seconds")]
    pub max_duration: Option<u64>,
    /// How many reviewers must approve a request (default 1).
    #[serde(default)]
    pub approvals: Option<u32>,
    /// Holders of these (standing) roles review requests of this role.
    #[serde(default)]
    pub reviewers: Vec<String>,
    /// How holders may join others' live sessions on this role's nodes, when invited.
    #[serde(default)]
    pub join_sessions: Vec<JoinMode>,
    /// Sessions this role opens wait until a holder of one of these roles joins them as
    /// moderator, and pause when the last one leaves.
    #[serde(default)]
    pub require_moderator: Vec<String>,
}

/// A humantime duration (`"4h"`, `"90s"`) as whole seconds.
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map(|d| Some(d.as_secs())).map_err(serde::de::Error::custom)
}

/// Whether `user_roles` let someone open `desktop`: a role whose desktop labels match
/// it and whose desktop users include its account.
pub fn desktop_allowed(roles: &Roles, user_roles: &[String], desktop: &crate::inventory::desktops::Desktop) -> bool {
    user_roles.iter().filter_map(|name| roles.get(name)).any(|role| {
        labels_match(&role.desktop_labels, &desktop.labels)
            && role.desktop_users.iter().any(|u| u == "*" || *u == desktop.username)
    })
}

/// Whether `user_roles` let someone use `app`: a role whose app labels match it.
pub fn app_allowed(roles: &Roles, user_roles: &[String], app: &crate::inventory::apps::App) -> bool {
    user_roles.iter().filter_map(|name| roles.get(name)).any(|role| labels_match(&role.app_labels, &app.labels))
}

/// The strictest device trust any of `user_roles` that lets them open `desktop` asks for.
pub fn desktop_device_trust(
    roles: &Roles,
    user_roles: &[String],
    desktop: &crate::inventory::desktops::Desktop,
) -> DeviceTrust {
    user_roles
        .iter()
        .filter_map(|name| roles.get(name))
        .filter(|role| labels_match(&role.desktop_labels, &desktop.labels))
        .map(|role| role.device_trust)
        .max()
        .unwrap_or_default()
}

/// A label selector against labels: every entry matches (`"*"` as a value matches any
/// value; `"*" = "*"` matches everything); an empty selector matches nothing.
fn labels_match(selector: &Labels, labels: &Labels) -> bool {
    !selector.is_empty()
        && selector.iter().all(|(key, wanted)| {
            if key == "*" {
                return wanted == "*";
            }
            labels.get(key).is_some_and(|value| wanted == "*" || value == wanted)
        })
}

/// The widest recording access any of `user_roles` gives.
pub fn recording_access(roles: &Roles, user_roles: &[String]) -> RecordingAccess {
    user_roles.iter().filter_map(|name| roles.get(name)).map(|role| role.recordings).max().unwrap_or_default()
}

impl Role {
    pub fn matches(&self, node: &Node) -> bool {
        labels_match(&self.node_labels, &node.labels)
    }
}

/// The first login any role grants on `node` (what `gatehouse nodes check` tries when
/// not told).
pub fn first_login(roles: &Roles, node: &Node) -> Option<String> {
    roles.values().filter(|role| role.matches(node)).find_map(|role| role.logins.first().cloned())
}

/// What a user may do on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAccess {
    pub logins: BTreeSet<String>,
    pub mode: SshMode,
    /// Any matching role asks for a passkey before each session.
    pub session_mfa: bool,
    /// The strictest device trust of the matching roles.
    pub device_trust: DeviceTrust,
}

pub type Roles = BTreeMap<String, Role>;

/// The access `user_roles` give to `node`: the union of the logins of every matching
/// role, recorded if any of them records. `None` when no role reaches the node with a
/// login. Role names the config does not define grant nothing.
pub fn node_access(roles: &Roles, user_roles: &[String], node: &Node) -> Option<NodeAccess> {
    let matching: Vec<&Role> =
        user_roles.iter().filter_map(|name| roles.get(name)).filter(|role| role.matches(node)).collect();
    let logins: BTreeSet<String> = matching.iter().flat_map(|role| role.logins.iter().cloned()).collect();
    if logins.is_empty() {
        return None;
    }
    let mode = matching.iter().map(|role| role.ssh_mode).max().unwrap_or_default();
    let session_mfa = matching.iter().any(|role| role.require_session_mfa);
    let device_trust = matching.iter().map(|role| role.device_trust).max().unwrap_or_default();
    Some(NodeAccess { logins, mode, session_mfa, device_trust })
}

/// The forwarding a direct-mode certificate for `login` on `node` carries: what any role
/// that reaches the node with that login grants. Nothing in recorded mode.
pub fn extensions(roles: &Roles, user_roles: &[String], node: &Node, login: &str) -> crate::ca::Extensions {
    let granting: Vec<&Role> = user_roles
        .iter()
        .filter_map(|name| roles.get(name))
        .filter(|role| role.matches(node) && role.logins.iter().any(|l| l == login))
        .collect();
    crate::ca::Extensions {
        port_forwarding: granting.iter().any(|r| r.port_forwarding),
        agent_forwarding: granting.iter().any(|r| r.agent_forwarding),
        x11_forwarding: granting.iter().any(|r| r.x11_forwarding),
    }
}

/// The file transfer a session as `login` on `node` allows: what the roles that reach the
/// node with that login allow together.
pub fn file_transfer(roles: &Roles, user_roles: &[String], node: &Node, login: &str) -> FileTransfer {
    user_roles
        .iter()
        .filter_map(|name| roles.get(name))
        .filter(|role| role.matches(node) && role.logins.iter().any(|l| l == login))
        .fold(FileTransfer::None, |all, role| all.union(role.file_transfer))
}

/// A role that grants forwarding must be direct: a recorded session cannot record what
/// crosses a forwarded port, so the config is refused rather than silently ignored.
pub fn check_roles(roles: &Roles) -> Result<(), String> {
    for (name, role) in roles {
        if role.ssh_mode == SshMode::Recorded && (role.port_forwarding || role.agent_forwarding || role.x11_forwarding)
        {
            return Err(format!(
                "role {name} grants forwarding but records its sessions; forwarding needs ssh_mode = \"direct\" (what crosses a forwarded port cannot be recorded)"
            ));
        }
        if !role.require_moderator.is_empty() && role.ssh_mode == SshMode::Direct {
            return Err(format!(
                "role {name} requires a moderator but its sessions are direct; moderation needs ssh_mode = \"recorded\" (the proxy holds input until a moderator joins)"
            ));
        }
        if let Some(missing) = role.require_moderator.iter().find(|r| !roles.contains_key(*r)) {
            return Err(format!("role {name} requires a moderator of role {missing}, which is not defined"));
        }
        if !role.requestable_by.is_empty() {
            if role.reviewers.is_empty() {
                return Err(format!("role {name} is requestable but names no reviewers; add reviewers = [\"ROLE\"]"));
            }
            if role.approvals == Some(0) {
                return Err(format!("role {name} needs approvals of at least 1"));
            }
            if role.max_duration.unwrap_or(0) == 0 {
                return Err(format!("role {name} is requestable and needs a max_duration above zero, such as \"4h\""));
            }
        }
    }
    Ok(())
}

/// The defaults when the config defines no roles: `admin` reaches every node as root,
/// recorded, every desktop and app, and may replay every recording.
pub fn default_roles() -> Roles {
    let mut admin = Role { recordings: RecordingAccess::All, ..Role::default() };
    admin.app_labels.insert("*".into(), "*".into());
    admin.desktop_labels.insert("*".into(), "*".into());
    admin.desktop_users.push("*".into());
    admin.node_labels.insert("*".into(), "*".into());
    admin.logins.push("root".into());
    Roles::from([("admin".to_string(), admin)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::nodes::{NodeName, parse_labels};

    fn node(labels: &str) -> Node {
        Node { name: NodeName::parse("n").unwrap(), addr: "h:22".into(), labels: parse_labels(labels).unwrap() }
    }

    fn role(labels: &str, logins: &[&str], mode: SshMode) -> Role {
        // Selectors may hold "*", which node labels never do: split them by hand.
        let node_labels = labels
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Role {
            node_labels,
            logins: logins.iter().map(|l| l.to_string()).collect(),
            ssh_mode: mode,
            recordings: RecordingAccess::None,
            require_session_mfa: false,
            desktop_labels: Labels::default(),
            desktop_users: Vec::new(),
            port_forwarding: false,
            agent_forwarding: false,
            x11_forwarding: false,
            ..Role::default()
        }
    }

    fn roles() -> Roles {
        Roles::from([
            ("dev".into(), role("env=dev", &["dev"], SshMode::Recorded)),
            ("ops".into(), role("env=*,team=core", &["root"], SshMode::Direct)),
            ("all".into(), role("*=*", &["guest"], SshMode::Direct)),
            ("empty".into(), role("", &["x"], SshMode::Direct)),
        ])
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_role_reaches_nodes_whose_labels_match() {
        let access = node_access(&roles(), &names(&["dev"]), &node("env=dev")).unwrap();
        assert_eq!(access.logins, BTreeSet::from(["dev".to_string()]));
        assert_eq!(access.mode, SshMode::Recorded);
        assert_eq!(node_access(&roles(), &names(&["dev"]), &node("env=prod")), None);
    }

    #[test]
    fn a_wildcard_value_needs_the_key_to_exist() {
        assert!(node_access(&roles(), &names(&["ops"]), &node("env=prod,team=core")).is_some());
        assert!(node_access(&roles(), &names(&["ops"]), &node("team=core")).is_none());
    }

    #[test]
    fn star_star_matches_every_node_and_no_labels_match_none() {
        assert!(node_access(&roles(), &names(&["all"]), &node("")).is_some());
        assert!(node_access(&roles(), &names(&["empty"]), &node("env=dev")).is_none());
    }

    #[test]
    fn logins_add_up_and_recorded_wins() {
        let access = node_access(&roles(), &names(&["dev", "all"]), &node("env=dev")).unwrap();
        assert_eq!(access.logins, BTreeSet::from(["dev".to_string(), "guest".to_string()]));
        assert_eq!(access.mode, SshMode::Recorded);
    }

    #[test]
    fn forwarding_comes_only_from_a_role_that_reaches_the_node_with_the_login() {
        let mut roles = roles();
        roles.get_mut("all").unwrap().port_forwarding = true;
        let node = node("env=dev");
        assert!(extensions(&roles, &names(&["all"]), &node, "guest").port_forwarding);
        assert!(!extensions(&roles, &names(&["all", "dev"]), &node, "dev").port_forwarding, "not for another login");
        assert_eq!(extensions(&roles, &names(&["dev"]), &node, "dev"), crate::ca::Extensions::default());
    }

    #[test]
    fn file_transfer_adds_up_over_the_roles_with_the_login_and_defaults_to_none() {
        let mut roles = roles();
        let node = node("env=dev");
        assert_eq!(file_transfer(&roles, &names(&["all", "dev"]), &node, "dev"), FileTransfer::None);
        roles.get_mut("all").unwrap().file_transfer = FileTransfer::Download;
        roles.get_mut("dev").unwrap().file_transfer = FileTransfer::Upload;
        assert_eq!(file_transfer(&roles, &names(&["all"]), &node, "guest"), FileTransfer::Download);
        assert_eq!(file_transfer(&roles, &names(&["all"]), &node, "dev"), FileTransfer::None, "not for another login");
        roles.get_mut("all").unwrap().logins.push("dev".into());
        assert_eq!(file_transfer(&roles, &names(&["all", "dev"]), &node, "dev"), FileTransfer::Both);
        let parsed: Role = toml::from_str("file_transfer = \"download\"").unwrap();
        assert!(parsed.file_transfer.download() && !parsed.file_transfer.upload());
    }

    #[test]
    fn a_recorded_role_cannot_grant_forwarding() {
        let mut roles = roles();
        assert!(check_roles(&roles).is_ok());
        roles.get_mut("dev").unwrap().agent_forwarding = true;
        assert!(check_roles(&roles).unwrap_err().contains("role dev"));
    }

    #[test]
    fn a_requestable_role_needs_reviewers_approvals_and_a_duration() {
        let mut roles = roles();
        let ops = roles.get_mut("ops").unwrap();
        ops.requestable_by = vec!["dev".into()];
        assert!(check_roles(&roles).unwrap_err().contains("no reviewers"));
        let ops = roles.get_mut("ops").unwrap();
        ops.reviewers = vec!["lead".into()];
        assert!(check_roles(&roles).unwrap_err().contains("max_duration"));
        let ops = roles.get_mut("ops").unwrap();
        ops.max_duration = Some(3600);
        ops.approvals = Some(0);
        assert!(check_roles(&roles).unwrap_err().contains("approvals"));
        roles.get_mut("ops").unwrap().approvals = Some(2);
        assert!(check_roles(&roles).is_ok());
    }

    #[test]
    fn the_strictest_device_trust_of_the_matching_roles_applies() {
        let mut roles = roles();
        roles.get_mut("all").unwrap().device_trust = DeviceTrust::Optional;
        roles.get_mut("dev").unwrap().device_trust = DeviceTrust::Required;
        let dev = node("env=dev");
        assert_eq!(node_access(&roles, &names(&["all"]), &dev).unwrap().device_trust, DeviceTrust::Optional);
        assert_eq!(node_access(&roles, &names(&["dev", "all"]), &dev).unwrap().device_trust, DeviceTrust::Required);
        let prod = node("env=prod");
        assert_eq!(
            node_access(&roles, &names(&["dev", "all"]), &prod).unwrap().device_trust,
            DeviceTrust::Optional,
            "a role that does not reach the node asks nothing of it"
        );
        assert_eq!(
            node_access(&roles, &names(&["ops"]), &node("env=x,team=core")).unwrap().device_trust,
            DeviceTrust::Off
        );
    }

    #[test]
    fn a_desktop_needs_a_device_when_a_role_that_reaches_it_says_so() {
        use crate::inventory::desktops::{Desktop, Security};
        let desktop = Desktop {
            name: NodeName::parse("lab-1").unwrap(),
            addr: "h:3389".into(),
            labels: parse_labels("env=lab").unwrap(),
            username: "alice".into(),
            domain: None,
            security: Security::Nla,
            tls_pin: None,
        };
        let mut lab = role("", &[], SshMode::Recorded);
        lab.desktop_labels.insert("env".into(), "lab".into());
        lab.desktop_users.push("*".into());
        let mut elsewhere = lab.clone();
        elsewhere.desktop_labels.insert("env".into(), "prod".into());
        elsewhere.device_trust = DeviceTrust::Required;
        let mut roles = Roles::from([("lab".to_string(), lab), ("elsewhere".to_string(), elsewhere)]);
        let both = names(&["lab", "elsewhere"]);
        assert_eq!(
            desktop_device_trust(&roles, &both, &desktop),
            DeviceTrust::Off,
            "a role for other desktops asks nothing"
        );
        roles.get_mut("lab").unwrap().device_trust = DeviceTrust::Required;
        assert!(desktop_allowed(&roles, &both, &desktop));
        assert_eq!(desktop_device_trust(&roles, &both, &desktop), DeviceTrust::Required);
        assert_eq!(
            crate::access::session_check(false, desktop_device_trust(&roles, &both, &desktop)),
            Some(crate::access::SessionCheck::Device),
            "so admission refuses it without a device"
        );
    }

    #[test]
    fn undefined_roles_grant_nothing() {
        assert!(node_access(&roles(), &names(&["root", "admin"]), &node("env=dev")).is_none());
    }

    #[test]
    fn default_admin_reaches_everything_as_root() {
        let access = node_access(&default_roles(), &names(&["admin"]), &node("env=prod")).unwrap();
        assert!(access.logins.contains("root"));
    }
}
