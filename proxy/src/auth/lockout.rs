//! When repeated failed sign-ins lock a user name, and for how long.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub window: Duration,
    pub lockout: Duration,
}

impl LockoutPolicy {
    /// Failures at or after this time count towards a lock.
    pub fn window_start(&self, now: u64) -> u64 {
        now.saturating_sub(self.window.as_secs())
    }

    /// Given the failures inside the window (this one included), the time until which
    /// the name is locked, if it now is.
    pub fn lock_after_failure(&self, failures_in_window: u32, now: u64) -> Option<u64> {
        (failures_in_window >= self.max_failures).then(|| now + self.lockout.as_secs())
    }

    /// Whole minutes left, rounded up, for the message a person sees.
    pub fn minutes_left(locked_until: u64, now: u64) -> u64 {
        locked_until.saturating_sub(now).div_ceil(60).max(1)
    }
}

/// A sign-in attempt, counted before its verdict is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The name is locked until then: compute no verdict.
    Locked { until: u64 },
    /// Counted as a failure until it proves otherwise; `failures` includes it.
    Counted { failures: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LockoutPolicy {
        LockoutPolicy { max_failures: 5, window: Duration::from_secs(900), lockout: Duration::from_secs(600) }
    }

    #[test]
    fn fifth_failure_in_the_window_locks() {
        let p = policy();
        assert_eq!(p.lock_after_failure(4, 1000), None);
        assert_eq!(p.lock_after_failure(5, 1000), Some(1600));
    }

    #[test]
    fn window_starts_fifteen_minutes_back() {
        assert_eq!(policy().window_start(10_000), 9_100);
        assert_eq!(policy().window_start(5), 0);
    }

    #[test]
    fn minutes_left_rounds_up_and_is_never_zero() {
        assert_eq!(LockoutPolicy::minutes_left(1600, 1000), 10);
        assert_eq!(LockoutPolicy::minutes_left(1061, 1000), 2);
        assert_eq!(LockoutPolicy::minutes_left(1000, 1000), 1);
    }
}
