//! Secret tokens (web sessions, CSRF, invites) and the session cookie.
//!
//! The database stores only the SHA-256 of a session or invite token, so a copy of the
//! database does not let anyone sign in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `__Host-` makes the browser insist on Secure, Path=/ and no Domain.
pub const SESSION_COOKIE: &str = "__Host-gatehouse_session";

/// A random 256-bit token, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps in place of a token.
pub fn token_hash(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    bytes_equal(a.as_bytes(), b.as_bytes())
}

/// Constant-time for equal lengths; lengths of our secrets are public anyway.
pub fn bytes_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn session_cookie(token: &str, max_age_seconds: u64) -> String {
    format!("{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age_seconds}; Secure; HttpOnly; SameSite=Strict")
}

/// The header that makes the browser forget the session cookie.
pub fn expired_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict")
}

/// The session token from a `Cookie` header, if it holds a well-formed one.
pub fn session_from_cookie_header(header: &str) -> Option<&str> {
    token_from_cookie_header(header, SESSION_COOKIE)
}

/// Binds a single sign-on under way to the browser that started it (only the API's
/// single sign-on calls get it; gone when the flow would have expired).
pub const SSO_COOKIE: &str = "__Host-gatehouse_sso";

pub fn sso_cookie(value: &str, max_age_seconds: u64) -> String {
    format!("{SSO_COOKIE}={value}; Path=/; Max-Age={max_age_seconds}; Secure; HttpOnly; SameSite=Strict")
}

pub fn expired_sso_cookie() -> String {
    format!("{SSO_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict")
}

/// The single sign-on binding from a `Cookie` header, if it holds a well-formed one.
pub fn sso_from_cookie_header(header: &str) -> Option<&str> {
    token_from_cookie_header(header, SSO_COOKIE)
}

fn token_from_cookie_header<'a>(header: &'a str, cookie: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie)
        .map(|(_, value)| value)
        .filter(|value| value.len() == 43 && value.bytes().all(is_base64url))
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_43_characters() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn cookie_is_host_only_secure_httponly_strict() {
        let cookie = session_cookie("abc", 3600);
        for part in ["__Host-", "Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=3600"] {
            assert!(cookie.contains(part), "{cookie} lacks {part}");
        }
        assert!(!cookie.contains("Domain"));
    }

    #[test]
    fn session_is_read_among_other_cookies() {
        let token = random_token();
        let header = format!("theme=dark; {SESSION_COOKIE}={token}; x=y");
        assert_eq!(session_from_cookie_header(&header), Some(token.as_str()));
    }

    #[test]
    fn malformed_session_cookie_is_ignored() {
        for header in [
            format!("{SESSION_COOKIE}=short"),
            format!("{SESSION_COOKIE}={}", "!".repeat(43)),
            "gatehouse_session=x".to_string(),
            String::new(),
        ] {
            assert_eq!(session_from_cookie_header(&header), None, "{header}");
        }
    }

    #[test]
    fn secrets_compare_by_content_and_length() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
        assert!(!secrets_equal("", "a"));
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
