//! Who may join someone else's live session, and how: a pure decision over the joiner's
//! roles, the node's labels, the locks, the session's invites and its owner. The join
//! socket, the session list and the half-second sweep all ask it.
//!
//! - Nobody joins their own session (it is open in their tab), and so nobody moderates it.
//! - A user or node lock refuses, whatever the invites say.
//! - A peer (who types) must be invited, by name or by one of their roles, and hold a role
//!   that reaches the node with `join_sessions` including `"peer"`.
//! - An observer must be invited and hold a role reaching the node with `"observer"` (or
//!   `"peer"`: who may type may watch); or be an auditor (`recordings = "all"`), who sees
//!   every live session; or be one of the moderators the session waits for.

use std::collections::BTreeSet;

use super::Refusal;
use super::locks::{Lock, LockTarget, first_on};
use super::rbac::{JoinMode, RecordingAccess, Roles, recording_access};
use crate::inventory::nodes::Node;

/// Who the owner invited: people by name, and holders of roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invites {
    pub users: BTreeSet<String>,
    pub roles: BTreeSet<String>,
}

impl Invites {
    fn names(&self, user: &str, user_roles: &[String]) -> bool {
        self.users.contains(user) || user_roles.iter().any(|r| self.roles.contains(r))
    }
}

/// The session someone asks to join.
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    pub owner: &'a str,
    pub node: &'a Node,
    pub invites: &'a Invites,
    /// The roles whose holders moderate it (empty: it needs no moderator).
    pub moderators: &'a [String],
}

/// Someone's place in a session they may join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinGrant {
    pub mode: JoinMode,
    /// They hold a role the session waits for.
    pub moderator: bool,
}

/// The roles whose holders must moderate a session `owner_roles` open on `node`: the
/// `require_moderator` of every owner's role that reaches it.
pub fn moderators(roles: &Roles, owner_roles: &[String], node: &Node) -> Vec<String> {
    let wanted: BTreeSet<String> = owner_roles
        .iter()
        .filter_map(|name| roles.get(name))
        .filter(|role| role.matches(node))
        .flat_map(|role| role.require_moderator.iter().cloned())
        .collect();
    wanted.into_iter().collect()
}

/// The join modes `user_roles` allow on `node`.
fn allowed(roles: &Roles, user_roles: &[String], node: &Node) -> BTreeSet<JoinMode> {
    user_roles
        .iter()
        .filter_map(|name| roles.get(name))
        .filter(|role| role.matches(node))
        .flat_map(|role| role.join_sessions.iter().copied())
        .collect()
}

/// May `user` (holding `user_roles`) join `session` as `mode`?
pub fn decide(
    roles: &Roles,
    user: &str,
    user_roles: &[String],
    locks: &[Lock],
    session: Session<'_>,
    mode: JoinMode,
) -> Result<JoinGrant, Refusal> {
    let node = session.node.name.as_str();
    if user == session.owner {
        return Err(Refusal::Denied(
            "This is your own session: it is open in your tab. Nobody joins, or moderates, their own session.".into(),
        ));
    }
    if let Some(lock) = first_on(locks, &[LockTarget::User(user.to_string()), LockTarget::Node(node.to_string())]) {
        return Err(Refusal::Locked(format!("{}.", lock.sentence())));
    }
    let moderator = user_roles.iter().any(|r| session.moderators.contains(r));
    let invited = session.invites.names(user, user_roles);
    let modes = allowed(roles, user_roles, session.node);
    let grant = JoinGrant { mode, moderator };
    match mode {
        JoinMode::Peer if invited && modes.contains(&JoinMode::Peer) => Ok(grant),
        JoinMode::Peer if !invited => Err(not_invited(session.owner)),
        JoinMode::Peer => Err(Refusal::Denied(format!(
            "Your roles do not let you type in others' sessions on {node}; join as an observer if they allow it."
        ))),
        JoinMode::Observer => {
            let auditor = recording_access(roles, user_roles) == RecordingAccess::All;
            if auditor || moderator || (invited && !modes.is_empty()) {
                Ok(grant)
            } else if !invited {
                Err(not_invited(session.owner))
            } else {
                Err(Refusal::Denied(format!("Your roles do not let you join sessions on {node}.")))
            }
        }
    }
}

