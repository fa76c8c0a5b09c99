//! What a failed attempt leads to: another try after a backoff, or the end (a permanent
//! failure at once; a dead letter when attempts or time ran out).

use crate::config::{Delivery, OutboxConfig};
use crate::model::SendFailure;
use crate::store::outbox::{AttemptOutcome, OutboxJob};

/// The outcome of a failed attempt of `job` at `now_ms`.
///
/// A retryable failure is tried again after exponential backoff with full jitter, or after the
/// provider's `retry_after` when that is longer (HTTP 429, Telegram's `retry_after`, WhatsApp's
/// 130429 as the plugin reports them), while the channel's attempts last and the next try would
/// still be within its maximum age. Otherwise it is dead-lettered (an agent may retry it). A
/// failure the plugin marks not retryable fails at once with the provider's code and message.
pub fn after_failure(failure: SendFailure, job: &OutboxJob, delivery: &Delivery, settings: &OutboxConfig, now_ms: i64) -> AttemptOutcome {
    if !failure.retryable {
        return AttemptOutcome::Failed { failure, dead: false };
    }
    let attempt = job.attempt - job.retries_from;
    let delay = backoff_ms(settings, attempt, random_u64()).max(failure.retry_after_ms.unwrap_or(0));
    let next_attempt_at = now_ms.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
    let too_old = next_attempt_at.saturating_sub(job.queued_at) > delivery.max_age_ms;
    if attempt >= i64::from(delivery.max_attempts) || too_old {
        AttemptOutcome::Failed { failure, dead: true }
    } else {
        AttemptOutcome::Retry { failure, next_attempt_at }
    }
}

/// Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
/// Jitter"): uniformly random in `[0, min(cap, base·2^(attempt-1))]`, which spreads a burst's
/// retries furthest and finishes them soonest of the usual schemes. `random` picks the point.
pub fn backoff_ms(settings: &OutboxConfig, attempt: i64, random: u64) -> u64 {
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(u32::MAX).min(30);
    let ceiling = settings.base_backoff_ms.saturating_mul(1u64 << exponent).min(settings.max_backoff_ms);
    random % ceiling.saturating_add(1)
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // The OS's generator; if it fails (it does not on Linux), no jitter is still a valid backoff.
    let _ = getrandom::getrandom(&mut bytes);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OutboundContent, OutboundMessage};

    fn job(attempt: i64, queued_at: i64) -> OutboxJob {
        OutboxJob {
            outbox_id: 1,
            message_id: 1,
            channel_id: "c".into(),
            message: OutboundMessage {
                message_id: "1".into(),
                recipient: Default::default(),
                content: OutboundContent::Text { text: "x".into() },
                reply_to: None,
            },
            attempt,
            retries_from: 0,
            queued_at,
            request_id: None,
            claimed_at: queued_at,
        }
    }

    fn delivery(max_attempts: u32, max_age_ms: i64) -> Delivery {
        Delivery { max_attempts, max_age_ms, rate_per_sec: 10.0, burst: 10, recipient_interval_ms: 0, recipient_burst: 1, window_hours: 0, failover: None }
    }

    #[test]
    fn full_jitter_stays_under_a_growing_capped_ceiling() {
        let settings = OutboxConfig { base_backoff_ms: 1000, max_backoff_ms: 10_000, ..OutboxConfig::default() };
        assert_eq!(backoff_ms(&settings, 1, 0), 0, "full jitter may retry at once");
        assert_eq!(backoff_ms(&settings, 1, 1000), 1000);
        assert_eq!(backoff_ms(&settings, 1, 1001), 0, "wraps within [0, 1000]");
        assert_eq!(backoff_ms(&settings, 3, 4000), 4000);
        assert!(backoff_ms(&settings, 3, u64::MAX) <= 4000);
        assert!(backoff_ms(&settings, 30, u64::MAX) <= 10_000, "capped");
        let spread: std::collections::BTreeSet<u64> = (0..50).map(|_| backoff_ms(&settings, 4, random_u64())).collect();
        assert!(spread.len() > 25, "random points, not one: {spread:?}");
    }

    #[test]
    fn retry_after_attempts_age_and_permanence() {
        let settings = OutboxConfig::default();
        let now = 1_000_000;
        let limited = SendFailure { kind: "rate_limited".into(), code: Some("429".into()), message: "slow down".into(), retryable: true, retry_after_ms: Some(60_000) };
        match after_failure(limited.clone(), &job(1, now), &delivery(3, 3_600_000), &settings, now) {
            AttemptOutcome::Retry { next_attempt_at, .. } => assert!(next_attempt_at >= now + 60_000, "retry-after honoured"),
            other => panic!("expected a retry, got {other:?}"),
        }
        assert!(matches!(after_failure(limited.clone(), &job(3, now), &delivery(3, 3_600_000), &settings, now), AttemptOutcome::Failed { dead: true, .. }));
        let mut retried = job(3, now);
        retried.retries_from = 2;
        assert!(matches!(after_failure(limited.clone(), &retried, &delivery(3, 3_600_000), &settings, now), AttemptOutcome::Retry { .. }), "an agent's retry counts afresh");
        assert!(
            matches!(after_failure(limited.clone(), &job(1, now), &delivery(3, 30_000), &settings, now), AttemptOutcome::Failed { dead: true, .. }),
            "the next try would be past the maximum age"
        );
        let closed = SendFailure { kind: "window_closed".into(), code: Some("131047".into()), retryable: false, retry_after_ms: None, ..limited };
        match after_failure(closed, &job(1, now), &delivery(3, 3_600_000), &settings, now) {
            AttemptOutcome::Failed { failure, dead: false } => assert_eq!(failure.code.as_deref(), Some("131047")),
            other => panic!("expected a permanent failure, got {other:?}"),
        }
    }
}
