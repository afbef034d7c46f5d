//! A sliding one-minute window of sign-in attempts per client address. It slows
//! guessing across many user names, which per-name lockout alone does not. The
//! attempts are counted in the database ([`AccountStore::count_client_attempt`]), so
//! every proxy behind one address counts the same ones.
//!
//! [`AccountStore::count_client_attempt`]: crate::store::accounts::AccountStore::count_client_attempt

use std::net::IpAddr;

use crate::store::accounts::AccountStore;

pub const WINDOW_SECONDS: u64 = 60;

/// What attempts are counted under: the address, or for IPv6 its /64 (one network hands
/// out a /64, not one address).
pub fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            std::net::Ipv6Addr::from(segments).to_string()
        }
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Counts an attempt from `ip` at `now`; false when it is over `per_minute`, or when
/// the count cannot be kept (the database is then down, and sign-in with it).
pub fn allow(store: &dyn AccountStore, ip: IpAddr, per_minute: u32, now: u64) -> bool {
    let window_start = now.saturating_sub(WINDOW_SECONDS - 1);
    store.count_client_attempt(&client_key(ip), now, window_start, per_minute).unwrap_or_else(|err| {
        tracing::error!(%err, "cannot count sign-in attempts");
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn attempts_over_the_limit_wait_for_the_window_to_pass() {
        let store = SqliteStore::in_memory().unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(allow(&store, ip, 3, 100));
        assert!(allow(&store, ip, 3, 101));
        assert!(allow(&store, ip, 3, 102));
        assert!(!allow(&store, ip, 3, 103));
        assert!(!allow(&store, ip, 3, 159));
        assert!(allow(&store, ip, 3, 160));
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address() {
        assert_eq!(client_key("2001:db8:1:2::1".parse().unwrap()), client_key("2001:db8:1:2:ffff::9".parse().unwrap()));
        assert_ne!(client_key("2001:db8:1:2::1".parse().unwrap()), client_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(client_key("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1");
        assert_ne!(client_key("192.0.2.1".parse().unwrap()), client_key("192.0.2.2".parse().unwrap()));
    }
}
