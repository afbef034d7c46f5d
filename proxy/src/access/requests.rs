//! Just-in-time access: a person asks for a requestable role for a while, with a reason;
//! reviewers approve or deny; once enough approve, the role is theirs until the request
//! expires or a reviewer revokes it. These are the rules, as pure functions with the
//! time as an argument: who may ask for what, who may review, when a request is
//! decided, and which roles a person holds through requests right now. The store keeps
//! the requests ([`crate::store::requests`]); the handlers call these first.
//!
//! Who may ask and who may review is decided by a person's *standing* roles (those an
//! admin gave them), never by roles they hold through a request.

use super::rbac::{Role, Roles};

/// The longest reason kept, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// The longest review or revocation comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;

/// Where a request is. Expiry is not a state: an approved request past its
/// `expires_at` is expired ([`AccessRequest::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Approved,
    Denied,
    Revoked,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Denied => "denied",
            State::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        Some(match text {
            "pending" => State::Pending,
            "approved" => State::Approved,
            "denied" => State::Denied,
            "revoked" => State::Revoked,
            _ => return None,
        })
    }
}

/// What a request is at one moment, as people are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    /// Approved and not yet expired: the role is held.
    Active,
    Expired,
    Denied,
    Revoked,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Expired => "expired",
            Status::Denied => "denied",
            Status::Revoked => "revoked",
        }
    }
}

/// One reviewer's verdict on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub reviewer: String,
    pub approve: bool,
    pub comment: String,
    pub at: u64,
}

/// A request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    pub id: i64,
    pub user: String,
    pub role: String,
    pub reason: String,
    pub duration_secs: u64,
    pub created_at: u64,
    pub state: State,
    /// When it was approved or denied.
    pub decided_at: Option<u64>,
    /// Set when approved: the role is held until then.
    pub expires_at: Option<u64>,
    /// Who revoked it, when, and why.
    pub revoked: Option<(String, u64, String)>,
    /// Oldest first.
    pub reviews: Vec<Review>,
}

impl AccessRequest {
    pub fn status(&self, now: u64) -> Status {
        match self.state {
            State::Pending => Status::Pending,
            State::Denied => Status::Denied,
            State::Revoked => Status::Revoked,
            State::Approved if self.expires_at.is_some_and(|at| now < at) => Status::Active,
            State::Approved => Status::Expired,
        }
    }

    pub fn approvals(&self) -> usize {
        self.reviews.iter().filter(|r| r.approve).count()
    }
}

/// A request that is or was in force: what the live-session sweep and sign-in read,
/// one batch for many users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub user: String,
    pub role: String,
    pub expires_at: u64,
    /// Who revoked it, and when.
    pub revoked: Option<(String, u64)>,
}

impl Grant {
    pub fn active(&self, now: u64) -> bool {
        self.revoked.is_none() && now < self.expires_at
    }

    /// What a person reads when a session this grant allowed ends because it ended.
    pub fn ended_sentence(&self) -> String {
        match &self.revoked {
            Some((by, _)) => format!(
                "{by} revoked your access request for role {}, and the sessions it allowed ended with it.",
                self.role
            ),
            None => format!("Your access request for role {} expired, and the sessions it allowed with it.", self.role),
        }
    }
}

/// The roles `user` holds through requests at `now`, beside `standing`, without repeats.
pub fn effective_roles(standing: &[String], grants: &[Grant], user: &str, now: u64) -> Vec<String> {
    let mut roles = standing.to_vec();
    for grant in grants.iter().filter(|g| g.user == user && g.active(now)) {
        if !roles.contains(&grant.role) {
            roles.push(grant.role.clone());
        }
    }
    roles
}

/// Why a request, a review or a revocation is refused, with the sentence the person reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("There is no role named {0} that can be requested.")]
    NotRequestable(String),
    #[error("Your roles do not let you request the role {0}.")]
    NotAllowed(String),
    #[error("You already hold the role {0}.")]
    AlreadyHeld(String),
    #[error("You already have a pending or active request for the role {0}.")]
    Duplicate(String),
    #[error("Ask for a duration of at most {max} (the most the role {role} allows).")]
    BadDuration { role: String, max: String },
    #[error("Give a reason of 1 to {MAX_REASON_CHARS} characters, so reviewers know why you need it.")]
    BadReason,
    #[error("A comment is at most {MAX_COMMENT_CHARS} characters.")]
    BadComment,
    #[error("There is no access request number {0}.")]
    Missing(i64),
    #[error("You cannot review your own access request; another reviewer must.")]
    OwnRequest,
    #[error("You are not a reviewer for the role {0}.")]
    NotReviewer(String),
    #[error("This request is no longer pending (it is {0}).")]
    NotPending(&'static str),
    #[error("You have already reviewed this request.")]
    AlreadyReviewed,
    #[error("This request is not active (it is {0}), so there is nothing to revoke.")]
    NotActive(&'static str),
}

/// The shortest duration a request may ask for, in seconds (tests use short ones).
pub const MIN_DURATION_SECS: u64 = 1;

fn requestable<'a>(roles: &'a Roles, role: &str) -> Result<&'a Role, RequestError> {
    roles.get(role).filter(|r| !r.requestable_by.is_empty()).ok_or_else(|| RequestError::NotRequestable(role.into()))
}

