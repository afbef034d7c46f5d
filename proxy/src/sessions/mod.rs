//! The SSH, desktop and web-app sessions running on this proxy, and what ends them when the
//! identity behind them goes: sign-out, the web session's expiry, `gatehouse users
//! reset`, a role taken away (or an access request that gave it expired or was
//! revoked, [`verdict_with_grants`]), a lock, or a disk too full to record on.
//!
//! Every session registers here when its socket is accepted and holds a
//! [`Registration`]; its loops also wait on [`Registration::ended`], which carries the
//! sentence the person reads. A sweeper ([`sweep`]) runs every [`SWEEP_INTERVAL`] and
//! asks of each session the same question the socket asked when it opened
//! ([`crate::access`]), against the database, so changes made by the command line (a
//! separate process) or another proxy end sessions too. Sign-out on this proxy ends
//! its sessions at once, without waiting for the sweep.

pub mod shared;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::access::locks::Lock;
use crate::access::rbac::{DeviceTrust, Roles};
use crate::access::requests::Grant;
use crate::accounts::session::Session;
use crate::inventory::desktops::Desktop;
use crate::inventory::nodes::Node;
use crate::store::backend::Store;

/// How often every live session is checked again. With the time to close a socket this
/// keeps "the identity is gone" to "the socket is closed" within two seconds.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ssh,
    Desktop,
    /// One request (or WebSocket) being forwarded to a web app: it ends with the
    /// identity like any session.
    App,
    /// A participant in someone else's SSH session ([`shared`]).
    Join,
}

/// What a participant's place in someone else's session was decided on, to decide again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedAs {
    pub owner: String,
    pub mode: crate::access::rbac::JoinMode,
    pub invites: crate::access::join::Invites,
    pub moderators: Vec<String>,
}

/// Who runs what, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    pub kind: Kind,
    pub user: String,
    /// The SHA-256 of the web session's token.
    pub web_session: String,
    /// When the web session ends, whatever happens.
    pub web_session_expires: u64,
    /// The node or desktop.
    pub target: String,
    /// The SSH logins the session may be using (empty for desktops): the socket's, and
    /// in direct mode every login certified for this user and node in the last two
    /// minutes, since the proxy cannot see which certificate signs in end to end. All
    /// must stay allowed.
    pub logins: Vec<String>,
    /// How the session runs and what forwarding its certificate allows, as decided: if a
    /// new decision would record it, or allows less forwarding, it ends.
    pub ssh: Option<(crate::access::rbac::SshMode, crate::ca::Extensions)>,
    /// Whether it writes a recording (and so stops when the disk is nearly full).
    pub recorded: bool,
    /// The trusted device (id, name) whose check opened it: removing the device ends it.
    pub device: Option<(i64, String)>,
    /// For a participant in another's session ([`Kind::Join`]): how they joined.
    pub join: Option<JoinedAs>,
}

/// Each registered session, and where its end is announced.
type Sessions = HashMap<u64, (LiveSession, watch::Sender<Option<String>>)>;

#[derive(Default)]
pub struct Live {
    sessions: Mutex<Sessions>,
    next: AtomicU64,
}

/// A session's place in the registry; dropping it (when the session ends) takes it out.
pub struct Registration {
    id: u64,
    live: Arc<Live>,
    /// `Some(sentence)` once something ended the session.
    pub ended: watch::Receiver<Option<String>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.live.lock().remove(&self.id);
    }
}

/// Ends one registered session from elsewhere (a moderator, the moderation's clock).
#[derive(Clone)]
pub struct Ender {
    id: u64,
    live: Arc<Live>,
}

impl Ender {
    /// Ends the session with `reason` (once: the first reason stands).
    pub fn end(&self, reason: String) {
        self.live.end_ids(vec![(self.id, reason)]);
    }
}

impl Registration {
    /// What ends this session from elsewhere.
    pub fn ender(&self) -> Ender {
        Ender { id: self.id, live: self.live.clone() }
    }

    /// Waits until the session is ended from outside; the sentence says why.
    pub async fn wait_ended(&self) -> String {
        wait(self.ended.clone()).await
    }

