//! Pacing: sends per channel instance held to the provider's rate (a token bucket), and each
//! recipient held to their own, smaller bucket (WhatsApp's pair rate limit).
//!
//! The worker asks how many sends a channel may start now ([`Pacer::available`]) and claims
//! only that many of its rows, so a backlog drains at the allowed rate with rows waiting in the
//! database, not in memory, and nothing spins: when no channel has a token the worker sleeps
//! until the first one does ([`Pacer::next_token_in`]).
//!
//! Why not the `governor` crate: its GCRA answers "may I, now?" per cell, but the worker needs
//! "how many may I claim?" before claiming, and the recipients' buckets need pruning; both are
//! a few lines over the same arithmetic.

use crate::config::{ChannelConfig, Delivery, OutboxConfig};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Each configured channel's delivery settings and pacer.
#[derive(Debug, Default)]
pub struct Lanes {
    by_channel: HashMap<String, Lane>,
}

/// One channel instance's delivery settings and pacing.
#[derive(Debug)]
pub struct Lane {
    pub delivery: Delivery,
    pub pacer: Pacer,
}

impl Lanes {
    pub fn from_config(channels: &[ChannelConfig], outbox: &OutboxConfig) -> Self {
        let by_channel = channels
            .iter()
            .map(|channel| {
                let delivery = channel.delivery_settings(outbox);
                (channel.id.clone(), Lane { pacer: Pacer::new(&delivery), delivery })
            })
            .collect();
        Self { by_channel }
    }

    pub fn get(&self, channel_id: &str) -> Option<&Lane> {
        self.by_channel.get(channel_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Lane)> {
        self.by_channel.iter()
    }
}

/// One channel instance's pacing. Node-local: only the leader sends.
#[derive(Debug)]
pub struct Pacer {
    channel: Bucket,
    /// `None` when recipients are not paced apart.
    recipient: Option<Bucket>,
    state: Mutex<State>,
}

/// A token bucket's shape: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    rate: f64,
    burst: f64,
}

/// A bucket's level at a moment.
#[derive(Debug, Clone, Copy)]
struct Level {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(&self, now: Instant) -> Level {
        Level { tokens: self.burst, at: now }
    }

    fn refill(&self, level: &mut Level, now: Instant) {
        let elapsed = now.saturating_duration_since(level.at).as_secs_f64();
        level.tokens = (level.tokens + elapsed * self.rate).min(self.burst);
        level.at = now;
    }

    /// How long until `level` holds a whole token.
    fn wait(&self, level: &Level) -> Duration {
        if level.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - level.tokens) / self.rate)
        }
    }
}

#[derive(Debug)]
struct State {
    channel: Level,
    /// Recipients sent to recently; one whose bucket is full again is forgotten.
    recipients: HashMap<String, Level>,
}

/// Past this many remembered recipients, those whose buckets refilled are forgotten.
const RECIPIENTS_KEPT: usize = 10_000;

impl Pacer {
    pub fn new(delivery: &Delivery) -> Self {
        Self::starting_at(delivery, Instant::now())
    }

