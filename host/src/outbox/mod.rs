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
//! With several nodes on one PostgreSQL database, every node runs this worker: a claim takes
//! rows with `FOR UPDATE SKIP LOCKED` under a lease, so no two nodes hold one row, and the
//! channel's bucket is a row all of them draw from, so the channel keeps to its rate however
//! many nodes send. What is guaranteed per channel is in `docs/delivery.md`.

pub mod failover;
pub mod pacing;
pub mod retry;
pub mod windows;

use crate::config::OutboxConfig;
use crate::model::{SendFailure, SendReceipt};
use crate::plugins::activity::SendResult;
use crate::plugins::{ChannelPlugin, Channels, PluginError};
use crate::store::outbox::{AttemptOutcome, AttemptResult, OutboxJob};
use crate::store::db::Backend;
use crate::store::Store;
use crate::telemetry;
use futures_util::StreamExt;
use pacing::Lanes;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tracing::Instrument;

/// Wakes the worker when a reply is queued.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The worker loop. On shutdown it stops claiming but finishes the sends it has started and
/// records their results, so a rolling restart does not leave replies to be sent again when
/// their lease runs out.
///
/// Work flows continuously: up to `concurrency` sends run at once, and when half of them have
/// finished the worker claims more (as many as each channel's bucket allows), instead of
/// waiting for a whole batch to end. Results go to [`record`], which writes every result that
/// finished meanwhile in one transaction.
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
    let concurrency = settings.concurrency.max(1);
    let (results, recorded) = mpsc::unbounded_channel();
    let recorder = tokio::spawn(record(store.clone(), recorded));
    let buckets: Vec<_> = lanes.iter().map(|(channel_id, lane)| (channel_id.as_str(), lane.bucket())).collect();
    if let Err(error) = store.ensure_buckets(&buckets).await {
        // Claims still work: a channel without a row starts full.
        tracing::warn!(%error, "outbox: cannot create the channels' rate buckets");
    }
    // When rows of channels no longer configured were last looked for (once a minute: such
    // rows fail when they come due, and retries come due later).
    let mut orphans_checked: Option<Instant> = None;
    let mut in_flight = futures_util::stream::FuturesUnordered::new();
    let mut waiting: VecDeque<OutboxJob> = VecDeque::new();
    // The claim under way, if any. It runs beside the sends (polled in the same `select!`), so
    // a claim's transaction never stalls the sends in flight or their results.
    let mut claiming: Option<std::pin::Pin<Box<dyn std::future::Future<Output = Claimed> + Send + '_>>> = None;
    // Claim again at once while claims come back full; otherwise after a wake-up or a poll.
    let mut claim_now = true;
    let mut next_claim = Instant::now();
    loop {
        let stopping = *shutdown.borrow();
        while !stopping
            && in_flight.len() < concurrency
            && let Some(job) = waiting.pop_front()
        {
            in_flight.push(deliver_traced(&store, &channels, lanes, &settings, &results, job));
        }
        if stopping && in_flight.is_empty() && claiming.is_none() {
            break;
        }
        // Keep half a round of claimed rows ready behind the sends, so a freed slot starts the
        // next send at once.
        if !stopping
            && claiming.is_none()
            && in_flight.len() + waiting.len() <= concurrency + concurrency / 2
            && (claim_now || Instant::now() >= next_claim)
        {
            let room = u32::try_from(2 * concurrency - in_flight.len() - waiting.len()).unwrap_or(u32::MAX);
            let check_orphans = orphans_checked.is_none_or(|at| at.elapsed() >= ORPHAN_CHECK_EVERY);
            let (store, channels, settings, results) = (&store, &*channels, &settings, &results);
            claiming = Some(Box::pin(async move {
                // Rows of channels no longer configured fail visibly instead of waiting forever.
                let orphans_checked = check_orphans && fail_orphans(store, channels, lanes, settings, results).await;
                let started = Instant::now();
                Claimed { orphans_checked, started, rows: claim(store, lanes, settings, room, poll).await }
            }));
            claim_now = false;
        }
        let wait = next_claim.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        tokio::select! {
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            claimed = async { claiming.as_mut().expect("polled only while claiming").await }, if claiming.is_some() => {
                claiming = None;
                if claimed.orphans_checked {
                    orphans_checked = Some(Instant::now());
                }
                let (rows, full, next_token) = claimed.rows;
                waiting.extend(rows);
                claim_now = full;
                // From when the claim read the buckets, not when it returned: with a burst of
                // one, a wait counted from the end would add the claim's own time to every
                // token and hold the channel below its rate.
                next_claim = claimed.started + next_token.max(Duration::from_millis(1));
            }
            _ = tokio::time::timeout(wait, signal.0.notified()), if !stopping && claiming.is_none() => claim_now = true,
            _ = shutdown.wait_for(|stopping| *stopping), if !stopping => {}
        }
    }
    // Rows claimed but not started go back at once, for another node or the next start,
    // instead of waiting out their lease.
    let now = crate::clock::now_ms();
    for job in waiting {
        if let Err(error) = store.defer_outbox(&job, now).await {
            tracing::warn!(outbox_id = job.outbox_id, %error, "cannot put an unstarted reply back; its lease will return it");
        }
    }
    // Every result is handed over; the recorder ends once it has written them.
    drop(claiming);
    drop(in_flight);
    drop(results);
    if let Err(error) = recorder.await {
        tracing::error!(%error, "outbox: the result recorder stopped");
    }
}

