//! Locks: an admin's "nobody uses this now" for a user, a node or a desktop, with a
//! reason and an optional end (`gatehouse lock …`). A locked user cannot sign in or
//! connect, a locked node or desktop cannot be reached, and every live session a new
//! lock concerns ends within seconds ([`crate::sessions`]). Locks live in the database, so
//! the command line (another process) and every proxy see the same ones.

use std::time::{Duration, UNIX_EPOCH};

/// What a lock is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockTarget {
    User(String),
    Node(String),
    Desktop(String),
    App(String),
}

impl LockTarget {
    pub fn kind(&self) -> &'static str {
        match self {
            LockTarget::User(_) => "user",
            LockTarget::Node(_) => "node",
            LockTarget::Desktop(_) => "desktop",
            LockTarget::App(_) => "app",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            LockTarget::User(name) | LockTarget::Node(name) | LockTarget::Desktop(name) | LockTarget::App(name) => name,
        }
    }

    pub fn from_parts(kind: &str, name: String) -> Option<LockTarget> {
        match kind {
            "user" => Some(LockTarget::User(name)),
            "node" => Some(LockTarget::Node(name)),
            "desktop" => Some(LockTarget::Desktop(name)),
            "app" => Some(LockTarget::App(name)),
            _ => None,
        }
    }
}

/// A lock about to be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLock {
    pub target: LockTarget,
    pub reason: String,
    /// Unix seconds; `None`: until removed.
    pub expires_at: Option<u64>,
}

/// The most a lock's reason may say: the sentence it makes travels in a WebSocket close
/// frame (123 bytes, with "An admin locked the user … until … UTC: " before it).
pub const MAX_REASON: usize = 60;

/// The latest moment a lock may last until (the last second of the year 9999).
pub const LATEST: u64 = 253_402_300_799;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub id: i64,
    pub target: LockTarget,
    pub reason: String,
    pub created_at: u64,
    pub expires_at: Option<u64>,
}

impl Lock {
    /// What a person whose session or sign-in the lock stops reads.
    pub fn sentence(&self) -> String {
        let until = match self.expires_at {
            Some(at) => format!(" until {}", format_time(at)),
            None => String::new(),
        };
        format!("An admin locked the {} {}{until}: {}", self.target.kind(), self.target.name(), self.reason)
    }
}

/// `2026-12-01 10:15:00 UTC` (a time past the year 9999 as Unix seconds).
pub fn format_time(unix: u64) -> String {
    if unix > LATEST {
        return format!("{unix} (Unix time)");
    }
    let text = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix)).to_string();
    format!("{} UTC", text.trim_end_matches('Z').replace('T', " "))
}

/// When a lock made at `now` for `duration` ends, if that is a time a lock may end.
pub fn expiry(now: u64, duration: Duration) -> Result<u64, String> {
    now.checked_add(duration.as_secs())
        .filter(|at| *at <= LATEST)
        .ok_or_else(|| "a lock lasts at most until the year 9999".to_string())
}

/// The first lock among `locks` on any of `targets`.
pub fn first_on<'a>(locks: &'a [Lock], targets: &[LockTarget]) -> Option<&'a Lock> {
    locks.iter().find(|lock| targets.contains(&lock.target))
}

/// Checks what an admin typed for a reason.
pub fn check_reason(reason: &str) -> Result<String, String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err("a lock needs a reason (--reason), which people it stops will read".into());
    }
    if reason.chars().count() > MAX_REASON || reason.chars().any(char::is_control) {
        return Err(format!("a lock's reason is one line of at most {MAX_REASON} characters"));
    }
    Ok(reason.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(target: LockTarget, expires_at: Option<u64>) -> Lock {
        Lock { id: 1, target, reason: "incident 42".into(), created_at: 0, expires_at }
    }

    #[test]
    fn a_lock_says_who_locked_what_until_when_and_why() {
        assert_eq!(
            lock(LockTarget::Node("web-1".into()), None).sentence(),
            "An admin locked the node web-1: incident 42"
        );
        assert_eq!(
            lock(LockTarget::User("alice".into()), Some(1_800_000_000)).sentence(),
            "An admin locked the user alice until 2027-01-15 08:00:00 UTC: incident 42"
        );
    }

    #[test]
    fn a_lock_ends_at_a_time_that_can_be_written() {
        assert_eq!(expiry(100, Duration::from_secs(60)), Ok(160));
        assert!(expiry(100, Duration::from_secs(u64::MAX)).is_err());
        assert!(expiry(100, Duration::from_secs(9000 * 365 * 86_400)).is_err(), "past the year 9999");
        assert_eq!(format_time(LATEST + 1), "253402300800 (Unix time)");
    }

    #[test]
    fn the_first_lock_on_any_target_is_found() {
        let locks = [lock(LockTarget::Desktop("d".into()), None), lock(LockTarget::User("bob".into()), None)];
        let wanted = [LockTarget::User("bob".into()), LockTarget::Node("d".into())];
        assert_eq!(first_on(&locks, &wanted).map(|l| l.target.clone()), Some(LockTarget::User("bob".into())));
        assert!(first_on(&locks, &[LockTarget::Node("d".into())]).is_none(), "a desktop lock is not a node lock");
    }

    #[test]
    fn reasons_are_one_short_line() {
        assert!(check_reason("  ").is_err());
        assert!(check_reason("a\nb").is_err());
        assert!(check_reason(&"x".repeat(61)).is_err());
        assert_eq!(check_reason(" laptop stolen ").unwrap(), "laptop stolen");
    }
}