/// How many approvals a request of `role` needs.
pub fn approvals_needed(role: &Role) -> u32 {
    role.approvals.unwrap_or(1).max(1)
}

/// A duration as people write it: `4h`, `30m`, `90s`.
pub fn human(secs: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

/// May someone with `standing` roles ask for `role` for `duration_secs`, given their
/// `open` requests (pending or active)? Returns the role's rules.
pub fn check_new<'a>(
    roles: &'a Roles,
    standing: &[String],
    open: &[&AccessRequest],
    role: &str,
    reason: &str,
    duration_secs: u64,
) -> Result<&'a Role, RequestError> {
    let wanted = requestable(roles, role)?;
    if !standing.iter().any(|r| wanted.requestable_by.contains(r)) {
        return Err(RequestError::NotAllowed(role.into()));
    }
    if standing.iter().any(|r| r == role) {
        return Err(RequestError::AlreadyHeld(role.into()));
    }
    let max = wanted.max_duration.unwrap_or(0);
    if duration_secs < MIN_DURATION_SECS || duration_secs > max {
        return Err(RequestError::BadDuration { role: role.into(), max: human(max) });
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(RequestError::BadReason);
    }
    if open.iter().any(|r| r.role == role) {
        return Err(RequestError::Duplicate(role.into()));
    }
    Ok(wanted)
}

/// Whether someone with `standing` roles reviews requests of `role`.
pub fn is_reviewer(roles: &Roles, standing: &[String], role: &str) -> bool {
    roles.get(role).is_some_and(|r| standing.iter().any(|mine| r.reviewers.contains(mine)))
}

/// May `reviewer` (with `standing` roles) review `request` at `now`?
pub fn check_review(
    roles: &Roles,
    reviewer: &str,
    standing: &[String],
    request: &AccessRequest,
    comment: &str,
    now: u64,
) -> Result<(), RequestError> {
    if request.user == reviewer {
        return Err(RequestError::OwnRequest);
    }
    if !is_reviewer(roles, standing, &request.role) {
        return Err(RequestError::NotReviewer(request.role.clone()));
    }
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(RequestError::BadComment);
    }
    let status = request.status(now);
    if status != Status::Pending {
        return Err(RequestError::NotPending(status.as_str()));
    }
    if request.reviews.iter().any(|r| r.reviewer == reviewer) {
        return Err(RequestError::AlreadyReviewed);
    }
    Ok(())
}

/// Where a pending request goes after a review, given the approvals it now has
/// (this one counted): one denial denies; enough approvals approve, for its duration
/// from `now`; fewer leave it pending.
pub fn decide(approve: bool, approvals: u32, needed: u32, duration_secs: u64, now: u64) -> (State, Option<u64>) {
    if !approve {
        return (State::Denied, None);
    }
    if approvals >= needed.max(1) { (State::Approved, Some(now + duration_secs)) } else { (State::Pending, None) }
}