/// What one claim round brought back: whether the check for orphaned rows ran to the end, and
/// [`claim`]'s result.
struct Claimed {
    orphans_checked: bool,
    /// When the claim began (its buckets were read at about this instant).
    started: Instant,
    rows: (Vec<OutboxJob>, bool, Duration),
}

/// Claim up to `room` due rows across the channels, each within what its shared bucket holds.
/// Returns them, whether some channel had more than it got (claim again at once), and how soon
/// a bucket that is empty now gains a token (or `poll`).
async fn claim(store: &Store, lanes: &Lanes, settings: &OutboxConfig, room: u32, poll: Duration) -> (Vec<OutboxJob>, bool, Duration) {
    let started = Instant::now();
    let mut jobs = Vec::new();
    let mut full = false;
    let mut next_token = poll;
    for (channel_id, lane) in lanes.iter() {
        let left = room.saturating_sub(jobs.len() as u32);
        if left == 0 {
            full = true;
            break;
        }
        match store.claim_paced(channel_id, left, lane.bucket(), settings.lease_ms as i64, crate::clock::now_ms()).await {
            Ok(claimed) => {
                if claimed.next_token_in.is_zero() {
                    full |= claimed.more_rows;
                } else {
                    next_token = next_token.min(claimed.next_token_in);
                }
                jobs.extend(claimed.jobs);
            }
            Err(error) => tracing::warn!(%error, channel = channel_id, "outbox: cannot claim work"),
        }
    }
    metrics::histogram!(telemetry::OUTBOX_CLAIM).record(started.elapsed().as_secs_f64());
    (jobs, full, next_token)
}

/// [`deliver`] in a span that carries the id of the API request that queued the reply.
fn deliver_traced<'a>(
    store: &'a Store,
    channels: &'a Channels,
    lanes: &'a Lanes,
    settings: &'a OutboxConfig,
    results: &'a Results,
    job: OutboxJob,
) -> impl std::future::Future<Output = ()> + 'a {
    let span = tracing::info_span!(
        "outbox_send",
        request_id = job.request_id.as_deref().unwrap_or_default(),
        outbox_id = job.outbox_id,
        attempt = job.attempt
    );
    deliver(store, channels, lanes, settings, results, job).instrument(span)
}

/// A finished attempt on its way to be written, with who to tell once it is.
type Finished = (AttemptResult, oneshot::Sender<()>);

/// Where finished attempts go to be written.
type Results = mpsc::UnboundedSender<Finished>;

/// The most results written in one transaction.
const RESULTS_PER_COMMIT: usize = 128;

/// Write finished attempts as they come: every result that arrived while the previous write
/// ran goes into the next one, so under load one commit serves many sends, and when idle a
/// result is written at once. On PostgreSQL several such writes run at once ([`WRITERS`]): each
/// result is a handful of statements, and there a statement costs a network round trip, so one
/// writer at a time would cap the drain at its latency. If a batch cannot be written, each
/// result is tried alone, so one bad row does not hold back the others.
///
/// Each send is told when its result is written: until then it keeps its place among the
/// `concurrency` in flight, so a crash can leave no more than `concurrency` sends unrecorded
/// (the bound `docs/delivery.md` promises). Ends when the worker has stopped and all are
/// written.
async fn record(store: Store, mut recorded: mpsc::UnboundedReceiver<Finished>) {
    let writers = match store.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => WRITERS,
    };
    let mut writing = futures_util::stream::FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            batch = async {
                let mut batch = Vec::with_capacity(RESULTS_PER_COMMIT);
                recorded.recv_many(&mut batch, RESULTS_PER_COMMIT).await;
                batch
            }, if open && writing.len() < writers => {
                if batch.is_empty() {
                    open = false;
                } else {
                    writing.push(write_results(&store, batch));
                }
            }
            Some(()) = writing.next(), if !writing.is_empty() => {}
            else => break,
        }
    }
}