fn not_invited(owner: &str) -> Refusal {
    Refusal::Denied(format!(
        "{owner} has not invited you to this session. Ask them to invite you from its session bar."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::rbac::Role;
    use crate::inventory::nodes::{NodeName, parse_labels};

    fn node(labels: &str) -> Node {
        Node { name: NodeName::parse("web-1").unwrap(), addr: "h:22".into(), labels: parse_labels(labels).unwrap() }
    }

    fn role(env: &str, join: &[JoinMode]) -> Role {
        let mut role = Role::default();
        role.node_labels.insert("env".into(), env.into());
        role.logins.push("root".into());
        role.join_sessions = join.to_vec();
        role
    }

    fn roles() -> Roles {
        let mut auditor = Role { recordings: RecordingAccess::All, ..Role::default() };
        auditor.node_labels.insert("env".into(), "nowhere".into());
        let mut owner = role("demo", &[]);
        owner.require_moderator = vec!["auditor".into()];
        Roles::from([
            ("dev".to_string(), role("demo", &[JoinMode::Observer, JoinMode::Peer])),
            ("watcher".to_string(), role("demo", &[JoinMode::Observer])),
            ("elsewhere".to_string(), role("prod", &[JoinMode::Observer, JoinMode::Peer])),
            ("plain".to_string(), role("demo", &[])),
            ("auditor".to_string(), auditor),
            ("moderated".to_string(), owner),
        ])
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn try_join(
        user: &str,
        user_roles: &[&str],
        invites: &Invites,
        locks: &[Lock],
        mode: JoinMode,
    ) -> Result<JoinGrant, Refusal> {
        let n = node("env=demo");
        let moderators = names(&["auditor"]);
        let session = Session { owner: "olive", node: &n, invites, moderators: &moderators };
        decide(&roles(), user, &names(user_roles), locks, session, mode)
    }

    fn invited(users: &[&str], roles: &[&str]) -> Invites {
        Invites {
            users: users.iter().map(|s| s.to_string()).collect(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn an_invited_peer_with_join_sessions_may_type() {
        let grant = try_join("pia", &["dev"], &invited(&["pia"], &[]), &[], JoinMode::Peer).unwrap();
        assert_eq!(grant, JoinGrant { mode: JoinMode::Peer, moderator: false });
        assert!(try_join("pia", &["dev"], &invited(&[], &["dev"]), &[], JoinMode::Peer).is_ok(), "invited by role");
    }

    #[test]
    fn joining_without_an_invite_is_refused_whatever_the_roles() {
        let refused = try_join("pia", &["dev"], &Invites::default(), &[], JoinMode::Peer).unwrap_err();
        assert!(refused.sentence().starts_with("olive has not invited you"), "{refused:?}");
        assert!(try_join("pia", &["dev"], &invited(&["someone"], &["ops"]), &[], JoinMode::Observer).is_err());
    }

    #[test]
    fn an_invited_user_without_join_sessions_is_refused() {
        let refused = try_join("pat", &["plain"], &invited(&["pat"], &[]), &[], JoinMode::Observer).unwrap_err();
        assert_eq!(refused, Refusal::Denied("Your roles do not let you join sessions on web-1.".into()));
        assert!(try_join("pat", &["plain"], &invited(&["pat"], &[]), &[], JoinMode::Peer).is_err());
    }

    #[test]
    fn an_observer_role_cannot_type() {
        let invites = invited(&["wes"], &[]);
        assert!(try_join("wes", &["watcher"], &invites, &[], JoinMode::Observer).is_ok());
        let refused = try_join("wes", &["watcher"], &invites, &[], JoinMode::Peer).unwrap_err();
        assert!(refused.sentence().contains("do not let you type"), "{refused:?}");
    }

    #[test]
    fn join_sessions_on_a_role_for_other_nodes_gives_nothing_here() {
        let invites = invited(&["eve"], &["elsewhere"]);
        assert!(try_join("eve", &["elsewhere"], &invites, &[], JoinMode::Observer).is_err());
        assert!(try_join("eve", &["elsewhere"], &invites, &[], JoinMode::Peer).is_err());
    }

    #[test]
    fn auditors_observe_any_session_but_type_only_as_invited_peers() {
        let grant = try_join("ada", &["auditor"], &Invites::default(), &[], JoinMode::Observer).unwrap();
        assert_eq!(grant, JoinGrant { mode: JoinMode::Observer, moderator: true }, "auditor moderates here");
        assert!(try_join("ada", &["auditor"], &invited(&["ada"], &[]), &[], JoinMode::Peer).is_err());
    }

    #[test]
    fn a_role_invite_does_not_let_a_locked_user_in() {
        let lock = |target| Lock { id: 1, target, reason: "incident".into(), created_at: 0, expires_at: None };
        let invites = invited(&[], &["dev"]);
        let on_user = [lock(LockTarget::User("pia".into()))];
        let refused = try_join("pia", &["dev"], &invites, &on_user, JoinMode::Peer).unwrap_err();
        assert_eq!(refused, Refusal::Locked("An admin locked the user pia: incident.".into()));
        let on_node = [lock(LockTarget::Node("web-1".into()))];
        assert!(matches!(
            try_join("ada", &["auditor"], &invites, &on_node, JoinMode::Observer),
            Err(Refusal::Locked(_))
        ));
    }

    #[test]
    fn the_owner_cannot_join_or_moderate_their_own_session() {
        let refused = try_join("olive", &["auditor", "dev"], &invited(&["olive"], &[]), &[], JoinMode::Observer);
        assert!(refused.unwrap_err().sentence().contains("your own session"));
    }

    #[test]
    fn moderators_come_from_the_owners_roles_that_reach_the_node() {
        let roles = roles();
        assert_eq!(moderators(&roles, &names(&["moderated", "dev"]), &node("env=demo")), names(&["auditor"]));
        assert!(moderators(&roles, &names(&["moderated"]), &node("env=prod")).is_empty());
        assert!(moderators(&roles, &names(&["dev"]), &node("env=demo")).is_empty());
    }
}