    /// Why the session was ended from outside, if it was.
    pub fn why_ended(&self) -> Option<String> {
        self.ended.borrow().clone()
    }

    /// The trusted device that opened it, for the audit: `, trusted device "NAME" (ID)`,
    /// or nothing.
    pub fn device_note(&self) -> String {
        self.live
            .lock()
            .get(&self.id)
            .and_then(|(s, _)| s.device.clone())
            .map_or_else(String::new, |(id, name)| format!(", trusted device {name:?} ({id})"))
    }

    /// The logins it answers for.
    pub fn logins(&self) -> Vec<String> {
        self.live.lock().get(&self.id).map(|(s, _)| s.logins.clone()).unwrap_or_default()
    }
}

/// Waits until `ended` carries a sentence. (Never, if the registration is gone.)
pub async fn wait(mut ended: watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(reason) = ended.borrow_and_update().clone() {
            return reason;
        }
        if ended.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a session, unless its user already has `cap` of that kind open; the
    /// error is the sentence for the person.
    pub fn register(self: &Arc<Live>, session: LiveSession, cap: usize) -> Result<Registration, String> {
        let mut sessions = self.lock();
        let open = sessions.values().filter(|(s, _)| s.kind == session.kind && s.user == session.user).count();
        if open >= cap {
            let what = match session.kind {
                Kind::Ssh => "SSH sessions",
                Kind::Desktop => "desktop sessions",
                Kind::App => "requests to apps",
                Kind::Join => "joined sessions",
            };
            return Err(format!("You already have {open} {what} open, the most allowed. Close one and try again."));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(None);
        sessions.insert(id, (session, tx));
        Ok(Registration { id, live: self.clone(), ended: rx })
    }

    /// Ends every session `why` has a sentence for (once: the first reason stands).
    pub fn end_where(&self, why: impl Fn(&LiveSession) -> Option<String>) -> usize {
        let sessions = self.lock();
        let mut ended = 0;
        for (session, tx) in sessions.values() {
            if tx.borrow().is_some() {
                continue;
            }
            if let Some(reason) = why(session) {
                let _ = tx.send(Some(reason));
                ended += 1;
            }
        }
        ended
    }

    pub fn snapshot(&self) -> Vec<LiveSession> {
        self.lock().values().map(|(s, _)| s.clone()).collect()
    }

    /// Every session with its id, for a sweep that judges exactly these.
    fn snapshot_ids(&self) -> Vec<(u64, LiveSession)> {
        self.lock().iter().map(|(id, (s, _))| (*id, s.clone())).collect()
    }

    /// Ends the sessions named (once: the first reason stands); ids no longer here are
    /// skipped, and sessions registered since the snapshot are not touched.
    fn end_ids(&self, verdicts: Vec<(u64, String)>) {
        let sessions = self.lock();
        for (id, reason) in verdicts {
            if let Some((_, tx)) = sessions.get(&id)
                && tx.borrow().is_none()
            {
                let _ = tx.send(Some(reason));
            }
        }
    }
}

/// What the sweep checks sessions against, besides the database.
pub struct Policy {
    pub roles: Roles,
    pub inventory: crate::inventory::Inventory,
    /// Where recordings are written (the spool), and the free space below which recorded
    /// sessions end.
    pub recordings_dir: PathBuf,
    pub min_free_bytes: u64,
}

/// The world as one sweep sees it.
pub struct Facts<'a> {
    pub now: u64,
    pub locks: &'a [Lock],
    pub nodes: &'a [Node],
    pub desktops: &'a [Desktop],
    pub apps: &'a [crate::inventory::apps::App],
    pub roles: &'a Roles,
    pub disk_low: bool,
    /// Which of the live sessions' devices are still registered.
    pub devices: &'a HashSet<i64>,
}

pub const DISK_FULL: &str = "The proxy's disk is almost full, so it ended this recorded session while its recording is still whole. Tell an admin.";