/// Results written at once on PostgreSQL, each its own transaction and connection. (On
/// SQLite there is one writer, so one at a time.) Their rows are disjoint (each its own outbox
/// row and message), so they do not wait on one another, except to append live events in
/// commit order.
const WRITERS: usize = 4;

/// Write one batch of results, then tell each send.
async fn write_results(store: &Store, batch: Vec<Finished>) {
    let mut results = Vec::with_capacity(batch.len());
    let acks: Vec<oneshot::Sender<()>> = batch
        .into_iter()
        .map(|(result, ack)| {
            results.push(result);
            ack
        })
        .collect();
    metrics::histogram!(telemetry::OUTBOX_RESULT_BATCH_SIZE).record(results.len() as f64);
    let started = Instant::now();
    let written = store.finish_attempts(&results).await;
    metrics::histogram!(telemetry::OUTBOX_RESULT_WRITE).record(started.elapsed().as_secs_f64());
    match written {
        Ok(owned) => {
            for (result, owned) in results.iter().zip(owned) {
                lost_claim(&result.job, owned);
            }
        }
        Err(error) => {
            tracing::warn!(%error, results = results.len(), "outbox: cannot record a batch of results; recording each alone");
            for result in &results {
                match store.finish_attempts(std::slice::from_ref(result)).await {
                    Ok(owned) => lost_claim(&result.job, owned.first().copied().unwrap_or(false)),
                    // The lease will expire and the row will be retried: at-least-once delivery.
                    Err(error) => tracing::error!(outbox_id = result.job.outbox_id, %error, "cannot record send result"),
                }
            }
        }
    }
    for ack in acks {
        // The send may have been dropped at shutdown; nobody to tell then.
        let _ = ack.send(());
    }
}

fn lost_claim(job: &OutboxJob, owned: bool) {
    if !owned {
        tracing::warn!(outbox_id = job.outbox_id, "outbox claim expired before the result was recorded");
    }
}

const ORPHAN_CHECK_EVERY: Duration = Duration::from_secs(60);

/// Claim and fail the due rows of channels no longer in the config. Returns whether the check
/// ran to the end.
async fn fail_orphans(store: &Store, channels: &Channels, lanes: &Lanes, settings: &OutboxConfig, results: &Results) -> bool {
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
                    deliver(store, channels, lanes, settings, results, job).await;
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

async fn deliver(store: &Store, channels: &Channels, lanes: &Lanes, settings: &OutboxConfig, results: &Results, job: OutboxJob) {
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
            finish(channels, results, job, AttemptOutcome::Failed { failure, dead: false }, crate::clock::now_ms()).await;
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
    let sent = send(store, channel, &job).await;
    // The attempt's end: its `finished_at`, and what a retry's delay counts from.
    let finished_at = crate::clock::now_ms();
    let outcome = match sent {
        Ok(Ok(receipt)) => AttemptOutcome::Sent(receipt),
        Ok(Err(failure)) => retry::after_failure(failure, &job, &lane.delivery, settings, finished_at),
        Err(plugin_error) => {
            tracing::error!(channel = job.channel_id, outbox_id = job.outbox_id, error = %plugin_error, "plugin send call failed");
            let failure = SendFailure {
                kind: format!("plugin_{}", plugin_error.reason()),
                code: None,
                message: plugin_error.to_string(),
                retryable: true,
                retry_after_ms: None,
            };
            retry::after_failure(failure, &job, &lane.delivery, settings, finished_at)
        }
    };
    let outcome = match outcome {
        AttemptOutcome::Failed { failure, dead } => match failover::plan(store, channels, &lane.delivery, &job, &failure, dead).await {
            Some(to) => AttemptOutcome::FailOver { failure, dead, to },
            None => AttemptOutcome::Failed { failure, dead },
        },
        other => other,
    };
    finish(channels, results, job, outcome, finished_at).await;
}

/// Log and count an attempt's outcome, hand it to the recorder and wait until it is written.
async fn finish(channels: &Channels, results: &Results, job: OutboxJob, outcome: AttemptOutcome, finished_at: i64) {
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
        channel.activity.record_send(finished_at, result);
    }
    if outcome_label == "dead" {
        metrics::counter!(telemetry::OUTBOX_DEAD_LETTERS, "channel" => job.channel_id.clone()).increment(1);
    }
    let (ack, written) = oneshot::channel();
    let result = AttemptResult { job, outcome, finished_at };
    let handed = Instant::now();
    if results.send((result, ack)).is_err() {
        // Only when the recorder died; the lease will expire and the row be sent again.
        tracing::error!("outbox: the result recorder is gone; this result is not recorded");
        return;
    }
    // An error means the recorder stopped without writing it (logged there).
    let _ = written.await;
    metrics::histogram!(telemetry::OUTBOX_RESULT_WAIT).record(handed.elapsed().as_secs_f64());
}
