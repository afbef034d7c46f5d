//! Access requests as persisted: the requests, each reviewer's verdict, revocations.
//! The rules are [`crate::access::requests`]'s; a review is recorded and its outcome
//! applied in one transaction, so a reviewer counts once however many clicks race, and
//! the threshold is met exactly once.

use super::Result;
use crate::access::requests::{AccessRequest, Grant, Review};

/// What asking for a role stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub user: String,
    pub role: String,
    pub reason: String,
    pub duration_secs: u64,
}

/// What recording a review did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reviewed {
    /// Recorded; the request as it is now (still pending, approved or denied).
    Done(AccessRequest),
    /// The request was no longer pending when the review arrived.
    NotPending(AccessRequest),
    /// This reviewer had already reviewed it.
    AlreadyReviewed,
    Missing,
}

pub trait RequestStore: Send + Sync {
    fn create_request(&self, request: &NewRequest, now: u64) -> Result<i64>;
    fn request(&self, id: i64) -> Result<Option<AccessRequest>>;
    /// Every request that is pending, or was created or in force after `since`, newest
    /// first, at most `limit`.
    fn requests(&self, since: u64, limit: usize) -> Result<Vec<AccessRequest>>;
    /// Records `review` on the pending request `id` and applies
    /// [`crate::access::requests::decide`] with `needed` approvals, atomically.
    fn review_request(&self, id: i64, review: &Review, needed: u32) -> Result<Reviewed>;
    /// Ends the approved request `id` now, if it is still in force at `now`; the
    /// request as it is then.
    fn revoke_request(&self, id: i64, by: &str, comment: &str, now: u64) -> Result<Option<AccessRequest>>;
    /// The approved requests of `users` in force after `since` (revoked ones included,
    /// with when), in one query: what the sweep and sign-in read.
    fn grants(&self, users: &[String], since: u64) -> Result<Vec<Grant>>;
    /// The approved requests that expired by `now` and were not taken before, marked
    /// taken: each is returned once, to one caller, however many proxies ask.
    fn take_expired(&self, now: u64) -> Result<Vec<AccessRequest>>;
}

/// Rows of requests joined with their reviews (one row per review, or one without),
/// in request order, folded into requests: what both backends read.
pub(crate) fn fold(rows: Vec<(AccessRequest, Option<Review>)>) -> Vec<AccessRequest> {
    let mut out: Vec<AccessRequest> = Vec::new();
    for (request, review) in rows {
        match out.last_mut() {
            Some(last) if last.id == request.id => last.reviews.extend(review),
            _ => out.push(AccessRequest { reviews: review.into_iter().collect(), ..request }),
        }
    }
    out
}
