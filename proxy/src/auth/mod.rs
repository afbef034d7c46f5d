//! Sign-in logic with no I/O: passwords, TOTP, lockout, session tokens and rate limits.
//! Time is always an argument (Unix seconds), so every rule is tested natively.

pub mod lockout;
pub mod password;
pub mod rate_limit;
pub mod token;
pub mod totp;

/// Unix seconds now; the one place the proxy reads the clock for auth decisions.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Unix milliseconds now, for recording timestamps.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
