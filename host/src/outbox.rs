//! The outbox worker: delivers queued replies through their channel's plugin and records
//! every attempt.
//!
//! Retry policy: a failure the plugin marks retryable is tried again after exponential
//! backoff with jitter (or the provider's `retry-after`, when longer), up to
//! `outbox.max_attempts`, then dead-lettered. A non-retryable failure (closed window,
//! invalid recipient) fails the message at once. A plugin that traps or times out counts as
//! retryable: the next build may be fixed, and the provider may not have seen the message.
//!
//! With several nodes on one PostgreSQL database, only the leader (see
//! [`crate::store::leader`]) runs this worker; the claim's lease and `SKIP LOCKED` keep a send
//! single even while leadership changes hands.

use crate::config::OutboxConfig;
use crate::model::{SendFailure, SendReceipt};
use crate::plugins::activity::SendResult;
use crate::plugins::{ChannelPlugin, Channels, PluginError};
use crate::store::outbox::{AttemptOutcome, OutboxJob};
use crate::store::Store;
use crate::telemetry;
use futures_util::StreamExt;
use std::sync::Arc;
use tracing::Instrument;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Wakes the worker when a reply is queued.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The worker loop. On shutdown it stops claiming but finishes the sends it has started, so a
/// rolling restart does not leave replies to be sent again when their lease runs out.
pub async fn run(store: Store, channels: Arc<Channels>, settings: OutboxConfig, signal: OutboxSignal, mut shutdown: watch::Receiver<bool>) {
    let poll = Duration::from_millis(settings.poll_interval_ms.max(10));
    let mut leadership = store.leadership();
    loop {
        tokio::select! {
            () = leadership.wait_until_leader() => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match store.claim_outbox(settings.concurrency.max(1) as u32 * 4, settings.lease_ms as i64).await {
            Ok(jobs) if !jobs.is_empty() => {
                futures_util::stream::iter(jobs)
                    .for_each_concurrent(settings.concurrency.max(1), |job| {
                        // The span carries the id of the API request that queued the reply.
                        let span = tracing::info_span!(
                            "outbox_send",
                            request_id = job.request_id.as_deref().unwrap_or_default(),
                            outbox_id = job.outbox_id,
                            attempt = job.attempt
                        );
                        deliver(&store, &channels, &settings, job).instrument(span)
                    })
                    .await;
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "outbox: cannot claim work"),
        }
        tokio::select! {
            _ = tokio::time::timeout(poll, signal.0.notified()) => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
    }
}

/// One attempt through the channel's plugin: `mail.send` with the conversation's thread for
/// mail channels, `plugin.send` for the rest.
async fn send(store: &Store, channel: &ChannelPlugin, job: &OutboxJob) -> Result<Result<SendReceipt, SendFailure>, PluginError> {
    if !channel.sends_mail() {
        return channel.send(&job.message).await;
    }
    match store.mail_thread(job.message_id).await {
        Ok(thread) => channel.send_mail(&job.message, &thread).await,
        Err(error) => Ok(Err(SendFailure {
            kind: "unavailable".into(),
            code: None,
            message: format!("reading the conversation's thread failed: {error}"),
            retryable: true,
            retry_after_ms: None,
        })),
    }
}

async fn deliver(store: &Store, channels: &Channels, settings: &OutboxConfig, job: OutboxJob) {
    let outcome = match channels.get(&job.channel_id) {
        None => failed(
            SendFailure {
                kind: "unknown_channel".into(),
                code: None,
                message: format!("channel `{}` is no longer configured", job.channel_id),
                retryable: false,
                retry_after_ms: None,
            },
            &job,
            settings,
        ),
        Some(channel) => match send(store, channel, &job).await {
            Ok(Ok(receipt)) => AttemptOutcome::Sent(receipt),
            Ok(Err(failure)) => failed(failure, &job, settings),
            Err(plugin_error) => {
                tracing::error!(channel = job.channel_id, outbox_id = job.outbox_id, error = %plugin_error, "plugin send call failed");
                failed(
                    SendFailure {
                        kind: format!("plugin_{}", plugin_error.reason()),
                        code: None,
                        message: plugin_error.to_string(),
                        retryable: true,
                        retry_after_ms: None,
                    },
                    &job,
                    settings,
                )
            }
        },
    };
    match &outcome {
        AttemptOutcome::Sent(receipt) => {
            tracing::info!(channel = job.channel_id, message_id = job.message_id, external_id = receipt.external_id, "sent")
        }
        AttemptOutcome::Retry { failure, next_attempt_at } => tracing::warn!(
            channel = job.channel_id, message_id = job.message_id, attempt = job.attempt, kind = failure.kind,
            retry_in_ms = next_attempt_at - crate::clock::now_ms(), "send failed; will retry"
        ),
        AttemptOutcome::Failed { failure, dead } => tracing::warn!(
            channel = job.channel_id, message_id = job.message_id, attempt = job.attempt, kind = failure.kind, dead,
            "send failed permanently"
        ),
    }
    let outcome_label = match &outcome {
        AttemptOutcome::Sent(_) => "sent",
        AttemptOutcome::Retry { .. } => "retry",
        AttemptOutcome::Failed { dead: true, .. } => "dead",
        AttemptOutcome::Failed { .. } => "failed",
    };
    metrics::counter!(telemetry::OUTBOX_ATTEMPTS, "channel" => job.channel_id.clone(), "outcome" => outcome_label).increment(1);
    if let Some(channel) = channels.get(&job.channel_id) {
        let result = match &outcome {
            AttemptOutcome::Sent(_) => SendResult::Sent,
            AttemptOutcome::Retry { .. } => SendResult::Retry,
            AttemptOutcome::Failed { .. } => SendResult::Failed,
        };
        channel.activity.record_send(crate::clock::now_ms(), result);
    }
    if outcome_label == "dead" {
        metrics::counter!(telemetry::OUTBOX_DEAD_LETTERS, "channel" => job.channel_id.clone()).increment(1);
    }
    match store.finish_attempt(&job, &outcome).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(outbox_id = job.outbox_id, "outbox claim expired before the result was recorded"),
        // The lease will expire and the row will be retried: at-least-once delivery.
        Err(error) => tracing::error!(outbox_id = job.outbox_id, %error, "cannot record send result"),
    }
}

fn failed(failure: SendFailure, job: &OutboxJob, settings: &OutboxConfig) -> AttemptOutcome {
    if failure.retryable && job.attempt < i64::from(settings.max_attempts) {
        let delay = backoff_ms(settings, job.attempt).max(failure.retry_after_ms.unwrap_or(0));
        AttemptOutcome::Retry { next_attempt_at: crate::clock::now_ms() + delay as i64, failure }
    } else {
        let dead = failure.retryable;
        AttemptOutcome::Failed { failure, dead }
    }
}

/// Exponential backoff with ±25% jitter, so retries from a burst do not arrive together.
fn backoff_ms(settings: &OutboxConfig, attempt: i64) -> u64 {
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(u32::MAX).min(20);
    let base = settings.base_backoff_ms.saturating_mul(1u64 << exponent).min(settings.max_backoff_ms);
    let jitter_span = base / 2;
    let jitter = if jitter_span == 0 { 0 } else { pseudo_random() % jitter_span };
    base - base / 4 + jitter
}

fn pseudo_random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i64(crate::clock::now_ms());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let settings = OutboxConfig { base_backoff_ms: 1000, max_backoff_ms: 10_000, ..OutboxConfig::default() };
        let first = backoff_ms(&settings, 1);
        assert!((750..=1250).contains(&first), "{first}");
        let third = backoff_ms(&settings, 3);
        assert!((3000..=5000).contains(&third), "{third}");
        let capped = backoff_ms(&settings, 30);
        assert!((7500..=12_500).contains(&capped), "{capped}");
    }

    #[test]
    fn retryable_failures_retry_until_attempts_run_out() {
        let settings = OutboxConfig { max_attempts: 3, ..OutboxConfig::default() };
        let failure = SendFailure { kind: "rate_limited".into(), code: None, message: "429".into(), retryable: true, retry_after_ms: Some(60_000) };
        let mut job = OutboxJob {
            outbox_id: 1,
            message_id: 1,
            channel_id: "c".into(),
            message: crate::model::OutboundMessage {
                message_id: "1".into(),
                recipient: Default::default(),
                content: crate::model::OutboundContent::Text { text: "x".into() },
                reply_to: None,
            },
            attempt: 1,
            request_id: None,
            claimed_at: 0,
        };
        match failed(failure.clone(), &job, &settings) {
            AttemptOutcome::Retry { next_attempt_at, .. } => assert!(next_attempt_at >= crate::clock::now_ms() + 59_000),
            other => panic!("expected retry, got {other:?}"),
        }
        job.attempt = 3;
        assert!(matches!(failed(failure.clone(), &job, &settings), AttemptOutcome::Failed { dead: true, .. }));
        let permanent = SendFailure { retryable: false, ..failure };
        job.attempt = 1;
        assert!(matches!(failed(permanent, &job, &settings), AttemptOutcome::Failed { dead: false, .. }));
    }
}
