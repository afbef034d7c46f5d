//! Who may open what, as pure functions over the inventory, the roles, the user and the
//! locks. The certificate endpoint, the SSH and desktop sockets and the live-session
//! sweeper ([`crate::sessions`]) all decide with these, so a certificate's scope, the
//! socket's decision and "is this session still allowed?" a second later are one and
//! the same decision.

pub mod join;
pub mod locks;
pub mod rbac;
pub mod requests;

use crate::accounts::user::User;
use crate::ca::Extensions;
use crate::inventory::apps::App;
use crate::inventory::desktops::Desktop;
use crate::inventory::nodes::{Node, NodeName};
use locks::{Lock, LockTarget, first_on};
use rbac::{Roles, SshMode};

/// Why something is refused, with the sentence the person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such node or desktop (or a name that cannot be one).
    Missing(String),
    /// The roles do not allow it.
    Denied(String),
    /// An admin's lock stops it.
    Locked(String),
    /// The roles ask for a passkey check before this session (from a trusted device,
    /// where they say so): do it, then reconnect.
    MfaRequired(String),
    /// The user already has as many sessions open as allowed.
    TooMany(String),
    /// The proxy cannot do it right now (a full disk, an unreadable lock table, a
    /// desktop not yet verified); an admin can fix it.
    Unavailable(String),
    /// The node or desktop cannot be reached.
    Unreachable(String),
}

impl Refusal {
    pub fn sentence(&self) -> &str {
        match self {
            Refusal::Missing(s)
            | Refusal::Denied(s)
            | Refusal::Locked(s)
            | Refusal::MfaRequired(s)
            | Refusal::TooMany(s)
            | Refusal::Unavailable(s)
            | Refusal::Unreachable(s) => s,
        }
    }

    /// A word for the kind of refusal, for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Missing(_) => "missing",
            Refusal::Denied(_) => "denied",
            Refusal::Locked(_) => "locked",
            Refusal::MfaRequired(_) => "mfa_required",
            Refusal::TooMany(_) => "too_many",
            Refusal::Unavailable(_) => "unavailable",
            Refusal::Unreachable(_) => "unreachable",
        }
    }
}

/// What one SSH connection may do: the decision a certificate is signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshGrant {
    pub user: String,
    pub node: Node,
    pub login: String,
    pub mode: SshMode,
    /// A passkey check is needed before the session.
    pub session_mfa: bool,
    /// Whether the check must come from a trusted device (or records the one used).
    pub device_trust: rbac::DeviceTrust,
    /// Forwarding the certificate allows (direct mode only; none when recorded).
    pub extensions: Extensions,
    /// What the Files panel may move ([`rbac::FileTransfer`]).
    pub file_transfer: rbac::FileTransfer,
}

fn lock_on_user<'a>(locks: &'a [Lock], user: &User) -> Option<&'a Lock> {
    first_on(locks, &[LockTarget::User(user.name.clone())])
}

/// May `user` open an SSH session as `login` on the node named `node`?
pub fn ssh(
    roles: &Roles,
    user: &User,
    nodes: &[Node],
    locks: &[Lock],
    node: &str,
    login: &str,
) -> Result<SshGrant, Refusal> {
    let name = NodeName::parse(node).map_err(|_| Refusal::Missing(format!("There is no node named {node:?}.")))?;
    let Some(node) = nodes.iter().find(|n| n.name == name) else {
        return Err(Refusal::Missing(format!("There is no node named {name}.")));
    };
    if login.is_empty() {
        return Err(Refusal::Denied(format!("Choose a login for {name}.")));
    }
    let Some(access) = rbac::node_access(roles, &user.roles, node) else {
        return Err(Refusal::Denied(format!("Your roles do not give you access to {name}.")));
    };
    if !access.logins.contains(login) {
        let allowed = access.logins.iter().cloned().collect::<Vec<_>>().join(", ");
        return Err(Refusal::Denied(format!("You may not log in to {name} as {login}; your roles allow: {allowed}.")));
    }
    if let Some(lock) = lock_on_user(locks, user).or_else(|| first_on(locks, &[LockTarget::Node(name.to_string())])) {
        return Err(Refusal::Locked(format!("{}.", lock.sentence())));
    }
    let extensions = match access.mode {
        SshMode::Direct => rbac::extensions(roles, &user.roles, node, login),
        SshMode::Recorded => Extensions::default(),
    };
    Ok(SshGrant {
        user: user.name.clone(),
        node: node.clone(),
        login: login.to_string(),
        mode: access.mode,
        session_mfa: access.session_mfa,
        device_trust: access.device_trust,
        extensions,
        file_transfer: rbac::file_transfer(roles, &user.roles, node, login),
    })
}

