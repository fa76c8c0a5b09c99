//! Failed logins per client address: at most [`MAX_FAILURES`] in a [`WINDOW`], then `429`
//! until the window has passed. (Per account, the lock lives in the database: see
//! `store::agents`.) Kept per node: an attacker spreading guesses over the nodes of a cluster
//! gains a factor of the node count, while the per-account lock still holds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per address in a window.
pub const MAX_FAILURES: u32 = 20;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Addresses tracked at most; the oldest windows are dropped first beyond it.
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginLimiter {
    /// `Err(wait)` while `ip` has used up its failures.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match failures.get(&ip) {
            Some((since, count)) if *count >= MAX_FAILURES && since.elapsed() < WINDOW => Err(WINDOW - since.elapsed()),
            _ => Ok(()),
        }
    }

    /// Count a failed login from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (since, _)| since.elapsed() < WINDOW);
        }
        let entry = failures.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    /// A successful login from `ip` clears its failures.
    pub fn succeeded(&self, ip: IpAddr) {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_limited_after_its_failures_and_others_are_not() {
        let limiter = LoginLimiter::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(limiter.check(ip).is_ok());
            limiter.failed(ip);
        }
        assert!(limiter.check(ip).is_err());
        assert!(limiter.check("192.0.2.8".parse().unwrap()).is_ok());
        limiter.succeeded(ip);
        assert!(limiter.check(ip).is_ok());
    }
}
