//! Password hashing with argon2id (the argon2 crate's defaults: 19 MiB, 2 passes,
//! OWASP's recommendation), stored as PHC strings so parameters can change later.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The longest password we hash; longer input is refused before any work is done.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("The password must be at least {0} characters long.")]
    TooShort(usize),
    #[error("The password must be at most {MAX_PASSWORD_BYTES} bytes long.")]
    TooLong,
}

/// Checks a new password against the policy.
pub fn check_policy(password: &str, min_chars: usize) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < min_chars {
        return Err(PasswordError::TooShort(min_chars));
    }
    Ok(())
}

pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .expect("the system random source failed");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters cannot fail on a bounded password")
        .to_string()
}

/// True when `password` matches `phc`. A malformed stored hash never matches.
pub fn verify(phc: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so that the answer takes as
/// long as for a real user and timing does not reveal which names exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password that nobody has"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_password_verifies_and_wrong_does_not() {
        let phc = hash("correct horse battery");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify(&phc, "correct horse battery"));
        assert!(!verify(&phc, "correct horse batterY"));
    }

    #[test]
    fn same_password_gets_a_different_salt_each_time() {
        assert_ne!(hash("same password"), hash("same password"));
    }

    #[test]
    fn malformed_stored_hash_never_matches() {
        assert!(!verify("not a phc string", ""));
        assert!(!verify("", ""));
    }

    #[test]
    fn policy_counts_characters_and_bounds_bytes() {
        assert_eq!(check_policy("short", 10), Err(PasswordError::TooShort(10)));
        assert_eq!(check_policy("ééééééééééé", 10), Ok(()));
        assert_eq!(check_policy(&"x".repeat(2000), 10), Err(PasswordError::TooLong));
    }
}