/// May `reviewer` (with `standing` roles; `None` for an admin at the command line)
/// revoke `request` at `now`?
pub fn check_revoke(
    roles: &Roles,
    reviewer: Option<(&str, &[String])>,
    request: &AccessRequest,
    now: u64,
) -> Result<(), RequestError> {
    if let Some((_, standing)) = reviewer
        && !is_reviewer(roles, standing, &request.role)
    {
        return Err(RequestError::NotReviewer(request.role.clone()));
    }
    let status = request.status(now);
    if status != Status::Active {
        return Err(RequestError::NotActive(status.as_str()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Roles {
        let ops = Role {
            logins: vec!["root".into()],
            requestable_by: vec!["dev".into()],
            max_duration: Some(4 * 3600),
            approvals: Some(2),
            reviewers: vec!["lead".into()],
            ..Role::default()
        };
        Roles::from([("ops".to_string(), ops), ("dev".to_string(), Role::default())])
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn request(user: &str) -> AccessRequest {
        AccessRequest {
            id: 1,
            user: user.into(),
            role: "ops".into(),
            reason: "incident 42".into(),
            duration_secs: 600,
            created_at: 100,
            state: State::Pending,
            decided_at: None,
            expires_at: None,
            revoked: None,
            reviews: vec![],
        }
    }

    #[test]
    fn only_holders_of_a_requesting_role_may_ask_within_the_maximum() {
        let roles = roles();
        let dev = names(&["dev"]);
        assert!(check_new(&roles, &dev, &[], "ops", "incident 42", 3600).is_ok());
        assert_eq!(
            check_new(&roles, &names(&["qa"]), &[], "ops", "x", 3600).unwrap_err(),
            RequestError::NotAllowed("ops".into())
        );
        assert_eq!(
            check_new(&roles, &dev, &[], "dev", "x", 60).unwrap_err(),
            RequestError::NotRequestable("dev".into())
        );
        assert_eq!(
            check_new(&roles, &dev, &[], "nope", "x", 60).unwrap_err(),
            RequestError::NotRequestable("nope".into())
        );
        let too_long = check_new(&roles, &dev, &[], "ops", "x", 4 * 3600 + 1).unwrap_err();
        assert_eq!(too_long.to_string(), "Ask for a duration of at most 4h (the most the role ops allows).");
        assert!(check_new(&roles, &dev, &[], "ops", "x", 0).is_err());
        assert_eq!(check_new(&roles, &dev, &[], "ops", "   ", 60).unwrap_err(), RequestError::BadReason);
        assert_eq!(
            check_new(&roles, &names(&["dev", "ops"]), &[], "ops", "x", 60).unwrap_err(),
            RequestError::AlreadyHeld("ops".into())
        );
        let open = request("alice");
        assert_eq!(
            check_new(&roles, &dev, &[&open], "ops", "x", 60).unwrap_err(),
            RequestError::Duplicate("ops".into())
        );
    }

    #[test]
    fn a_requester_cannot_review_their_own_request_nor_a_non_reviewer_any() {
        let roles = roles();
        let lead = names(&["lead"]);
        let mine = request("bob");
        assert_eq!(check_review(&roles, "bob", &lead, &mine, "", 200).unwrap_err(), RequestError::OwnRequest);
        assert_eq!(
            check_review(&roles, "carol", &names(&["dev"]), &mine, "", 200).unwrap_err(),
            RequestError::NotReviewer("ops".into())
        );
        assert!(check_review(&roles, "carol", &lead, &mine, "fine", 200).is_ok());
        let reviewed = AccessRequest {
            reviews: vec![Review { reviewer: "carol".into(), approve: true, comment: String::new(), at: 150 }],
            ..mine.clone()
        };
        assert_eq!(
            check_review(&roles, "carol", &lead, &reviewed, "", 200).unwrap_err(),
            RequestError::AlreadyReviewed
        );
        let denied = AccessRequest { state: State::Denied, ..mine };
        assert_eq!(
            check_review(&roles, "carol", &lead, &denied, "", 200).unwrap_err(),
            RequestError::NotPending("denied")
        );
    }

    #[test]
    fn a_request_is_approved_when_the_threshold_is_met_and_denied_by_one_denial() {
        assert_eq!(decide(true, 1, 2, 600, 1_000), (State::Pending, None));
        assert_eq!(decide(true, 2, 2, 600, 1_000), (State::Approved, Some(1_600)));
        assert_eq!(decide(false, 1, 2, 600, 1_000), (State::Denied, None));
        assert_eq!(decide(true, 1, 0, 600, 1_000), (State::Approved, Some(1_600)), "at least one approval");
    }

    #[test]
    fn an_approved_request_holds_its_role_until_it_expires_or_is_revoked() {
        let approved = AccessRequest { state: State::Approved, expires_at: Some(1_600), ..request("bob") };
        assert_eq!(approved.status(1_599), Status::Active);
        assert_eq!(approved.status(1_600), Status::Expired);
        let grant = Grant { id: 1, user: "bob".into(), role: "ops".into(), expires_at: 1_600, revoked: None };
        let grants = [grant.clone()];
        assert_eq!(effective_roles(&names(&["dev"]), &grants, "bob", 1_599), names(&["dev", "ops"]));
        assert_eq!(effective_roles(&names(&["dev"]), &grants, "bob", 1_600), names(&["dev"]));
        assert_eq!(effective_roles(&names(&["dev"]), &grants, "alice", 1_000), names(&["dev"]));
        let revoked = Grant { revoked: Some(("carol".into(), 1_200)), ..grant.clone() };
        assert_eq!(effective_roles(&names(&["dev"]), std::slice::from_ref(&revoked), "bob", 1_300), names(&["dev"]));
        assert_eq!(
            grant.ended_sentence(),
            "Your access request for role ops expired, and the sessions it allowed with it."
        );
        assert!(revoked.ended_sentence().starts_with("carol revoked your access request for role ops"));
    }

    #[test]
    fn only_an_active_request_is_revoked_and_only_by_a_reviewer() {
        let roles = roles();
        let active = AccessRequest { state: State::Approved, expires_at: Some(1_600), ..request("bob") };
        let lead = names(&["lead"]);
        assert!(check_revoke(&roles, Some(("carol", &lead)), &active, 1_000).is_ok());
        assert!(check_revoke(&roles, None, &active, 1_000).is_ok(), "an admin at the command line");
        assert_eq!(
            check_revoke(&roles, Some(("dave", &names(&["dev"]))), &active, 1_000).unwrap_err(),
            RequestError::NotReviewer("ops".into())
        );
        assert_eq!(check_revoke(&roles, None, &active, 1_600).unwrap_err(), RequestError::NotActive("expired"));
        assert_eq!(check_revoke(&roles, None, &request("bob"), 1_000).unwrap_err(), RequestError::NotActive("pending"));
    }
}
