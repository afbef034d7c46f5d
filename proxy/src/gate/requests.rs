//! Access requests as a service: the rules of [`crate::access::requests`] over the
//! [`RequestStore`](crate::store::requests::RequestStore), each step audited and
//! announced to the webhook. The web API and the command line both come through here;
//! the time is an argument.

use std::net::IpAddr;
use std::sync::Arc;

use gatehouse_proto::api;
use serde_json::json;

use crate::access::rbac::Roles;
use crate::access::requests::{self as rules, AccessRequest, RequestError, Review, Status};
use crate::audit::{Audit, Kind};
use crate::store::StoreError;
use crate::store::backend::Store;
use crate::store::requests::{NewRequest, Reviewed};
use crate::webhook::Webhook;

/// How far back listings reach for decided requests.
const RECENT_SECS: u64 = 7 * 24 * 3600;
/// The most requests a listing reads.
const LIST_LIMIT: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum RequestFailure {
    #[error("{0}")]
    Rule(#[from] RequestError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Who acts (`ip`: from where, for the audit): a signed-in person with their standing roles, or an admin at the command
/// line (who may review and revoke any role, under the name given).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Person { name: &'a str, standing: &'a [String] },
    Admin { name: &'a str },
}

impl Actor<'_> {
    fn name(&self) -> &str {
        match self {
            Actor::Person { name, .. } | Actor::Admin { name } => name,
        }
    }
}

pub struct AccessRequests {
    store: Arc<dyn Store>,
    roles: Roles,
    webhook: Option<Webhook>,
    /// Links in webhook events point here.
    public_url: String,
}

impl AccessRequests {
    pub fn new(store: Arc<dyn Store>, roles: Roles, webhook: Option<Webhook>, public_url: String) -> AccessRequests {
        AccessRequests { store, roles, webhook, public_url }
    }

    fn announce(&self, event: &str, request: &AccessRequest, now: u64) {
        if let Some(webhook) = &self.webhook {
            webhook.send(self.event(event, request, now));
        }
    }

    /// The body the webhook receives for `event` on `request`.
    pub fn event(&self, event: &str, request: &AccessRequest, now: u64) -> serde_json::Value {
        json!({
            "event": event,
            "at": now,
            "url": format!("{}/requests", self.public_url),
            "request": self.info(request, None, now),
        })
    }

    /// `user` (with `standing` roles) asks for `wanted`.
    pub fn ask(
        &self,
        audit: &Audit,
        ip: Option<IpAddr>,
        user: &str,
        standing: &[String],
        wanted: &api::NewAccessRequest,
        now: u64,
    ) -> Result<AccessRequest, RequestFailure> {
        let mine = self.store.requests(now.saturating_sub(RECENT_SECS), LIST_LIMIT)?;
        let open: Vec<&AccessRequest> = mine
            .iter()
            .filter(|r| r.user == user && matches!(r.status(now), Status::Pending | Status::Active))
            .collect();
        let checked =
            rules::check_new(&self.roles, standing, &open, &wanted.role, &wanted.reason, wanted.duration_secs);
        if let Err(err) = &checked {
            audit.record(Kind::AccessRequestRefused, Some(user), ip, &format!("role {}: {err}", wanted.role));
        }
        checked?;
        let new = NewRequest {
            user: user.to_string(),
            role: wanted.role.clone(),
            reason: wanted.reason.trim().to_string(),
            duration_secs: wanted.duration_secs,
        };
        let id = self.store.create_request(&new, now)?;
        let request = self.store.request(id)?.ok_or(RequestError::Missing(id))?;
        audit.record(
            Kind::AccessRequested,
            Some(user),
            ip,
            &format!("request {id}: role {} for {}: {}", new.role, rules::human(new.duration_secs), new.reason),
        );
        self.announce("request.created", &request, now);
        Ok(request)
    }

    /// `actor` approves or denies request `id`.
    pub fn review(
        &self,
        audit: &Audit,
        ip: Option<IpAddr>,
        actor: Actor<'_>,
        id: i64,
        verdict: &api::ReviewAccessRequest,
        now: u64,
    ) -> Result<AccessRequest, RequestFailure> {
        let approve = verdict.approve;
        let refused = |err: RequestError| {
            audit.record(Kind::AccessReviewRefused, Some(actor.name()), ip, &format!("request {id}: {err}"));
            RequestFailure::Rule(err)
        };
        let request = self.store.request(id)?.ok_or_else(|| refused(RequestError::Missing(id)))?;
        let comment = verdict.comment.trim();
        let checked = match actor {
            Actor::Person { name, standing } => {
                rules::check_review(&self.roles, name, standing, &request, comment, now)
            }
            Actor::Admin { name } => {
                let admin_roles: Vec<String> =
                    self.roles.get(&request.role).map(|r| r.reviewers.clone()).unwrap_or_default();
                rules::check_review(&self.roles, name, &admin_roles, &request, comment, now)
            }
        };
        checked.map_err(refused)?;
        let needed = self.roles.get(&request.role).map(rules::approvals_needed).unwrap_or(1);
        let review = Review { reviewer: actor.name().to_string(), approve, comment: comment.to_string(), at: now };
        let after = match self.store.review_request(id, &review, needed)? {
            Reviewed::Done(after) => after,
            Reviewed::NotPending(now_is) => return Err(refused(RequestError::NotPending(now_is.status(now).as_str()))),
            Reviewed::AlreadyReviewed => return Err(refused(RequestError::AlreadyReviewed)),
            Reviewed::Missing => return Err(refused(RequestError::Missing(id))),
        };
        let verdict = if approve { "approved" } else { "denied" };
        audit.record(
            Kind::AccessReviewed,
            Some(actor.name()),
            ip,
            &format!(
                "request {id} of {} for role {}: {verdict} ({}/{needed}): {comment}",
                after.user,
                after.role,
                after.approvals()
            ),
        );
        match after.status(now) {
            Status::Active => {
                audit.record(
                    Kind::AccessApproved,
                    Some(&after.user),
                    ip,
                    &format!("request {id}: role {} until {}", after.role, after.expires_at.unwrap_or_default()),
                );
                self.announce("request.approved", &after, now);
            }
            Status::Denied => {
                audit.record(Kind::AccessDenied, Some(&after.user), ip, &format!("request {id}: role {}", after.role));
                self.announce("request.denied", &after, now);
            }
            _ => {}
        }
        Ok(after)
    }

    /// `actor` ends the approved request `id` now; every session it allowed ends at the
    /// next sweep.
    pub fn revoke(
        &self,
        audit: &Audit,
        ip: Option<IpAddr>,
        actor: Actor<'_>,
        id: i64,
        comment: &str,
        now: u64,
    ) -> Result<AccessRequest, RequestFailure> {
        let refused = |err: RequestError| {
            audit.record(Kind::AccessReviewRefused, Some(actor.name()), ip, &format!("revoke request {id}: {err}"));
            RequestFailure::Rule(err)
        };
        let comment = comment.trim();
        if comment.chars().count() > rules::MAX_COMMENT_CHARS {
            return Err(refused(RequestError::BadComment));
        }
        let request = self.store.request(id)?.ok_or_else(|| refused(RequestError::Missing(id)))?;
        let who = match actor {
            Actor::Person { name, standing } => Some((name, standing)),
            Actor::Admin { .. } => None,
        };
        rules::check_revoke(&self.roles, who, &request, now).map_err(refused)?;
        let Some(after) = self.store.revoke_request(id, actor.name(), comment, now)? else {
            let now_is = self.store.request(id)?.map_or("gone", |r| r.status(now).as_str());
            return Err(refused(RequestError::NotActive(now_is)));
        };
        audit.record(
            Kind::AccessRevoked,
            Some(actor.name()),
            ip,
            &format!("request {id} of {} for role {}: {comment}", after.user, after.role),
        );
        self.announce("request.revoked", &after, now);
        Ok(after)
    }

    /// Audits and announces the requests that expired by `now` (each once, whichever
    /// proxy takes it); how many.
    pub fn note_expired(&self, audit: &Audit, now: u64) -> Result<usize, StoreError> {
        let expired = self.store.take_expired(now)?;
        for request in &expired {
            audit.record(
                Kind::AccessExpired,
                Some(&request.user),
                None,
                &format!("request {}: role {}", request.id, request.role),
            );
            self.announce("request.expired", request, now);
        }
        Ok(expired.len())
    }

    /// The requests page of `user` (with `standing` roles).
    pub fn view(&self, user: &str, standing: &[String], now: u64) -> Result<api::AccessRequests, RequestFailure> {
        let requests = self.store.requests(now.saturating_sub(RECENT_SECS), LIST_LIMIT)?;
        let me = Actor::Person { name: user, standing };
        let requestable = self
            .roles
            .iter()
            .filter(|(name, role)| standing.iter().any(|r| role.requestable_by.contains(r)) && !standing.contains(name))
            .map(|(name, role)| api::RequestableRole {
                role: name.clone(),
                max_duration_secs: role.max_duration.unwrap_or(0),
                approvals: rules::approvals_needed(role),
            })
            .collect();
        let mine = requests.iter().filter(|r| r.user == user).map(|r| self.info(r, Some(me), now)).collect();
        let to_review: Vec<api::AccessRequestInfo> = requests
            .iter()
            // Their own requests too, for roles they review: shown, but not theirs to review.
            .filter(|r| rules::is_reviewer(&self.roles, standing, &r.role))
            .map(|r| self.info(r, Some(me), now))
            .collect();
        let reviewer = self.roles.values().any(|role| standing.iter().any(|r| role.reviewers.contains(r)));
        Ok(api::AccessRequests {
            requestable,
            mine,
            pending_reviews: to_review.iter().filter(|r| r.can_review).count(),
            to_review,
            reviewer,
        })
    }

    /// Every request of the last week, for the command line.
    pub fn recent(&self, now: u64) -> Result<Vec<AccessRequest>, RequestFailure> {
        Ok(self.store.requests(now.saturating_sub(RECENT_SECS), LIST_LIMIT)?)
    }

    /// `request` as `viewer` sees it (what they may do with it).
    pub fn info(&self, request: &AccessRequest, viewer: Option<Actor<'_>>, now: u64) -> api::AccessRequestInfo {
        let (can_review, can_revoke) = match viewer {
            Some(Actor::Person { name, standing }) => (
                rules::check_review(&self.roles, name, standing, request, "", now).is_ok(),
                rules::check_revoke(&self.roles, Some((name, standing)), request, now).is_ok(),
            ),
            _ => (false, false),
        };
        api::AccessRequestInfo {
            id: request.id,
            user: request.user.clone(),
            role: request.role.clone(),
            reason: request.reason.clone(),
            duration_secs: request.duration_secs,
            created_at: request.created_at,
            status: request.status(now).as_str().to_string(),
            approvals: request.approvals() as u32,
            approvals_needed: self.roles.get(&request.role).map(rules::approvals_needed).unwrap_or(1),
            expires_at: request.expires_at,
            reviews: request
                .reviews
                .iter()
                .map(|r| api::AccessReview {
                    reviewer: r.reviewer.clone(),
                    approve: r.approve,
                    comment: r.comment.clone(),
                    at: r.at,
                })
                .collect(),
            revoked_by: request.revoked.as_ref().map(|(by, _, _)| by.clone()),
            revoke_comment: request.revoked.as_ref().map(|(_, _, comment)| comment.clone()),
            can_review,
            can_revoke,
        }
    }

    /// `roles` of `user` with those their requests give them at `now`.
    pub fn effective_roles(&self, user: &str, standing: &[String], now: u64) -> Result<Vec<String>, StoreError> {
        let grants = self.store.grants(&[user.to_string()], now)?;
        Ok(rules::effective_roles(standing, &grants, user, now))
    }
}
