//! The host side of `replay.claim`: one-time webhook tokens (Mailgun signs `timestamp + token`,
//! so a captured request stays validly signed until its timestamp goes stale).
//!
//! Two layers, so the answer is fast and still right across nodes and restarts:
//! - [`ReplayMemory`], per channel on this node: tokens whose requests this node stored. A
//!   claim of one of those is answered `false` at once, and the plugin refuses the request.
//! - the store: every claim is written in the same transaction as the request's events, under
//!   a unique key, so a token stored by another node, or before a restart, refuses the request
//!   at commit (`IngestReport::replayed`). A request that failed on our side claimed nothing,
//!   and the provider's retry goes through.

use crate::model::Claim;
use std::collections::HashMap;
use std::sync::Mutex;

/// Longest nonce a plugin may claim, and most claims in one call: a Mailgun token is 50 hex
/// characters and a request has one.
pub const MAX_NONCE_BYTES: usize = 256;
pub const MAX_CLAIMS_PER_CALL: usize = 8;
/// Tokens remembered per channel before expired ones are swept; past twice this, memory is
/// cleared and the store alone guards (it always does).
const SWEEP_AT: usize = 10_000;

/// Tokens this node stored for one channel, with when each may be forgotten.
#[derive(Debug, Default)]
pub struct ReplayMemory {
    seen: Mutex<HashMap<String, u64>>,
}

impl ReplayMemory {
    /// Whether a request with `nonce` was stored here and its claim has not expired.
    pub fn seen(&self, nonce: &str, now_ms: u64) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.get(nonce).is_some_and(|&expires| expires > now_ms)
    }

    /// Remember the claims of a request that was just stored.
    pub fn remember(&self, claims: &[Claim], now_ms: u64) {
        if claims.is_empty() {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, &mut expires| expires > now_ms);
            if seen.len() >= SWEEP_AT * 2 {
                seen.clear();
            }
        }
        for claim in claims {
            seen.insert(claim.nonce.clone(), claim.expires_at_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_stored_tokens_until_they_expire() {
        let memory = ReplayMemory::default();
        assert!(!memory.seen("t1", 0));
        memory.remember(&[Claim { nonce: "t1".into(), expires_at_ms: 100 }], 0);
        assert!(memory.seen("t1", 99));
        assert!(!memory.seen("t1", 100), "an expired claim is forgotten");
        assert!(!memory.seen("t2", 50));
    }

    #[test]
    fn sweeping_keeps_live_claims() {
        let memory = ReplayMemory::default();
        let stale: Vec<Claim> = (0..SWEEP_AT).map(|n| Claim { nonce: format!("old{n}"), expires_at_ms: 10 }).collect();
        memory.remember(&stale, 0);
        memory.remember(&[Claim { nonce: "live".into(), expires_at_ms: 1_000 }], 0);
        memory.remember(&[Claim { nonce: "new".into(), expires_at_ms: 1_000 }], 500);
        assert!(memory.seen("live", 500) && memory.seen("new", 500));
        assert_eq!(memory.seen.lock().unwrap().len(), 2, "expired claims were swept");
    }
}
