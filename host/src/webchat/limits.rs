//! Rate limits for visitors: per session (messages) and per client address (every request and
//! frame). Token buckets, kept per node in memory, like the login limiter: a visitor spreading
//! requests over a cluster's nodes gains a factor of the node count, no more.
//!
//! Hand-written rather than `governor`: a keyed bucket is twenty lines here, and `governor`
//! would bring a dozen crates (quanta, dashmap, …) for the same arithmetic.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; beyond it, full (idle) buckets are forgotten first.
const MAX_TRACKED: usize = 100_000;

/// A bucket per key holding up to `per_minute` tokens, refilled evenly over a minute.
pub struct RateLimiter<K> {
    per_minute: u32,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn per_minute(per_minute: u32) -> Self {
        Self { per_minute: per_minute.max(1), buckets: Mutex::new(HashMap::new()) }
    }

    /// Take one token for `key`, or `Err(wait)` until one is there.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(key) {
            // A full bucket is the same as no bucket: forgetting it loses nothing.
            buckets.retain(|_, (tokens, at)| *tokens + now.saturating_duration_since(*at).as_secs_f64() * per_second < capacity);
        }
        let (tokens, at) = buckets.entry(key.clone()).or_insert((capacity, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_and_others_are_not_touched() {
        let limiter = RateLimiter::per_minute(3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(&"a", start).is_ok());
        }
        let wait = limiter.check_at(&"a", start).unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(limiter.check_at(&"b", start).is_ok(), "another key has its own bucket");
        assert!(limiter.check_at(&"a", start + Duration::from_secs(21)).is_ok(), "refilled after a third of a minute");
        assert!(limiter.check_at(&"a", start + Duration::from_secs(21)).is_err());
    }
}
