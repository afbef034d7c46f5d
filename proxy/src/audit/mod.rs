//! The audit trail: sign-ins, failures, lockouts, sign-outs, denials, sessions and who
//! viewed which recording, written as JSON lines to `audit.jsonl` in the data directory
//! (0600) and as rows in the database.
//!
//! What anyone on the network can cause without signing in (refused requests: rate
//! limits, missing CSRF headers, forged cookies, foreign origins) must not be a way to
//! fill the disk: past [`BURST`] a minute of one such kind, records are counted instead
//! of written, and a summary record says how many there were.

pub mod kind;
pub mod record;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::store::audit::AuditStore;
pub use kind::Kind;
use record::AuditRecord;

/// Records of one refused-request kind written per minute before the rest are counted.
pub const BURST: u32 = 20;
/// The most of a user name (which a stranger types) and of a detail a record keeps.
const MAX_USER: usize = 64;
const MAX_DETAIL: usize = 1024;

pub struct Audit {
    store: Arc<dyn AuditStore>,
    file: Mutex<File>,
    throttle: Mutex<Throttle>,
}

/// What a request can cause without being signed in: refusals of any kind, and any
/// record that names no user. Throttled.
fn is_noisy(kind: Kind, user: Option<&str>) -> bool {
    matches!(kind, Kind::SignInRateLimited | Kind::CsrfDenied | Kind::SessionInvalid) || user.is_none()
}

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl Audit {
    pub fn open(store: Arc<dyn AuditStore>, path: &Path) -> std::io::Result<Audit> {
        let file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        // A file made before modes were set keeps its old one otherwise.
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Ok(Audit { store, file: Mutex::new(file), throttle: Mutex::new(Throttle::default()) })
    }

    /// Records one event. Failing to write the trail is logged loudly but does not fail
    /// the request that caused it.
    pub fn record(&self, kind: Kind, user: Option<&str>, ip: Option<std::net::IpAddr>, detail: &str) {
        let now = crate::auth::now();
        if is_noisy(kind, user) {
            let (write, summary) = self.throttle.lock().unwrap_or_else(|p| p.into_inner()).admit(kind, now);
            self.write_summary(summary, now);
            if !write {
                return;
            }
        }
        self.write(AuditRecord {
            at: now,
            kind: kind.as_str().to_string(),
            user: user.map(|u| clip(u, MAX_USER)),
            ip: ip.map(|ip| ip.to_string()),
            detail: clip(detail, MAX_DETAIL),
        });
    }

    /// Writes the counts of the minute that ended, if it ended (called every minute, so
    /// a burst is summarised even when nothing follows it).
    pub fn flush(&self, now: u64) {
        let summary = self.throttle.lock().unwrap_or_else(|p| p.into_inner()).roll(now);
        self.write_summary(summary, now);
    }

    fn write_summary(&self, summary: Vec<(Kind, u32)>, now: u64) {
        for (kind, suppressed) in summary {
            self.write(AuditRecord {
                at: now,
                kind: Kind::AuditSuppressed.as_str().to_string(),
                user: None,
                ip: None,
                detail: format!("{suppressed} more {kind} records in the last minute were counted, not written (over {BURST} a minute)"),
            });
        }
    }

    fn write(&self, record: AuditRecord) {
        crate::metrics::audited(&record.kind);
        tracing::info!(target: "audit", kind = record.kind, user = record.user, ip = record.ip, detail = record.detail);
        if let Err(err) = self.store.append_audit(&record) {
            tracing::error!(%err, kind = record.kind, "cannot write the audit record to the database");
        }
        let line = match serde_json::to_string(&record) {
            Ok(line) => line,
            Err(err) => {
                tracing::error!(%err, "cannot serialise an audit record");
                return;
            }
        };
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(err) = writeln!(file, "{line}") {
            tracing::error!(%err, kind = record.kind, "cannot append to audit.jsonl");
        }
    }
}

/// Counts records of each throttled kind per minute.
#[derive(Debug, Default)]
pub struct Throttle {
    minute: u64,
    seen: HashMap<Kind, u32>,
}

