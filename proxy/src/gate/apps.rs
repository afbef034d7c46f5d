//! Admission to web apps: on every request, the app session its cookie names, the web
//! session behind it (gone at sign-out, expiry or a reset), and the decision of
//! [`crate::access::app`] over the roles the user holds now and the locks. Nothing about
//! a request to an app is remembered between requests but the app session itself.

use std::collections::BTreeMap;

use super::Gatehouse;
use crate::access::Refusal;
use crate::accounts::session::Session;
use crate::accounts::user::User;
use crate::inventory::apps::App;

/// Why a request to an app is not forwarded.
#[derive(Debug)]
pub enum AppDenied {
    /// No live app session (none yet, or its web session ended): launch again.
    NoSession,
    /// The decision says no, with its sentence.
    Refused(Refusal),
    /// The proxy cannot decide now (its database): fail closed.
    Unavailable,
}

/// A request that may go on: to which app, as whom (with the roles they hold now), from
/// which web session.
pub struct AdmittedApp {
    pub app: App,
    pub user: User,
    pub web: Session,
}

impl Gatehouse {
    /// May the person whose web session has the hash `web_session` use the app `name`
    /// now?
    pub fn admit_app(&self, name: &str, web_session: &str, now: u64) -> Result<AdmittedApp, AppDenied> {
        let unavailable = |err: &dyn std::fmt::Display| {
            tracing::error!(%err, app = name, "cannot decide a request to an app");
            AppDenied::Unavailable
        };
        let webs = self.store.sessions(&[web_session.to_string()], now).map_err(|e| unavailable(&e))?;
        let Some(web) = webs.into_iter().next() else { return Err(AppDenied::NoSession) };
        let locks = self.store.active_locks(now).map_err(|e| unavailable(&e))?;
        let mut user = web.user.clone();
        user.roles = self.requests.effective_roles(&user.name, &user.roles, now).map_err(|e| unavailable(&e))?;
        let apps = self.inventory.apps().map_err(|e| unavailable(&e))?;
        let app = crate::access::app(&self.roles, &user, &apps, &locks, name).map_err(AppDenied::Refused)?.clone();
        Ok(AdmittedApp { app, user, web })
    }

    /// [`Self::admit_app`] for the app session `cookie` names, which must be `name`'s.
    pub fn admit_app_request(&self, name: &str, cookie: &str, now: u64) -> Result<AdmittedApp, AppDenied> {
        let session = match self.apps.session(cookie, now) {
            Ok(Some(session)) if session.app == name => session,
            Ok(_) => return Err(AppDenied::NoSession),
            Err(err) => {
                tracing::error!(%err, app = name, "cannot read app sessions");
                return Err(AppDenied::Unavailable);
            }
        };
        self.admit_app(name, &session.web_session, now)
    }

    /// What the identity assertion says of `user` besides name and roles: the SSH
    /// logins their roles give (`logins`).
    pub fn traits(&self, user: &User) -> BTreeMap<String, Vec<String>> {
        let mut logins: Vec<String> = user
            .roles
            .iter()
            .filter_map(|name| self.roles.get(name))
            .flat_map(|role| role.logins.iter().cloned())
            .collect();
        logins.sort();
        logins.dedup();
        BTreeMap::from([("logins".to_string(), logins)])
    }
}
