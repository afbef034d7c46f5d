//! A sliding one-minute window of sign-in attempts per client address, in memory.
//! It slows guessing across many user names, which per-name lockout alone does not.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

const WINDOW_SECONDS: u64 = 60;
/// Addresses tracked at most; beyond this the oldest-idle entries are dropped.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Default)]
pub struct RateLimiter {
    per_minute: u32,
    attempts: HashMap<IpAddr, VecDeque<u64>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter { per_minute, attempts: HashMap::new() }
    }

    /// Counts an attempt from `ip` at `now`; false when it is over the limit. An IPv6
    /// address counts as its /64 (one network hands out a /64, not one address).
    pub fn allow(&mut self, ip: IpAddr, now: u64) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(std::net::Ipv6Addr::from(segments))
            }
            other => other,
        };
        if self.attempts.len() >= MAX_TRACKED {
            self.attempts.retain(|_, times| times.back().is_some_and(|t| now - t < WINDOW_SECONDS));
        }
        let times = self.attempts.entry(ip).or_default();
        while times.front().is_some_and(|t| now.saturating_sub(*t) >= WINDOW_SECONDS) {
            times.pop_front();
        }
        if times.len() >= self.per_minute as usize {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_over_the_limit_wait_for_the_window_to_pass() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut limiter = RateLimiter::new(3);
        assert!(limiter.allow(ip, 100));
        assert!(limiter.allow(ip, 101));
        assert!(limiter.allow(ip, 102));
        assert!(!limiter.allow(ip, 103));
        assert!(limiter.allow(ip, 160));
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address() {
        let mut limiter = RateLimiter::new(2);
        assert!(limiter.allow("2001:db8:1:2::1".parse().unwrap(), 0));
        assert!(limiter.allow("2001:db8:1:2:ffff::9".parse().unwrap(), 0));
        assert!(!limiter.allow("2001:db8:1:2:abcd::7".parse().unwrap(), 0), "the same /64");
        assert!(limiter.allow("2001:db8:1:3::1".parse().unwrap(), 0), "another /64");
    }

    #[test]
    fn addresses_are_counted_separately() {
        let mut limiter = RateLimiter::new(1);
        assert!(limiter.allow("192.0.2.1".parse().unwrap(), 0));
        assert!(limiter.allow("192.0.2.2".parse().unwrap(), 0));
    }
}
