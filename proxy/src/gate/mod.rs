//! The Gatehouse: the services the proxy is made of, composed once, and the admission of
//! new sessions. The HTTPS face ([`crate::http`]) and the command line sit above it; the
//! SSH and desktop code get what they need from it; nothing here knows about HTTP.
//!
//! Every admission is the pure decision of [`crate::access`] over the inventory and the
//! locks as they are now, then the checks only opening a session makes (the passkey
//! ticket, the disk, the user's number of open sessions). A refusal is a typed
//! [`Refusal`] with the sentence the person reads; the caller turns it into a close code
//! or an HTTP status, in one place each.

pub mod apps;
pub mod passes;
pub mod requests;
pub mod session_check;
pub mod ticket;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gatehouse_proto::api;

use crate::access::locks::{Lock, LockTarget, first_on};
use crate::access::rbac::{self, Roles, SshMode};
use crate::access::{Refusal, SshGrant};
use crate::accounts::Accounts;
use crate::accounts::session::Session;
use crate::accounts::user::User;
use crate::audit::{self, Audit, Viewings};
use crate::ca::Authorities;
use crate::config::Limits;
use crate::inventory::Inventory;
use crate::inventory::desktops::Desktop;
use crate::passkeys::Passkeys;
use crate::sessions::{Kind, Live, LiveSession, Registration};
use crate::store::StoreError;
use crate::store::backend::Store;
use passes::Passes;

/// Why a recorded session cannot start when the disk is nearly full.
/// Why a session is refused when the shared state (tickets, certified logins) cannot be
/// read or written.
pub const STATE_UNREADABLE: &str = "The proxy cannot reach its database right now, so it will not open the session. Try again shortly; if it persists, tell an admin.";

pub const DISK_LOW: &str =
    "The proxy's disk is almost full, so it cannot record new sessions and will not start one. Tell an admin.";

/// What a desktop's device check ticket is issued for: never a node's name (a node name
/// has no `/`), with no login.
pub fn desktop_check_target(desktop: &str) -> String {
    format!("desktop/{desktop}")
}

/// The proxy's services, shared by every connection.
pub struct Gatehouse {
    pub accounts: Accounts,
    pub passkeys: Passkeys,
    pub store: Arc<dyn Store>,
    pub inventory: Inventory,
    pub roles: Roles,
    pub cas: Authorities,
    /// Where the state lives.
    pub data_dir: PathBuf,
    /// Where recordings are written and read.
    pub archive: Arc<crate::recordings::archive::Archive>,
    /// Where people reach us, e.g. `https://localhost:3080`: the only Origin we accept.
    pub public_url: String,
    pub audit: Audit,
    /// The SSH and desktop sessions running here.
    pub live: Arc<Live>,
    pub limits: Limits,
    /// The graphics offered to desktops (`desktop_codecs`).
    pub desktop_codecs: Vec<crate::rdp::connect::Codec>,
    /// `[ssh] source_addresses`, comma-joined as `source-address` takes them.
    pub ssh_source_addresses: Option<String>,
    /// Who read which recording lately: one audit record per viewing.
    pub viewings: Mutex<Viewings>,
    pub passes: Passes,
    /// The single sign-on connectors.
    pub sso: crate::sso::Sso,
    /// Just-in-time access requests.
    pub requests: requests::AccessRequests,
    pub devices: crate::devices::Devices,
    /// Web apps' launches, sessions and signing keys.
    pub apps: crate::apps::Apps,
    /// The live sessions others may join.
    pub shared: Arc<crate::sessions::shared::SharedSessions>,
    /// Desktop recordings being made into videos here.
    pub videos: crate::recordings::video::Exports,
}

/// An admitted SSH connection: what it may do, and its place among the live sessions.
pub struct AdmittedSsh {
    pub grant: SshGrant,
    pub registration: Registration,
}

/// An admitted desktop session: who, which desktop with its opened password, and its
/// place among the live sessions.
pub struct AdmittedDesktop {
    pub user: String,
    pub desktop: Desktop,
    pub password: String,
    pub registration: Registration,
}

impl Gatehouse {
    /// Too little room left to record on: new recorded sessions are refused.
    pub fn disk_low(&self) -> bool {
        crate::recordings::free_space(self.archive.spool()).is_ok_and(|free| free < self.limits.min_free_disk_mb << 20)
    }

    /// The locks in force, or, when they cannot be read, a lock on `user` saying so:
    /// with no locks to go by, a lock cannot be honoured (fail closed).
    fn locks_or_closed(&self, user: &str, now: u64) -> Vec<Lock> {
        self.store.active_locks(now).unwrap_or_else(|err| {
            tracing::error!(%err, "cannot read locks");
            vec![Lock {
                id: 0,
                target: LockTarget::User(user.to_string()),
                reason: "the proxy cannot read its locks right now; try again shortly".into(),
                created_at: now,
                expires_at: None,
            }]
        })
    }

