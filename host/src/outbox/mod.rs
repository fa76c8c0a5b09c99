//! The outbox worker: delivers queued replies through their channel's plugin and records
//! every attempt.
//!
//! - Retries ([`retry`]): exponential backoff with full jitter, the provider's `retry_after`
//!   honoured, attempts and age limited per channel, then a dead letter an agent may retry; a
//!   permanent failure (closed window, invalid recipient) fails at once with the provider's code.
//!   A plugin that traps or times out counts as retryable: the next build may be fixed, and the
//!   provider may not have seen the message.
//! - Failover ([`failover`]): a reply that cannot go out on its channel may go on another the
//!   contact has, once, with both attempts on the message.
//! - Pacing ([`pacing`]): each channel claims only as many rows as its token bucket allows, and
//!   a send to a recipient sent to too recently is put back until it may go.
//!
//! With several nodes on one PostgreSQL database, only the leader (see
//! [`crate::store::leader`]) runs this worker; the claim's lease and `SKIP LOCKED` keep a send
//! single even while leadership changes hands. What is guaranteed per channel is in
//! `docs/delivery.md`.

pub mod failover;
pub mod pacing;
pub mod retry;
pub mod windows;

use crate::config::OutboxConfig;
use crate::model::{SendFailure, SendReceipt};
use crate::plugins::activity::SendResult;
use crate::plugins::{ChannelPlugin, Channels, PluginError};
use crate::store::outbox::{AttemptOutcome, OutboxJob};
use crate::store::Store;
use crate::telemetry;
use futures_util::StreamExt;
use pacing::Lanes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tracing::Instrument;

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
pub async fn run(
    store: Store,
    channels: Arc<Channels>,
    lanes: Arc<Lanes>,
    settings: OutboxConfig,
    signal: OutboxSignal,
    mut shutdown: watch::Receiver<bool>,
) {
    let lanes = &*lanes;
    let poll = Duration::from_millis(settings.poll_interval_ms.max(10));
    let batch = settings.concurrency.max(1) as u32 * 4;
    let mut leadership = store.leadership();
    // When rows of channels no longer configured were last looked for (once a minute: such
    // rows fail when they come due, and retries come due later).
    let mut orphans_checked: Option<Instant> = None;
    loop {
        tokio::select! {
            () = leadership.wait_until_leader() => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        if *shutdown.borrow() {
            return;
        }
        if orphans_checked.is_none_or(|at| at.elapsed() >= ORPHAN_CHECK_EVERY) {
            // Rows of channels no longer configured fail visibly instead of waiting forever.
            if fail_orphans(&store, &channels, lanes, &settings).await {
                orphans_checked = Some(Instant::now());
            }
        }
        let now = Instant::now();
        let mut jobs = Vec::new();
        let mut more = false;
        let mut next_token = poll;
        for (channel_id, lane) in lanes.iter() {
            let room = lane.pacer.available(now).min(batch);
            if room == 0 {
                next_token = next_token.min(lane.pacer.next_token_in(now));
                continue;
            }
            match store.claim_outbox(room, settings.lease_ms as i64, Some(channel_id)).await {
                Ok(claimed) => {
                    more |= claimed.len() as u32 == room;
                    jobs.extend(claimed);
                }
                Err(error) => tracing::warn!(%error, channel = channel_id, "outbox: cannot claim work"),
            }
        }
        if !jobs.is_empty() {
            futures_util::stream::iter(jobs)
                .for_each_concurrent(settings.concurrency.max(1), |job| {
                    // The span carries the id of the API request that queued the reply.
                    let span = tracing::info_span!(
                        "outbox_send",
                        request_id = job.request_id.as_deref().unwrap_or_default(),
                        outbox_id = job.outbox_id,
                        attempt = job.attempt
                    );
                    deliver(&store, &channels, lanes, &settings, job).instrument(span)
                })
                .await;
            if more {
                continue;
            }
        }
        let wait = next_token.max(Duration::from_millis(1));
        tokio::select! {
            _ = tokio::time::timeout(wait, signal.0.notified()) => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
    }
}

const ORPHAN_CHECK_EVERY: Duration = Duration::from_secs(60);

/// Claim and fail the due rows of channels no longer in the config. Returns whether the check
/// ran to the end.
async fn fail_orphans(store: &Store, channels: &Channels, lanes: &Lanes, settings: &OutboxConfig) -> bool {
    let queued = match store.outbox_channels().await {
        Ok(queued) => queued,
        Err(error) => {
            tracing::warn!(%error, "outbox: cannot list the channels with queued replies");
            return false;
        }
    };
    for channel_id in queued.iter().filter(|id| lanes.get(id).is_none()) {
        match store.claim_outbox(1000, settings.lease_ms as i64, Some(channel_id)).await {
            Ok(jobs) => {
                for job in jobs {
                    deliver(store, channels, lanes, settings, job).await;
                }
            }
            Err(error) => {
                tracing::warn!(%error, channel = channel_id, "outbox: cannot claim work");
                return false;
            }
        }
    }
    true
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

async fn deliver(store: &Store, channels: &Channels, lanes: &Lanes, settings: &OutboxConfig, job: OutboxJob) {
    let (channel, lane) = match (channels.get(&job.channel_id), lanes.get(&job.channel_id)) {
        (Some(channel), Some(lane)) => (channel, lane),
        _ => {
            let failure = SendFailure {
                kind: "unknown_channel".into(),
                code: None,
                message: format!("channel `{}` is no longer configured", job.channel_id),
                retryable: false,
                retry_after_ms: None,
            };
            finish(store, channels, &job, AttemptOutcome::Failed { failure, dead: false }).await;
            return;
        }
    };
    if let Err(wait) = lane.pacer.start(&job.message.recipient.id, Instant::now()) {
        // Too soon for this recipient (or, rarely, no token): back in the queue for later,
        // without spending an attempt.
        let until = crate::clock::now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
        tracing::debug!(channel = job.channel_id, outbox_id = job.outbox_id, wait_ms = wait.as_millis() as u64, "paced: deferred");
        metrics::counter!(telemetry::OUTBOX_DEFERRED, "channel" => job.channel_id.clone()).increment(1);
        if let Err(error) = store.defer_outbox(&job, until).await {
            tracing::warn!(outbox_id = job.outbox_id, %error, "cannot put a paced reply back; its lease will return it");
        }
        return;
    }
    let now_ms = || crate::clock::now_ms();
    let outcome = match send(store, channel, &job).await {
        Ok(Ok(receipt)) => AttemptOutcome::Sent(receipt),
        Ok(Err(failure)) => retry::after_failure(failure, &job, &lane.delivery, settings, now_ms()),
        Err(plugin_error) => {
            tracing::error!(channel = job.channel_id, outbox_id = job.outbox_id, error = %plugin_error, "plugin send call failed");
            let failure = SendFailure {
                kind: format!("plugin_{}", plugin_error.reason()),
                code: None,
                message: plugin_error.to_string(),
                retryable: true,
                retry_after_ms: None,
            };
            retry::after_failure(failure, &job, &lane.delivery, settings, now_ms())
        }
    };
    let outcome = match outcome {
        AttemptOutcome::Failed { failure, dead } => match failover::plan(store, channels, &lane.delivery, &job, &failure, dead).await {
            Some(to) => AttemptOutcome::FailOver { failure, dead, to },
            None => AttemptOutcome::Failed { failure, dead },
        },
        other => other,
    };
    finish(store, channels, &job, outcome).await;
}

/// Log, count and record an attempt's outcome.
async fn finish(store: &Store, channels: &Channels, job: &OutboxJob, outcome: AttemptOutcome) {
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
        AttemptOutcome::FailOver { failure, to, .. } => tracing::warn!(
            channel = job.channel_id, message_id = job.message_id, attempt = job.attempt, kind = failure.kind,
            to = to.channel_id, "send failed; failing over"
        ),
    }
    let outcome_label = outcome.label();
    metrics::counter!(telemetry::OUTBOX_ATTEMPTS, "channel" => job.channel_id.clone(), "outcome" => outcome_label).increment(1);
    if let Some(channel) = channels.get(&job.channel_id) {
        let result = match &outcome {
            AttemptOutcome::Sent(_) => SendResult::Sent,
            AttemptOutcome::Retry { .. } => SendResult::Retry,
            AttemptOutcome::Failed { .. } | AttemptOutcome::FailOver { .. } => SendResult::Failed,
        };
        channel.activity.record_send(crate::clock::now_ms(), result);
    }
    if outcome_label == "dead" {
        metrics::counter!(telemetry::OUTBOX_DEAD_LETTERS, "channel" => job.channel_id.clone()).increment(1);
    }
    match store.finish_attempt(job, &outcome).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(outbox_id = job.outbox_id, "outbox claim expired before the result was recorded"),
        // The lease will expire and the row will be retried: at-least-once delivery.
        Err(error) => tracing::error!(outbox_id = job.outbox_id, %error, "cannot record send result"),
    }
}