/// Why `session` must end now, given its web session as the database has it (`None`:
/// gone), or `None` if it may go on.
pub fn verdict(session: &LiveSession, web: Option<&Session>, facts: &Facts<'_>) -> Option<String> {
    if facts.now >= session.web_session_expires {
        return Some("Your sign-in expired, and the session with it. Sign in again to reconnect.".into());
    }
    if let Some(lock) = crate::access::user_lock(facts.locks, &session.user) {
        return Some(format!("{}.", lock.sentence()));
    }
    let Some(web) = web else {
        return Some(
            "Your sign-in ended (you signed out, or an admin reset your account), and the session with it.".into(),
        );
    };
    if let Some((id, name)) = &session.device
        && !facts.devices.contains(id)
    {
        return Some(format!(
            "The trusted device {name} was removed from Gatehouse, so the session it opened was ended."
        ));
    }
    let needs_device = || {
        format!(
            "The roles for {} now need a trusted device, so this session was ended; reconnect from an enrolled device.",
            session.target
        )
    };
    let decided = match session.kind {
        Kind::Ssh => {
            let grants: Result<Vec<_>, _> = session
                .logins
                .iter()
                .map(|login| {
                    crate::access::ssh(facts.roles, &web.user, facts.nodes, facts.locks, &session.target, login)
                })
                .collect();
            match grants {
                Ok(grants) => {
                    if let Some(reason) = changed(session, &grants) {
                        return Some(reason);
                    }
                    if session.device.is_none() && grants.iter().any(|g| g.device_trust == DeviceTrust::Required) {
                        return Some(needs_device());
                    }
                    None
                }
                Err(refusal) => Some(refusal),
            }
        }
        Kind::Join => {
            let joined = session.join.as_ref()?;
            match facts.nodes.iter().find(|n| n.name.as_str() == session.target) {
                None => Some(crate::access::Refusal::Missing(String::new())),
                Some(node) => {
                    let asked = crate::access::join::Session {
                        owner: &joined.owner,
                        node,
                        invites: &joined.invites,
                        moderators: &joined.moderators,
                    };
                    crate::access::join::decide(
                        facts.roles,
                        &web.user.name,
                        &web.user.roles,
                        facts.locks,
                        asked,
                        joined.mode,
                    )
                    .err()
                }
            }
        }
        Kind::Desktop => {
            match crate::access::desktop(facts.roles, &web.user, facts.desktops, facts.locks, &session.target) {
                Ok(desktop) => {
                    let trust = crate::access::rbac::desktop_device_trust(facts.roles, &web.user.roles, desktop);
                    if session.device.is_none() && trust == DeviceTrust::Required {
                        return Some(needs_device());
                    }
                    None
                }
                Err(refusal) => Some(refusal),
            }
        }
        Kind::App => crate::access::app(facts.roles, &web.user, facts.apps, facts.locks, &session.target).err(),
    };
    if let Some(refusal) = decided {
        return Some(match refusal {
            crate::access::Refusal::Locked(sentence) => sentence,
            crate::access::Refusal::Missing(_) => {
                format!("{} was removed from Gatehouse, and the session with it.", session.target)
            }
            crate::access::Refusal::Denied(_) => {
                format!("Your roles no longer allow this session on {}, so it was ended.", session.target)
            }
            other => other.sentence().to_string(),
        });
    }
    if session.recorded && facts.disk_low {
        return Some(DISK_FULL.into());
    }
    None
}

/// [`verdict`] with the roles `grants` give the session's user at `facts.now`; when the
/// session must end because one of those grants ended (it expired or was revoked, and
/// with its role back the session could go on), the grant's own sentence.
pub fn verdict_with_grants(
    session: &LiveSession,
    web: Option<&Session>,
    grants: &[Grant],
    facts: &Facts<'_>,
) -> Option<String> {
    let Some(web) = web else {
        return verdict(session, None, facts);
    };
    let with_roles = |roles: Vec<String>| {
        let mut web = web.clone();
        web.user.roles = roles;
        web
    };
    let now = with_roles(crate::access::requests::effective_roles(&web.user.roles, grants, &web.user.name, facts.now));
    let reason = verdict(session, Some(&now), facts)?;
    let ended = grants.iter().rev().filter(|g| g.user == web.user.name && !g.active(facts.now));
    for grant in ended {
        let mut roles = now.user.roles.clone();
        roles.push(grant.role.clone());
        if verdict(session, Some(&with_roles(roles)), facts).is_none() {
            return Some(grant.ended_sentence());
        }
    }
    Some(reason)
}

