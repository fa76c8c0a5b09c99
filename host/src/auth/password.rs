//! Password hashing with argon2id (OWASP's first choice), in PHC string form so the
//! parameters travel with each hash and can be raised later without breaking old ones.
//!
//! Hashing is deliberately slow (tens of milliseconds, 19 MiB): callers run it on the blocking
//! pool, never on the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 10;
/// Longest: argon2 takes any length, but a megabyte "password" is a denial of service.
pub const MAX_LENGTH: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password must be {MIN_LENGTH} to {MAX_LENGTH} characters")]
    Length,
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// Check a new password's length.
pub fn check_new(password: &str) -> Result<(), PasswordError> {
    let length = password.chars().count();
    if (MIN_LENGTH..=MAX_LENGTH).contains(&length) {
        Ok(())
    } else {
        Err(PasswordError::Length)
    }
}

/// Hash a password for storage.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    check_new(password)?;
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|error| PasswordError::Hash(error.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|error| PasswordError::Hash(error.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| PasswordError::Hash(error.to_string()))
}

/// Whether `password` matches `stored`. With no stored hash (an unknown account, or one
/// without a password) a fixed hash is checked instead, so the answer takes as long either way
/// and timing does not tell which accounts exist.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not-a-real-password").unwrap_or_default());
    let candidate = stored.unwrap_or(dummy.as_str());
    let matches = match PasswordHash::new(candidate) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    };
    matches && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let first = hash("correct horse battery").unwrap();
        let second = hash("correct horse battery").unwrap();
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert_ne!(first, second, "a fresh salt each time");
        assert!(verify("correct horse battery", Some(&first)));
        assert!(!verify("correct horse batterY", Some(&first)));
        assert!(!verify("correct horse battery", None), "no account, no match");
        assert!(!verify("anything", Some("not a PHC string")));
        assert!(matches!(hash("short"), Err(PasswordError::Length)));
    }
}