    fn starting_at(delivery: &Delivery, now: Instant) -> Self {
        let channel = Bucket { rate: delivery.rate_per_sec, burst: f64::from(delivery.burst.max(1)) };
        let recipient = (delivery.recipient_interval_ms > 0).then(|| Bucket {
            rate: 1000.0 / delivery.recipient_interval_ms as f64,
            burst: f64::from(delivery.recipient_burst.max(1)),
        });
        Self { channel, recipient, state: Mutex::new(State { channel: channel.full(now), recipients: HashMap::new() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whole sends that may start now.
    pub fn available(&self, now: Instant) -> u32 {
        let mut state = self.lock();
        self.channel.refill(&mut state.channel, now);
        state.channel.tokens.floor() as u32
    }

    /// How long until the next whole token (zero when one is there).
    pub fn next_token_in(&self, now: Instant) -> Duration {
        let mut state = self.lock();
        self.channel.refill(&mut state.channel, now);
        self.channel.wait(&state.channel)
    }

    /// Start a send to `recipient`: `Ok` takes a token from the channel's bucket and from the
    /// recipient's; `Err(wait)` when the recipient had too much too recently (or, which claiming
    /// by [`Pacer::available`] avoids, the channel has no token left): try again after `wait`.
    pub fn start(&self, recipient: &str, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        let state = &mut *state;
        self.channel.refill(&mut state.channel, now);
        let mut paced = None;
        if let Some(bucket) = &self.recipient {
            let mut level = state.recipients.get(recipient).copied().unwrap_or_else(|| bucket.full(now));
            bucket.refill(&mut level, now);
            let wait = bucket.wait(&level);
            if !wait.is_zero() {
                return Err(wait);
            }
            paced = Some(level);
        }
        let wait = self.channel.wait(&state.channel);
        if !wait.is_zero() {
            return Err(wait);
        }
        state.channel.tokens -= 1.0;
        if let (Some(bucket), Some(mut level)) = (&self.recipient, paced) {
            level.tokens -= 1.0;
            if state.recipients.len() >= RECIPIENTS_KEPT {
                state.recipients.retain(|_, kept| {
                    bucket.refill(kept, now);
                    kept.tokens < bucket.burst
                });
            }
            state.recipients.insert(recipient.to_string(), level);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(rate_per_sec: f64, burst: u32, recipient_interval_ms: u64) -> Delivery {
        Delivery { max_attempts: 3, max_age_ms: 60_000, rate_per_sec, burst, recipient_interval_ms, recipient_burst: 1, window_hours: 0, failover: None }
    }

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let pacer = Pacer::starting_at(&delivery(10.0, 5, 0), t0);
        assert_eq!(pacer.available(t0), 5);
        for n in 0..5 {
            assert!(pacer.start(&format!("r{n}"), t0).is_ok());
        }
        assert_eq!(pacer.available(t0), 0);
        assert!(pacer.start("r9", t0).is_err());
        let wait = pacer.next_token_in(t0);
        assert!((Duration::from_millis(99)..=Duration::from_millis(101)).contains(&wait), "{wait:?}");
        // One second later: ten more, capped by the burst of five.
        assert_eq!(pacer.available(t0 + Duration::from_secs(1)), 5);
        assert_eq!(pacer.available(t0 + Duration::from_millis(1250)), 5);
    }

    #[test]
    fn the_long_run_rate_is_the_configured_one() {
        let t0 = Instant::now();
        let pacer = Pacer::starting_at(&delivery(80.0, 80, 0), t0);
        let mut sent = 0u32;
        // Ask every 7 ms for 10 s, as a worker would.
        for step in 0..=(10_000 / 7) {
            let now = t0 + Duration::from_millis(step * 7);
            for _ in 0..pacer.available(now) {
                pacer.start("x", now).expect("a token was available");
                sent += 1;
            }
        }
        // The first burst plus 80/s.
        assert!((880 - 2..=880).contains(&sent), "{sent}");
    }

    #[test]
    fn one_recipient_is_paced_apart_from_the_rest() {
        let t0 = Instant::now();
        let pacer = Pacer::starting_at(&delivery(100.0, 100, 6_000), t0);
        assert!(pacer.start("alice", t0).is_ok());
        let wait = pacer.start("alice", t0 + Duration::from_secs(1)).expect_err("too soon for alice");
        assert!((Duration::from_millis(4999)..=Duration::from_millis(5001)).contains(&wait), "{wait:?}");
        assert!(pacer.start("bob", t0 + Duration::from_secs(1)).is_ok(), "others are not held up");
        assert!(pacer.start("alice", t0 + Duration::from_secs(6)).is_ok());
    }

    #[test]
    fn a_recipient_may_have_a_burst() {
        let t0 = Instant::now();
        let pacer = Pacer::starting_at(&Delivery { recipient_burst: 3, ..delivery(100.0, 100, 6_000) }, t0);
        for _ in 0..3 {
            assert!(pacer.start("alice", t0).is_ok());
        }
        assert!(pacer.start("alice", t0).is_err(), "the burst is spent");
        assert!(pacer.start("alice", t0 + Duration::from_secs(6)).is_ok(), "one more per interval");
    }
}