    /// The access decision for `login` on `node`, over the inventory and locks as they
    /// are now: what a certificate is signed for.
    pub fn ssh_grant(&self, user: &User, node: &str, login: &str) -> Result<SshGrant, Refusal> {
        let locks = self.locks_or_closed(&user.name, crate::auth::now());
        let nodes = self.inventory.nodes().unwrap_or_default();
        crate::access::ssh(&self.roles, user, &nodes, &locks, node, login)
    }

    /// Admits an SSH connection of `session` to `node` as `login` (the same decision its
    /// certificate was signed for), with the passkey ticket `mfa` where the roles ask
    /// for one. Refusals are audited, but for a node that does not exist.
    pub fn admit_ssh(
        &self,
        session: &Session,
        peer: IpAddr,
        node: &str,
        login: &str,
        mfa: Option<&str>,
    ) -> Result<AdmittedSsh, Refusal> {
        let user = &session.user;
        let denied = |detail: &str| self.audit.record(audit::Kind::SshDenied, Some(&user.name), Some(peer), detail);
        let grant = self.ssh_grant(user, node, login).inspect_err(|refusal| {
            if !matches!(refusal, Refusal::Missing(_)) {
                denied(refusal.sentence());
            }
        })?;
        let now = crate::auth::now();
        let mut device = None;
        if let Some(check) = crate::access::session_check(grant.session_mfa, grant.device_trust) {
            let ticket = mfa.and_then(|t| self.passes.take_ticket(t, now)).filter(|t| {
                t.user == user.name && t.node == grant.node.name.as_str() && t.login == login && t.expires_at >= now
            });
            let Some(ticket) = ticket else {
                let why = if mfa.is_some() { "an invalid or used passkey ticket" } else { "no passkey check" };
                denied(&format!("node {} as {login}: {why}", grant.node.name));
                return Err(Refusal::MfaRequired(crate::access::check_sentence(check, grant.node.name.as_str())));
            };
            device = self.ticket_device(ticket.device, check, &user.name, &grant.node.name.to_string(), peer)?;
        }
        let recorded = grant.mode == SshMode::Recorded;
        // In direct mode the proxy cannot see which certificate signs in: the session
        // answers for every login this user was certified for on this node lately.
        let mut logins = vec![login.to_string()];
        if !recorded {
            let certified = self.passes.certified_logins(&user.name, grant.node.name.as_str(), now).map_err(|err| {
                tracing::error!(%err, "cannot read the logins certified lately");
                Refusal::Unavailable(STATE_UNREADABLE.into())
            })?;
            for other in certified {
                if !logins.contains(&other) {
                    logins.push(other);
                }
            }
        }
        // What the certificates of all those logins may forward, as decided now.
        let mut grants = vec![grant.clone()];
        for other in &logins[1..] {
            grants.push(self.ssh_grant(user, grant.node.name.as_str(), other)?);
        }
        let extensions = crate::sessions::union(&grants);
        if recorded && self.disk_low() {
            denied("the disk under the recordings is nearly full");
            return Err(Refusal::Unavailable(DISK_LOW.into()));
        }
        let live = LiveSession {
            kind: Kind::Ssh,
            user: user.name.clone(),
            web_session: session.token_hash.clone(),
            web_session_expires: session.expires_at,
            target: grant.node.name.to_string(),
            logins,
            ssh: Some((grant.mode, extensions)),
            recorded,
            device,
            join: None,
        };
        let registration = self.live.register(live, self.limits.ssh_sessions_per_user).map_err(|why| {
            denied(&why);
            Refusal::TooMany(why)
        })?;
        Ok(AdmittedSsh { grant, registration })
    }