impl Throttle {
    /// Whether a record of `kind` at `now` is written, and the suppressed counts of the
    /// minute that just ended (if one did).
    pub fn admit(&mut self, kind: Kind, now: u64) -> (bool, Vec<(Kind, u32)>) {
        let summary = self.roll(now);
        let seen = self.seen.entry(kind).or_insert(0);
        *seen = seen.saturating_add(1);
        (*seen <= BURST, summary)
    }

    /// Starts a new minute if `now` is in one; what the last one suppressed.
    pub fn roll(&mut self, now: u64) -> Vec<(Kind, u32)> {
        let minute = now / 60;
        if minute == self.minute {
            return Vec::new();
        }
        self.minute = minute;
        let mut summary: Vec<(Kind, u32)> =
            self.seen.drain().filter(|(_, n)| *n > BURST).map(|(kind, n)| (kind, n - BURST)).collect();
        summary.sort_by_key(|(kind, _)| kind.as_str());
        summary
    }
}

/// Reads of one recording by one viewer this close together are one viewing.
pub const VIEWING_GAP_SECS: u64 = 30 * 60;
const MAX_VIEWINGS: usize = 10_000;

/// Who read which recording when, so a player's many Range reads are one audit record.
#[derive(Debug, Default)]
pub struct Viewings {
    last: HashMap<(String, String), u64>,
}

impl Viewings {
    /// Notes a read of `recording` by `viewer` at `now`; true when it starts a viewing
    /// (and so is audited).
    pub fn starts(&mut self, viewer: &str, recording: &str, now: u64) -> bool {
        if self.last.len() >= MAX_VIEWINGS {
            self.last.retain(|_, at| now.saturating_sub(*at) <= VIEWING_GAP_SECS);
        }
        let previous = self.last.insert((viewer.to_string(), recording.to_string()), now);
        previous.is_none_or(|at| now.saturating_sub(at) > VIEWING_GAP_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_one_kind_is_written_up_to_the_limit_then_counted() {
        let mut throttle = Throttle::default();
        let written = (0..500).filter(|_| throttle.admit(Kind::CsrfDenied, 60).0).count();
        assert_eq!(written, BURST as usize);
        assert!(throttle.admit(Kind::SessionInvalid, 61).0, "another kind has its own budget");
        let (write, summary) = throttle.admit(Kind::CsrfDenied, 125);
        assert!(write, "a new minute");
        assert_eq!(summary, [(Kind::CsrfDenied, 500 - BURST)]);
        assert!(throttle.roll(130).is_empty());
    }

    #[test]
    fn only_what_strangers_cause_is_throttled() {
        assert!(is_noisy(Kind::CsrfDenied, None));
        assert!(is_noisy(Kind::SshDenied, None), "a foreign origin");
        assert!(is_noisy(Kind::InviteFailed, None), "a junk invite token");
        assert!(!is_noisy(Kind::SshDenied, Some("alice")), "a signed-in user's denial is always written");
        assert!(!is_noisy(Kind::SignInFailed, Some("x")));
    }

    #[test]
    fn a_viewing_is_one_record_however_many_reads() {
        let mut viewings = Viewings::default();
        assert!(viewings.starts("ann", "r1", 100));
        assert!(!viewings.starts("ann", "r1", 101));
        assert!(!viewings.starts("ann", "r1", 100 + VIEWING_GAP_SECS));
        assert!(viewings.starts("bob", "r1", 102), "another viewer");
        assert!(viewings.starts("ann", "r2", 103), "another recording");
        assert!(viewings.starts("ann", "r1", 101 + 2 * VIEWING_GAP_SECS + 1), "after a long pause, a new viewing");
    }

    #[test]
    fn long_fields_are_clipped_on_a_character_boundary() {
        assert_eq!(clip("short", 10), "short");
        let clipped = clip(&"é".repeat(100), 11);
        assert!(clipped.len() <= 14 && clipped.ends_with('…'), "{clipped}");
    }
}