/// May `user` open the desktop named `name`?
pub fn desktop<'a>(
    roles: &Roles,
    user: &User,
    desktops: &'a [Desktop],
    locks: &[Lock],
    name: &str,
) -> Result<&'a Desktop, Refusal> {
    let Some(desktop) = desktops.iter().find(|d| d.name.as_str() == name) else {
        return Err(Refusal::Missing(format!("There is no desktop named {name}.")));
    };
    if !rbac::desktop_allowed(roles, &user.roles, desktop) {
        return Err(Refusal::Denied(format!("Your roles do not give you access to the desktop {name}.")));
    }
    if let Some(lock) = lock_on_user(locks, user).or_else(|| first_on(locks, &[LockTarget::Desktop(name.to_string())]))
    {
        return Err(Refusal::Locked(format!("{}.", lock.sentence())));
    }
    Ok(desktop)
}

/// May `user` use the web app named `name`?
pub fn app<'a>(roles: &Roles, user: &User, apps: &'a [App], locks: &[Lock], name: &str) -> Result<&'a App, Refusal> {
    let Some(app) = apps.iter().find(|a| a.name.as_str() == name) else {
        return Err(Refusal::Missing(format!("There is no app named {name}.")));
    };
    if !rbac::app_allowed(roles, &user.roles, app) {
        return Err(Refusal::Denied(format!("Your roles do not give you access to the app {name}.")));
    }
    if let Some(lock) = lock_on_user(locks, user).or_else(|| first_on(locks, &[LockTarget::App(name.to_string())])) {
        return Err(Refusal::Locked(format!("{}.", lock.sentence())));
    }
    Ok(app)
}

/// The fresh check a session needs before it opens, by what answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// One of the user's passkeys (`require_session_mfa`).
    Passkey,
    /// A passkey or a trusted device's credential; the device is recorded if one
    /// answered (`require_session_mfa` with `device_trust = "optional"`).
    PasskeyOrDevice,
    /// Only a trusted device's credential (`device_trust = "required"`).
    Device,
}

/// Which check, if any, opening a session needs, given what the roles ask.
pub fn session_check(session_mfa: bool, device_trust: rbac::DeviceTrust) -> Option<SessionCheck> {
    use rbac::DeviceTrust;
    match (device_trust, session_mfa) {
        (DeviceTrust::Required, _) => Some(SessionCheck::Device),
        (DeviceTrust::Optional, true) => Some(SessionCheck::PasskeyOrDevice),
        (DeviceTrust::Off, true) => Some(SessionCheck::Passkey),
        (_, false) => None,
    }
}

/// What a person is told when a session needs a check they have not passed.
pub fn check_sentence(check: SessionCheck, target: &str) -> String {
    match check {
        SessionCheck::Device => format!(
            "{target} needs a trusted device: confirm with the passkey of a device enrolled for you (an admin registers devices with `gatehouse devices add`)."
        ),
        SessionCheck::Passkey | SessionCheck::PasskeyOrDevice => {
            format!("{target} asks for your passkey before each session.")
        }
    }
}