    /// Admits a desktop session of `session` on the desktop named `name` (the same
    /// decision the live-session sweep makes again). Refusals are audited, but for a
    /// desktop that does not exist.
    pub fn admit_desktop(
        &self,
        session: &Session,
        peer: IpAddr,
        name: &str,
        check: Option<&str>,
    ) -> Result<AdmittedDesktop, Refusal> {
        let user = &session.user;
        let denied = |detail: &str| self.audit.record(audit::Kind::DesktopDenied, Some(&user.name), Some(peer), detail);
        let desktops =
            self.inventory.desktops().map_err(|_| Refusal::Missing(format!("There is no desktop named {name}.")))?;
        let locks = self.store.active_locks(crate::auth::now()).map_err(|_| {
            Refusal::Unavailable("The proxy cannot read its locks right now; try again shortly.".to_string())
        })?;
        let desktop = match crate::access::desktop(&self.roles, user, &desktops, &locks, name) {
            Ok(desktop) => desktop.clone(),
            Err(refusal) => {
                if !matches!(refusal, Refusal::Missing(_)) {
                    denied(refusal.sentence());
                }
                return Err(refusal);
            }
        };
        let mut device = None;
        let trust = rbac::desktop_device_trust(&self.roles, &user.roles, &desktop);
        if let Some(needed) = crate::access::session_check(false, trust) {
            let now = crate::auth::now();
            let target = desktop_check_target(name);
            let ticket = check
                .and_then(|t| self.passes.take_ticket(t, now))
                .filter(|t| t.user == user.name && t.node == target && t.login.is_empty() && t.expires_at >= now);
            let Some(ticket) = ticket else {
                let why = if check.is_some() { "an invalid or used device ticket" } else { "no trusted device check" };
                denied(&format!("desktop {name}: {why}"));
                return Err(Refusal::MfaRequired(crate::access::check_sentence(needed, name)));
            };
            device = self.ticket_device(ticket.device, needed, &user.name, name, peer)?;
        }
        // Without a pinned certificate nothing proves the desktop is the desktop, and the
        // account would go to whoever answers.
        if desktop.tls_pin.is_none() {
            return Err(Refusal::Unavailable(format!(
                "{name}'s certificate has not been verified yet: an admin must run `gatehouse desktops check {name}`."
            )));
        }
        let password = self.inventory.desktop_password(name).map_err(|err| {
            tracing::error!(desktop = %name, %err, "the desktop's password cannot be read");
            Refusal::Unavailable(format!("The proxy cannot read the account of {name}; an admin must add it again."))
        })?;
        if self.disk_low() {
            denied("the disk under the recordings is nearly full");
            return Err(Refusal::Unavailable(DISK_LOW.to_string()));
        }
        let live = LiveSession {
            kind: Kind::Desktop,
            user: user.name.clone(),
            web_session: session.token_hash.clone(),
            web_session_expires: session.expires_at,
            target: desktop.name.to_string(),
            logins: Vec::new(),
            ssh: None,
            recorded: true,
            device,
            join: None,
        };
        let registration = self.live.register(live, self.limits.desktop_sessions_per_user).map_err(|why| {
            denied(&why);
            Refusal::TooMany(why)
        })?;
        Ok(AdmittedDesktop { user: user.name.clone(), desktop, password, registration })
    }

    /// The trusted device a passed check's ticket names, still registered, for the
    /// session to carry; a check that had to come from a device and names none (or one
    /// since removed) refuses the session.
    fn ticket_device(
        &self,
        id: Option<i64>,
        check: crate::access::SessionCheck,
        user: &str,
        target: &str,
        peer: IpAddr,
    ) -> Result<Option<(i64, String)>, Refusal> {
        let device = match id {
            Some(id) => self.devices.get(id).map_err(|err| {
                tracing::error!(%err, "cannot read trusted devices");
                Refusal::Unavailable(STATE_UNREADABLE.into())
            })?,
            None => None,
        };
        if check == crate::access::SessionCheck::Device && device.is_none() {
            self.audit.record(
                audit::Kind::SshDenied,
                Some(user),
                Some(peer),
                &format!("node {target}: the check came from no registered device"),
            );
            return Err(Refusal::MfaRequired(crate::access::check_sentence(check, target)));
        }
        Ok(device.map(|d| (d.id, d.name)))
    }

    /// The nodes `user`'s roles reach, each with the logins they may use there, and the
    /// desktops; each says if an admin has locked it.
    pub fn resources(&self, user: &User) -> Result<api::Resources, StoreError> {
        let nodes = self.inventory.nodes()?;
        let desktops = self.inventory.desktops()?;
        let locks = self.store.active_locks(crate::auth::now())?;
        let locked = |target: LockTarget| first_on(&locks, &[target]).map(Lock::sentence);
        let nodes = nodes
            .into_iter()
            .filter_map(|node| {
                let access = rbac::node_access(&self.roles, &user.roles, &node)?;
                Some(api::Node {
                    name: node.name.to_string(),
                    addr: node.addr,
                    labels: node.labels.into_iter().collect(),
                    logins: access.logins.into_iter().collect(),
                    recorded: access.mode == SshMode::Recorded,
                    locked: locked(LockTarget::Node(node.name.to_string())),
                    needs_device: access.device_trust == rbac::DeviceTrust::Required,
                })
            })
            .collect();
        let desktops = desktops
            .into_iter()
            .filter(|desktop| rbac::desktop_allowed(&self.roles, &user.roles, desktop))
            .map(|desktop| api::Desktop {
                needs_device: rbac::desktop_device_trust(&self.roles, &user.roles, &desktop)
                    == rbac::DeviceTrust::Required,
                locked: locked(LockTarget::Desktop(desktop.name.to_string())),
                name: desktop.name.to_string(),
                labels: desktop.labels.into_iter().collect(),
            })
            .collect();
        let apps = match &self.apps.origins {
            Some(origins) => self
                .inventory
                .apps()?
                .into_iter()
                .filter(|app| rbac::app_allowed(&self.roles, &user.roles, app))
                .map(|app| api::App {
                    url: origins.app_origin(app.name.as_str()),
                    locked: locked(LockTarget::App(app.name.to_string())),
                    name: app.name.to_string(),
                    labels: app.labels.into_iter().collect(),
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(api::Resources { nodes, desktops, apps })
    }
}
