//! Bearer tokens for sessions and personal API tokens: 32 random bytes, base64url, with a
//! prefix that says what kind of token it is (so a leaked one is recognisable in a secret
//! scanner). Only the SHA-256 digest of a token is stored.

use base64::Engine;
use sha2::{Digest, Sha256};

/// Which kind of token; stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// From a login; expires.
    Session,
    /// Named by the agent; lasts until revoked.
    Api,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Api => "api",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Self::Session => "sbs_",
            Self::Api => "sbp_",
        }
    }
}

/// A fresh token of `kind`; `None` only if the system has no randomness to give.
pub fn generate(kind: TokenKind) -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).ok()?;
    Some(format!("{}{}", kind.prefix(), base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// What is stored and looked up for `token`.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_digested() {
        let a = generate(TokenKind::Session).unwrap();
        let b = generate(TokenKind::Session).unwrap();
        assert!(a.starts_with("sbs_") && a.len() == 4 + 43, "{a}");
        assert!(generate(TokenKind::Api).unwrap().starts_with("sbp_"));
        assert_ne!(a, b);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(digest(&a).len(), 32);
    }
}
