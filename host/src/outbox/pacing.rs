//! Pacing: sends per channel instance held to the provider's rate (a token bucket), and each
//! recipient held to their own, smaller bucket (WhatsApp's pair rate limit).
//!
//! - **The channel's bucket lives in the database** (`outbox_buckets`): a claim takes a token
//!   for each row it claims ([`crate::store::Store::claim_paced`]), so a backlog drains at the
//!   allowed rate with rows waiting in the database, not in memory, and several nodes draining
//!   one PostgreSQL outbox share one bucket instead of each sending at the full rate. Nothing
//!   spins: when no channel has a token the worker sleeps until the first one does.
//! - **A recipient's bucket is kept in memory** by the node that sends ([`Pacer::start`]). A
//!   send too soon after the last one to that recipient is put back until it may go. With
//!   several nodes each keeps its own, so a recipient's burst may be spent once per node; the
//!   provider's pair-rate error (WhatsApp's 131056) is retryable, and `docs/delivery.md` says so.

use crate::config::{ChannelConfig, Delivery, OutboxConfig};
use crate::rate::Bucket;
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

impl Lane {
    /// The shape of the channel's shared bucket, from its delivery settings.
    pub fn bucket(&self) -> Bucket {
        Bucket { rate: self.delivery.rate_per_sec, burst: f64::from(self.delivery.burst.max(1)) }
    }
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

/// One channel instance's recipients, each paced apart. Node-local.
#[derive(Debug)]
pub struct Pacer {
    /// `None` when recipients are not paced apart.
    recipient: Option<Bucket>,
    /// Recipients sent to recently; one whose bucket is full again is forgotten.
    recipients: Mutex<HashMap<String, Level>>,
}

/// A bucket's level at a moment.
#[derive(Debug, Clone, Copy)]
struct Level {
    tokens: f64,
    at: Instant,
}

/// Past this many remembered recipients, those whose buckets refilled are forgotten.
const RECIPIENTS_KEPT: usize = 10_000;

fn refill(bucket: &Bucket, level: &mut Level, now: Instant) {
    level.tokens = bucket.refilled(level.tokens, now.saturating_duration_since(level.at).as_secs_f64());
    level.at = now;
}

impl Pacer {
    pub fn new(delivery: &Delivery) -> Self {
        let recipient = (delivery.recipient_interval_ms > 0).then(|| Bucket {
            rate: 1000.0 / delivery.recipient_interval_ms as f64,
            burst: f64::from(delivery.recipient_burst.max(1)),
        });
        Self { recipient, recipients: Mutex::new(HashMap::new()) }
    }

    /// Start a send to `recipient`: `Ok` takes a token from the recipient's bucket; `Err(wait)`
    /// when the recipient had too much too recently: try again after `wait`. (The channel's
    /// token was taken when the row was claimed.)
    pub fn start(&self, recipient: &str, now: Instant) -> Result<(), Duration> {
        let Some(bucket) = &self.recipient else {
            return Ok(());
        };
        let mut recipients = self.recipients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut level = recipients.get(recipient).copied().unwrap_or(Level { tokens: bucket.burst, at: now });
        refill(bucket, &mut level, now);
        let wait = bucket.secs_to_token(level.tokens);
        if wait > 0.0 {
            return Err(Duration::from_secs_f64(wait));
        }
        level.tokens -= 1.0;
        if recipients.len() >= RECIPIENTS_KEPT {
            recipients.retain(|_, kept| {
                refill(bucket, kept, now);
                kept.tokens < bucket.burst
            });
        }
        recipients.insert(recipient.to_string(), level);
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
    fn one_recipient_is_paced_apart_from_the_rest() {
        let t0 = Instant::now();
        let pacer = Pacer::new(&delivery(100.0, 100, 6_000));
        assert!(pacer.start("alice", t0).is_ok());
        let wait = pacer.start("alice", t0 + Duration::from_secs(1)).expect_err("too soon for alice");
        assert!((Duration::from_millis(4999)..=Duration::from_millis(5001)).contains(&wait), "{wait:?}");
        assert!(pacer.start("bob", t0 + Duration::from_secs(1)).is_ok(), "others are not held up");
        assert!(pacer.start("alice", t0 + Duration::from_secs(6)).is_ok());
    }

    #[test]
    fn unpaced_recipients_always_go() {
        let pacer = Pacer::new(&delivery(1.0, 1, 0));
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(pacer.start("alice", t0).is_ok());
        }
    }

    #[test]
    fn a_recipient_may_have_a_burst() {
        let t0 = Instant::now();
        let pacer = Pacer::new(&Delivery { recipient_burst: 3, ..delivery(100.0, 100, 6_000) });
        for _ in 0..3 {
            assert!(pacer.start("alice", t0).is_ok());
        }
        assert!(pacer.start("alice", t0).is_err(), "the burst is spent");
        assert!(pacer.start("alice", t0 + Duration::from_secs(6)).is_ok(), "one more per interval");
    }
}