/// How long after a grant ends the sweep still reads it, to say why sessions end.
const ENDED_GRANTS_SECS: u64 = 120;

/// The forwarding any of `grants` allows.
pub fn union(grants: &[crate::access::SshGrant]) -> crate::ca::Extensions {
    grants.iter().fold(crate::ca::Extensions::default(), |all, g| crate::ca::Extensions {
        port_forwarding: all.port_forwarding || g.extensions.port_forwarding,
        agent_forwarding: all.agent_forwarding || g.extensions.agent_forwarding,
        x11_forwarding: all.x11_forwarding || g.extensions.x11_forwarding,
    })
}

/// Why a session decided one way must end now that its grants say another: it would be
/// recorded now, or may forward less.
fn changed(session: &LiveSession, grants: &[crate::access::SshGrant]) -> Option<String> {
    let (mode, extensions) = session.ssh?;
    if let Some(grant) = grants.iter().find(|g| g.mode != mode) {
        return Some(format!(
            "The roles for {} now say its sessions are {}, so this one was ended; reconnect.",
            session.target,
            if grant.mode == crate::access::rbac::SshMode::Recorded { "recorded" } else { "direct" }
        ));
    }
    let now = union(grants);
    let lost = (extensions.port_forwarding && !now.port_forwarding)
        || (extensions.agent_forwarding && !now.agent_forwarding)
        || (extensions.x11_forwarding && !now.x11_forwarding);
    lost.then(|| {
        format!("Your roles no longer allow the forwarding this session on {} had, so it was ended.", session.target)
    })
}

/// Checks every live session against the database every [`SWEEP_INTERVAL`], for ever.
pub async fn sweep(live: Arc<Live>, store: Arc<dyn Store>, policy: Policy) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if live.snapshot().is_empty() {
            continue;
        }
        let (live, store) = (live.clone(), store.clone());
        let policy = &policy;
        // Database reads and statvfs block: off the async workers, one sweep at a time.
        // A panic must not end the sweeping for good.
        let swept = tokio::task::block_in_place(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sweep_once(&live, store.as_ref(), policy)))
        });
        match swept {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                // Fail closed on what needs no database: expired sign-ins still end.
                tracing::warn!(%err, "cannot read the database to check live sessions; ending only expired ones");
                let now = crate::auth::now();
                live.end_where(|s| {
                    (now >= s.web_session_expires).then(|| {
                        "Your sign-in expired, and the session with it. Sign in again to reconnect.".to_string()
                    })
                });
            }
            Err(_) => tracing::error!("checking live sessions panicked; trying again next time"),
        }
    }
}

