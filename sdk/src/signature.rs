//! Webhook signature checks. Comparisons run in constant time so that response timing does not
//! leak how much of a forged signature was right.

use crate::bindings::switchboard::channel::crypto;
use subtle::ConstantTimeEq;

/// Compare two byte strings in constant time (for equal lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Decode lower- or upper-case hex. `None` when `text` is not valid hex.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Check a hex HMAC-SHA256 `signature` of `body` under `secret`. A signature that cannot be
/// a SHA-256 digest (not 64 hex digits) is refused before the body is hashed: forged requests
/// must cost as little as possible.
pub fn verify_hmac_sha256_hex(secret: &[u8], body: &[u8], signature_hex: &str) -> bool {
    let Some(given) = decode_hex(signature_hex.trim()).filter(|digest| digest.len() == 32) else {
        return false;
    };
    let expected = crypto::hmac_sha256(secret, body);
    constant_time_eq(&expected, &given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_hex("00ffA0"), Some(vec![0, 255, 160]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
    }
}
