//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 30-second
//! steps, 6 digits, the form every authenticator app understands.

use ring::hmac;

pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: u32 = 6;
/// Steps either side of now that still count, for clocks that drift a little.
pub const SKEW_STEPS: u64 = 1;
pub const SECRET_LEN: usize = 20;

/// A fresh random 160-bit secret (the size RFC 4226 recommends for SHA-1).
pub fn generate_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .expect("the system random source failed");
    secret
}

/// The HOTP value for one counter.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let code = u32::from_be_bytes([mac[offset], mac[offset + 1], mac[offset + 2], mac[offset + 3]]) & 0x7fff_ffff;
    code % 10u32.pow(DIGITS)
}

/// The 6-digit code an authenticator shows at `unix_seconds`.
#[cfg(test)]
pub fn code_at(secret: &[u8], unix_seconds: u64) -> String {
    format!("{:06}", hotp(secret, unix_seconds / STEP_SECONDS))
}

/// Checks `code` at time `now`. Returns the step it matched, which the caller stores so
/// that the same code (or an older one) cannot be used twice. `None` means refused.
pub fn verify(secret: &[u8], code: &str, now: u64, last_used_step: Option<u64>) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let current = now / STEP_SECONDS;
    let first = current.saturating_sub(SKEW_STEPS);
    (first..=current + SKEW_STEPS)
        .filter(|step| last_used_step.is_none_or(|last| *step > last))
        // Compare every candidate, so timing does not tell which step matched.
        .fold(None, |found, step| {
            let matches = super::token::bytes_equal(&hotp(secret, step).to_be_bytes(), &wanted.to_be_bytes());
            if matches && found.is_none() { Some(step) } else { found }
        })
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as otpauth URIs use.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes base32, ignoring case, spaces and padding; `None` on any other character.
#[cfg(test)]
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let c = c.to_ascii_uppercase() as u8;
        let value = BASE32.iter().position(|&b| b == c)? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://` URI that authenticator apps read from the QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        issuer = percent_encode(issuer),
        account = percent_encode(account),
        secret = base32_encode(secret),
    )
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 key, truncated to 6 digits.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_test_vectors_match() {
        for (time, expected) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(RFC_SECRET, time), expected, "at t={time}");
        }
    }

    #[test]
    fn code_from_previous_and_next_step_is_accepted() {
        let now = 1_000_000_000;
        let previous = code_at(RFC_SECRET, now - 30);
        let next = code_at(RFC_SECRET, now + 30);
        assert_eq!(verify(RFC_SECRET, &previous, now, None), Some(now / 30 - 1));
        assert_eq!(verify(RFC_SECRET, &next, now, None), Some(now / 30 + 1));
    }

    #[test]
    fn code_two_steps_old_is_refused() {
        let now = 1_000_000_000;
        let old = code_at(RFC_SECRET, now - 60);
        assert_eq!(verify(RFC_SECRET, &old, now, None), None);
    }

    #[test]
    fn a_code_cannot_be_used_twice() {
        let now = 1_000_000_000;
        let code = code_at(RFC_SECRET, now);
        let step = verify(RFC_SECRET, &code, now, None).unwrap();
        assert_eq!(verify(RFC_SECRET, &code, now + 5, Some(step)), None);
    }

    #[test]
    fn malformed_codes_are_refused() {
        for code in ["", "12345", "1234567", "abcdef", "12 456", "１２３４５６"] {
            assert_eq!(verify(RFC_SECRET, code, 59, None), None, "{code:?}");
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        let secret = generate_secret();
        assert_eq!(base32_decode(&base32_encode(&secret)).unwrap(), secret);
        assert_eq!(base32_decode("MZ!W"), None);
    }

    #[test]
    fn otpauth_uri_escapes_names() {
        let uri = otpauth_uri("Gatehouse", "ann smith", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/Gatehouse:ann%20smith?secret=MZXW6YTBOI&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
        );
    }
}