fn sweep_once(live: &Live, store: &dyn Store, policy: &Policy) -> Result<(), crate::store::StoreError> {
    let now = crate::auth::now();
    let sessions = live.snapshot_ids();
    let locks = store.active_locks(now)?;
    let nodes = policy.inventory.nodes()?;
    let desktops = policy.inventory.desktops()?;
    let apps = policy.inventory.apps()?;
    let disk_low = crate::recordings::free_space(&policy.recordings_dir).is_ok_and(|free| free < policy.min_free_bytes);
    let mut hashes: Vec<String> = sessions.iter().map(|(_, s)| s.web_session.clone()).collect();
    hashes.sort();
    hashes.dedup();
    let webs: HashMap<String, Session> =
        store.sessions(&hashes, now)?.into_iter().map(|web| (web.token_hash.clone(), web)).collect();
    let mut users: Vec<String> = webs.values().map(|web| web.user.name.clone()).collect();
    users.sort();
    users.dedup();
    let grants = store.grants(&users, now.saturating_sub(ENDED_GRANTS_SECS))?;
    let mut device_ids: Vec<i64> = sessions.iter().filter_map(|(_, s)| s.device.as_ref().map(|(id, _)| *id)).collect();
    device_ids.sort_unstable();
    device_ids.dedup();
    let devices: HashSet<i64> = store.existing_devices(&device_ids)?.into_iter().collect();
    let facts = Facts {
        now,
        locks: &locks,
        nodes: &nodes,
        desktops: &desktops,
        apps: &apps,
        roles: &policy.roles,
        disk_low,
        devices: &devices,
    };
    let verdicts = sessions
        .iter()
        .filter_map(|(id, session)| {
            Some((*id, verdict_with_grants(session, webs.get(&session.web_session), &grants, &facts)?))
        })
        .collect();
    live.end_ids(verdicts);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::locks::LockTarget;
    use crate::accounts::user::User;
    use crate::inventory::nodes::{NodeName, parse_labels};

    fn ssh_session(user: &str) -> LiveSession {
        LiveSession {
            kind: Kind::Ssh,
            user: user.into(),
            web_session: format!("hash-{user}"),
            web_session_expires: 1_000,
            target: "web-1".into(),
            logins: vec!["root".into()],
            ssh: Some((crate::access::rbac::SshMode::Recorded, crate::ca::Extensions::default())),
            recorded: true,
            device: None,
            join: None,
        }
    }

    fn web(user: &str, roles: &[&str]) -> Session {
        Session {
            user: User {
                id: 1,
                name: user.into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                password_hash: None,
                totp_secret: None,
                totp_last_step: None,
            },
            token_hash: format!("hash-{user}"),
            csrf_token: String::new(),
            created_at: 0,
            expires_at: 1_000,
            confirmed_at: None,
        }
    }

    /// The world at 500 s with no locks, desktops or apps, and a disk with room.
    fn facts_at_500<'a>(nodes: &'a [Node], roles: &'a Roles, devices: &'a HashSet<i64>) -> Facts<'a> {
        Facts { now: 500, locks: &[], nodes, desktops: &[], apps: &[], roles, disk_low: false, devices }
    }

    fn world() -> (Roles, Vec<Node>) {
        let roles = crate::access::rbac::default_roles();
        let node =
            Node { name: NodeName::parse("web-1").unwrap(), addr: "h:22".into(), labels: parse_labels("").unwrap() };
        (roles, vec![node])
    }

    fn check(session: &LiveSession, web: Option<&Session>, locks: &[Lock], now: u64, disk_low: bool) -> Option<String> {
        let (roles, nodes) = world();
        let devices = HashSet::from([3]);
        verdict(
            session,
            web,
            &Facts { now, locks, nodes: &nodes, desktops: &[], apps: &[], roles: &roles, disk_low, devices: &devices },
        )
    }

    #[test]
    fn a_request_to_an_app_ends_with_the_role_the_lock_or_the_app() {
        use crate::inventory::apps::{App, AppUri};
        let (roles, nodes) = world();
        let apps = [App {
            name: NodeName::parse("wiki").unwrap(),
            uri: AppUri::parse("http://10.0.0.7:3000").unwrap(),
            labels: parse_labels("env=dev").unwrap(),
            host_header: None,
            rewrite_redirects: true,
        }];
        let devices = HashSet::new();
        let facts = Facts {
            now: 500,
            locks: &[],
            nodes: &nodes,
            desktops: &[],
            apps: &apps,
            roles: &roles,
            disk_low: true,
            devices: &devices,
        };
        let request = LiveSession {
            kind: Kind::App,
            target: "wiki".into(),
            logins: vec![],
            ssh: None,
            recorded: false,
            ..ssh_session("alice")
        };
        assert_eq!(verdict(&request, Some(&web("alice", &["admin"])), &facts), None, "a full disk does not stop apps");
        assert_eq!(
            verdict(&request, Some(&web("alice", &["nobody"])), &facts).unwrap(),
            "Your roles no longer allow this session on wiki, so it was ended."
        );
        assert_eq!(
            verdict(&request, Some(&web("alice", &["admin"])), &Facts { apps: &[], ..facts }).unwrap(),
            "wiki was removed from Gatehouse, and the session with it."
        );
        let lock = [Lock {
            id: 1,
            target: LockTarget::App("wiki".into()),
            reason: "upgrade".into(),
            created_at: 0,
            expires_at: None,
        }];
        assert!(
            verdict(&request, Some(&web("alice", &["admin"])), &Facts { locks: &lock, ..facts })
                .unwrap()
                .contains("upgrade")
        );
        assert!(verdict(&request, None, &facts).unwrap().contains("Your sign-in ended"));
    }

    #[test]
    fn a_session_ends_when_the_device_that_opened_it_is_removed() {
        let me = web("alice", &["admin"]);
        let on_device = |id| LiveSession { device: Some((id, "work laptop".into())), ..ssh_session("alice") };
        assert_eq!(check(&on_device(3), Some(&me), &[], 500, false), None, "still registered");
        assert_eq!(
            check(&on_device(4), Some(&me), &[], 500, false).unwrap(),
            "The trusted device work laptop was removed from Gatehouse, so the session it opened was ended."
        );
    }

    #[test]
    fn a_session_without_a_device_ends_when_its_roles_come_to_need_one() {
        let (mut roles, nodes) = world();
        roles.get_mut("admin").unwrap().device_trust = DeviceTrust::Required;
        let devices = HashSet::new();
        let facts = facts_at_500(&nodes, &roles, &devices);
        let me = web("alice", &["admin"]);
        assert!(verdict(&ssh_session("alice"), Some(&me), &facts).unwrap().contains("now need a trusted device"));
        let devices = HashSet::from([3]);
        let facts = Facts { devices: &devices, ..facts };
        let on_device = LiveSession { device: Some((3, "laptop".into())), ..ssh_session("alice") };
        assert_eq!(verdict(&on_device, Some(&me), &facts), None);
    }

    #[test]
    fn a_session_goes_on_while_everything_behind_it_holds() {
        assert_eq!(check(&ssh_session("alice"), Some(&web("alice", &["admin"])), &[], 500, false), None);
    }

    #[test]
    fn each_way_the_identity_goes_ends_the_session_with_its_reason() {
        let s = ssh_session("alice");
        let me = web("alice", &["admin"]);
        assert!(check(&s, Some(&me), &[], 1_000, false).unwrap().contains("expired"));
        assert!(check(&s, None, &[], 500, false).unwrap().contains("signed out"));
        assert!(check(&s, Some(&web("alice", &["dev"])), &[], 500, false).unwrap().contains("no longer allow"));
        let lock = |target| Lock { id: 1, target, reason: "laptop stolen".into(), created_at: 0, expires_at: None };
        let on_user = [lock(LockTarget::User("alice".into()))];
        assert_eq!(
            check(&s, Some(&me), &on_user, 500, false).unwrap(),
            "An admin locked the user alice: laptop stolen."
        );
        let on_node = [lock(LockTarget::Node("web-1".into()))];
        assert!(check(&s, Some(&me), &on_node, 500, false).unwrap().contains("locked the node web-1"));
        assert_eq!(check(&s, Some(&me), &[], 500, true).unwrap(), DISK_FULL);
        let unrecorded = LiveSession { recorded: false, ..s.clone() };
        assert_eq!(check(&unrecorded, Some(&me), &[], 500, true), None, "nothing to record, nothing to stop");
        // A login certified beside the socket's, which the roles no longer allow.
        let other_login = LiveSession { logins: vec!["root".into(), "postgres".into()], ..s.clone() };
        assert!(check(&other_login, Some(&me), &[], 500, false).unwrap().contains("no longer allow"));
        // Decided as direct, now recorded; or with forwarding the roles no longer grant.
        let was_direct = LiveSession {
            ssh: Some((crate::access::rbac::SshMode::Direct, crate::ca::Extensions::default())),
            ..s.clone()
        };
        assert!(check(&was_direct, Some(&me), &[], 500, false).unwrap().contains("now say its sessions are recorded"));
        let forwarded = crate::ca::Extensions { port_forwarding: true, ..Default::default() };
        let had_forwarding = LiveSession { ssh: Some((crate::access::rbac::SshMode::Recorded, forwarded)), ..s };
        assert!(check(&had_forwarding, Some(&me), &[], 500, false).unwrap().contains("forwarding"));
    }

    #[test]
    fn a_session_allowed_by_an_access_request_ends_with_it_and_says_so() {
        let (roles, nodes) = world();
        let s = ssh_session("bob");
        let me = web("bob", &["dev"]);
        let devices = HashSet::new();
        let facts = |now| Facts {
            now,
            locks: &[],
            nodes: &nodes,
            desktops: &[],
            apps: &[],
            roles: &roles,
            disk_low: false,
            devices: &devices,
        };
        let grant = Grant { id: 3, user: "bob".into(), role: "admin".into(), expires_at: 600, revoked: None };
        let grants = [grant.clone()];
        assert_eq!(verdict_with_grants(&s, Some(&me), &grants, &facts(599)), None, "the request's role allows it");
        assert_eq!(
            verdict_with_grants(&s, Some(&me), &grants, &facts(600)).unwrap(),
            "Your access request for role admin expired, and the sessions it allowed with it."
        );
        let revoked = [Grant { revoked: Some(("carol".into(), 500)), ..grant.clone() }];
        assert!(
            verdict_with_grants(&s, Some(&me), &revoked, &facts(501)).unwrap().starts_with("carol revoked your access")
        );
        // Another user's grant gives bob nothing; a standing role keeps the session.
        let alices = [Grant { user: "alice".into(), ..grant.clone() }];
        assert!(verdict_with_grants(&s, Some(&me), &alices, &facts(500)).unwrap().contains("no longer allow"));
        assert_eq!(verdict_with_grants(&s, Some(&web("bob", &["admin"])), &grants, &facts(700)), None);
        // A lock is the reason, whatever the grants.
        let lock = [Lock {
            id: 1,
            target: LockTarget::User("bob".into()),
            reason: "x".into(),
            created_at: 0,
            expires_at: None,
        }];
        let locked = Facts { locks: &lock, ..facts(700) };
        assert!(verdict_with_grants(&s, Some(&me), &grants, &locked).unwrap().contains("locked the user bob"));
    }

    #[test]
    fn a_participant_ends_when_their_join_decision_goes() {
        use crate::access::rbac::JoinMode;
        let (mut roles, nodes) = world();
        let mut pair = crate::access::rbac::Role::default();
        pair.node_labels.insert("*".into(), "*".into());
        pair.join_sessions = vec![JoinMode::Peer];
        roles.insert("pair".into(), pair);
        let devices = HashSet::new();
        let facts = facts_at_500(&nodes, &roles, &devices);
        let invites = crate::access::join::Invites { users: ["pia".to_string()].into(), roles: Default::default() };
        let joined = LiveSession {
            kind: Kind::Join,
            logins: Vec::new(),
            ssh: None,
            recorded: false,
            join: Some(JoinedAs { owner: "olive".into(), mode: JoinMode::Peer, invites, moderators: Vec::new() }),
            ..ssh_session("pia")
        };
        assert_eq!(verdict(&joined, Some(&web("pia", &["pair"])), &facts), None, "still allowed");
        assert!(
            verdict(&joined, Some(&web("pia", &["dev"])), &facts).unwrap().contains("no longer allow"),
            "join_sessions taken away"
        );
        let lock = [Lock {
            id: 1,
            target: LockTarget::Node("web-1".into()),
            reason: "x".into(),
            created_at: 0,
            expires_at: None,
        }];
        let locked = Facts { locks: &lock, ..facts };
        assert!(verdict(&joined, Some(&web("pia", &["pair"])), &locked).unwrap().contains("locked the node web-1"));
    }

    #[tokio::test]
    async fn registrations_are_capped_per_user_and_ended_once() {
        let live = Arc::new(Live::default());
        let first = live.register(ssh_session("alice"), 2).unwrap();
        let _second = live.register(ssh_session("alice"), 2).unwrap();
        assert!(live.register(ssh_session("alice"), 2).err().unwrap().contains("2 SSH sessions"));
        let bob = live.register(ssh_session("bob"), 2).unwrap();
        assert_eq!(live.end_where(|s| (s.user == "alice").then(|| "first".to_string())), 2);
        assert_eq!(live.end_where(|s| (s.user == "alice").then(|| "second".to_string())), 0, "the first reason stands");
        assert_eq!(first.wait_ended().await, "first");
        assert_eq!(bob.why_ended(), None);
        drop(first);
        assert_eq!(live.snapshot().len(), 2, "a dropped registration leaves the registry");
    }
}