/// A lock on `user` itself, if there is one (sign-in refuses them).
pub fn user_lock<'a>(locks: &'a [Lock], user: &str) -> Option<&'a Lock> {
    first_on(locks, &[LockTarget::User(user.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::rbac::Role;
    use crate::inventory::nodes::parse_labels;

    fn user(roles: &[&str]) -> User {
        User {
            id: 1,
            name: "alice".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            password_hash: None,
            totp_secret: None,
            totp_last_step: None,
        }
    }

    fn node(name: &str, labels: &str) -> Node {
        Node {
            name: NodeName::parse(name).unwrap(),
            addr: "127.0.0.1:22".into(),
            labels: parse_labels(labels).unwrap(),
        }
    }

    /// The story from the issue: `deploy` on node A, `root` only where `env=prod`.
    fn roles() -> Roles {
        let mut deploy = Role::default();
        deploy.node_labels.insert("app".into(), "a".into());
        deploy.logins.push("deploy".into());
        deploy.ssh_mode = SshMode::Direct;
        deploy.port_forwarding = true;
        let mut prod = Role::default();
        prod.node_labels.insert("env".into(), "prod".into());
        prod.logins.push("root".into());
        prod.ssh_mode = SshMode::Direct;
        Roles::from([("deploy".to_string(), deploy), ("prod".to_string(), prod)])
    }

    fn nodes() -> Vec<Node> {
        vec![node("a", "app=a,env=dev"), node("p", "env=prod")]
    }

    fn lock(target: LockTarget) -> Lock {
        Lock { id: 7, target, reason: "incident".into(), created_at: 0, expires_at: None }
    }

    #[test]
    fn a_grant_is_for_the_login_the_roles_allow_on_that_node_only() {
        let me = user(&["deploy", "prod"]);
        let grant = ssh(&roles(), &me, &nodes(), &[], "a", "deploy").unwrap();
        assert_eq!((grant.node.name.as_str(), grant.login.as_str(), grant.mode), ("a", "deploy", SshMode::Direct));
        assert!(grant.extensions.port_forwarding);
        let root_on_a = ssh(&roles(), &me, &nodes(), &[], "a", "root").unwrap_err();
        assert!(matches!(&root_on_a, Refusal::Denied(s) if s.contains("allow: deploy")), "{root_on_a:?}");
        assert!(ssh(&roles(), &me, &nodes(), &[], "p", "root").unwrap().extensions == Extensions::default());
        assert!(matches!(ssh(&roles(), &me, &nodes(), &[], "zz", "root"), Err(Refusal::Missing(_))));
        assert!(matches!(ssh(&roles(), &me, &nodes(), &[], "Not A Name", "root"), Err(Refusal::Missing(_))));
        assert!(matches!(ssh(&roles(), &me, &nodes(), &[], "a", ""), Err(Refusal::Denied(_))));
    }

    #[test]
    fn a_required_device_is_asked_for_whatever_the_session_mfa_setting() {
        use rbac::DeviceTrust::*;
        assert_eq!(session_check(false, Required), Some(SessionCheck::Device));
        assert_eq!(session_check(true, Required), Some(SessionCheck::Device));
        assert_eq!(session_check(true, Optional), Some(SessionCheck::PasskeyOrDevice));
        assert_eq!(session_check(false, Optional), None, "optional asks for nothing by itself");
        assert_eq!(session_check(true, Off), Some(SessionCheck::Passkey));
        assert_eq!(session_check(false, Off), None);
        assert!(check_sentence(SessionCheck::Device, "web-1").starts_with("web-1 needs a trusted device"));
    }

    #[test]
    fn a_grant_carries_the_device_trust_of_its_roles() {
        let mut roles = roles();
        roles.get_mut("prod").unwrap().device_trust = rbac::DeviceTrust::Required;
        let me = user(&["deploy", "prod"]);
        assert_eq!(ssh(&roles, &me, &nodes(), &[], "p", "root").unwrap().device_trust, rbac::DeviceTrust::Required);
        assert_eq!(ssh(&roles, &me, &nodes(), &[], "a", "deploy").unwrap().device_trust, rbac::DeviceTrust::Off);
    }

    #[test]
    fn a_removed_role_takes_its_access_with_it() {
        assert!(ssh(&roles(), &user(&["deploy"]), &nodes(), &[], "p", "root").is_err());
    }

    #[test]
    fn locks_on_the_user_or_the_node_refuse_with_their_reason() {
        let me = user(&["deploy", "prod"]);
        let on_node = [lock(LockTarget::Node("a".into()))];
        let refused = ssh(&roles(), &me, &nodes(), &on_node, "a", "deploy").unwrap_err();
        assert_eq!(refused, Refusal::Locked("An admin locked the node a: incident.".into()));
        assert!(ssh(&roles(), &me, &nodes(), &on_node, "p", "root").is_ok(), "another node is unaffected");
        let on_me = [lock(LockTarget::User("alice".into()))];
        assert!(matches!(ssh(&roles(), &me, &nodes(), &on_me, "p", "root"), Err(Refusal::Locked(_))));
        let on_desktop = [lock(LockTarget::Desktop("a".into()))];
        assert!(ssh(&roles(), &me, &nodes(), &on_desktop, "a", "deploy").is_ok(), "a desktop's lock is not a node's");
    }
}
