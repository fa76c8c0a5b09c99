//! The outbox: agent replies waiting for delivery, and the record of every attempt.
//!
//! A reply is written as a message plus an outbox row in one transaction, so once the API has
//! answered, a crash cannot lose it. Workers *claim* due rows with a lease; a row whose lease
//! runs out (its worker died mid-send) becomes due again. Results are written only by the
//! holder of the current claim (matched on the attempt number).

use super::db::{sql, Backend, Conn, Millis};
use super::delivery::{apply_early_statuses, note_status};
use super::ingest::announce_message;
use super::live::{LiveEventKind, PendingEvents};
use super::views::MessageView;
use super::{views, Store, StoreError};
use crate::model::{DeliveryStatus, Direction, OutboundContent, OutboundMessage, Party, SendFailure, SendReceipt};
use crate::rate::Bucket;
use sqlx::types::Json;
use sqlx::{Database, Encode, QueryBuilder, Type};
use std::time::Duration;

/// An agent's reply, as the API accepted it.
#[derive(Debug, Clone)]
pub struct NewReply {
    pub conversation_id: i64,
    /// Send through this channel instead of the conversation's latest one.
    pub channel_id: Option<String>,
    pub content: OutboundContent,
    pub reply_to: Option<String>,
    /// What the inbox shows, when it is not the content's own preview (a template's body with
    /// its parameters filled in, so agents read what the customer got).
    pub text: Option<String>,
    pub author: String,
    /// The API request that queued it, for logs.
    pub request_id: Option<String>,
}

/// What [`Store::claim_paced`] got.
#[derive(Debug)]
pub struct PacedClaim {
    pub jobs: Vec<OutboxJob>,
    /// Every row the bucket allowed was there: there may be more due.
    pub more_rows: bool,
    /// How long until the channel's bucket holds a whole token (zero when it still does).
    pub next_token_in: Duration,
}

/// One attempt's result, as [`Store::finish_attempts`] records it.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub job: OutboxJob,
    pub outcome: AttemptOutcome,
    /// When the attempt's call returned (Unix ms): its `finished_at`, which may be a little
    /// before the result is written, since results are written in batches.
    pub finished_at: i64,
}

/// A claimed outbox row.
#[derive(Debug, Clone)]
pub struct OutboxJob {
    pub outbox_id: i64,
    pub message_id: i64,
    pub channel_id: String,
    pub message: OutboundMessage,
    /// This claim's attempt number (1 for the first try).
    pub attempt: i64,
    /// Attempts before this number were spent before an agent's retry; the channel's
    /// `max_attempts` counts from here.
    pub retries_from: i64,
    /// When the reply was queued (its age limits retries).
    pub queued_at: i64,
    pub request_id: Option<String>,
    pub claimed_at: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Sent(SendReceipt),
    /// Try again at `next_attempt_at`.
    Retry { failure: SendFailure, next_attempt_at: i64 },
    /// Give up: `dead` when retries ran out, otherwise a permanent failure.
    Failed { failure: SendFailure, dead: bool },
    /// Give up on this channel and send it on `to` instead; when that cannot be (the contact
    /// is not there, or the reply failed over once already), [`AttemptOutcome::Failed`].
    FailOver { failure: SendFailure, dead: bool, to: FailoverTarget },
}

/// Where a failover sends a reply, and what (a template goes as its filled-in text).
#[derive(Debug, Clone)]
pub struct FailoverTarget {
    pub channel_id: String,
    pub content: OutboundContent,
}

impl Store {
    /// Accept a reply: store the message and its outbox row in one transaction.
    pub async fn queue_reply(&self, reply: &NewReply) -> Result<MessageView, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let mut events = PendingEvents::default();
        let view = queue_reply_on(&mut conn, reply, now, &mut events).await?;
        self.commit(tx, events).await?;
        Ok(view)
    }
}

/// How contact `contact_id` is reached on `channel_id` (their latest identity there): its id,
/// the recipient a plugin sends to, and whether they opted out there.
async fn identity_on(conn: &mut Conn<'_>, contact_id: i64, channel_id: &str) -> Result<Option<(i64, Party, bool)>, StoreError> {
    #[allow(clippy::type_complexity)]
    let identity: Option<(i64, String, Option<String>, Option<String>, Option<String>, Option<String>, bool)> = sql!(conn, query_as(
        "SELECT id, external_id, phone, email, display_name, username, opted_out FROM contact_identities
         WHERE contact_id = $1 AND channel_id = $2 ORDER BY updated_at DESC, id DESC LIMIT 1",
        contact_id,
        channel_id,
    ).fetch_optional)?;
    Ok(identity.map(|(id, external_id, phone, email, display_name, username, opted_out)| {
        (id, Party { id: external_id, phone, email, email_verified: false, display_name, username }, opted_out)
    }))
}

/// Store `reply` as a pending message with its outbox row, on `conn` (inside the caller's
/// transaction), queueing its live event.
pub(super) async fn queue_reply_on(conn: &mut Conn<'_>, reply: &NewReply, now: Millis, events: &mut PendingEvents) -> Result<MessageView, StoreError> {
    let (contact_id, last_channel_id): (i64, String) = sql!(conn, query_as(
        "SELECT contact_id, COALESCE(reply_channel_id, last_channel_id) FROM conversations WHERE id = $1",
        reply.conversation_id,
    ).fetch_optional)?
    .ok_or_else(|| StoreError::NotFound(format!("conversation {}", reply.conversation_id)))?;
    let channel_id = reply.channel_id.clone().unwrap_or(last_channel_id);
    let (identity_id, recipient, opted_out) = identity_on(conn, contact_id, &channel_id)
        .await?
        .ok_or_else(|| StoreError::Unreachable(format!("the contact cannot be reached on channel `{channel_id}`")))?;
    if opted_out {
        return Err(StoreError::OptedOut(format!("the contact opted out of messages on channel `{channel_id}`")));
    }
    let message_id: i64 = sql!(conn, query_scalar(
        "INSERT INTO messages (conversation_id, channel_id, identity_id, direction, kind, text, attachments, reply_to_external_id,
             author, status, status_rank, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, '[]', $7, $8, $9, $10, $11, $11) RETURNING id",
        reply.conversation_id,
        &channel_id,
        identity_id,
        Direction::Outbound.as_str(),
        reply.content.kind(),
        reply.text.clone().or_else(|| reply.content.preview_text()),
        &reply.reply_to,
        &reply.author,
        DeliveryStatus::Pending.as_str(),
        DeliveryStatus::Pending.rank(),
        now,
    ).fetch_one)?;
    let outbound = OutboundMessage {
        message_id: message_id.to_string(),
        recipient,
        content: reply.content.clone(),
        reply_to: reply.reply_to.clone(),
    };
    sql!(conn, execute(
        "INSERT INTO outbox (message_id, channel_id, payload, state, attempts, next_attempt_at, request_id, created_at, updated_at)
         VALUES ($1, $2, $3, 'pending', 0, $4, $5, $4, $4)",
        message_id,
        &channel_id,
        Json(&outbound),
        now,
        &reply.request_id,
    ))?;
    // The reply channel default stays the customer's: where they last wrote, not where we
    // last answered.
    sql!(conn, execute(
        "UPDATE conversations SET last_message_id = $1, last_message_at = $2, unread_count = 0, updated_at = $2
         WHERE id = $3",
        message_id,
        now,
        reply.conversation_id,
    ))?;
    note_status(conn, message_id, DeliveryStatus::Pending, now, None, None).await?;
    let view = views::message(conn, message_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("message {message_id}")))?;
    events.message(LiveEventKind::MessageCreated, &view)?;
    Ok(view)
}

impl Store {
    /// Claim up to `limit` due rows for `lease_ms`, of `channel_id` only when given. On
    /// PostgreSQL, rows another node is claiming at this moment are skipped rather than waited
    /// for (and never claimed twice).
    pub async fn claim_outbox(&self, limit: u32, lease_ms: i64, channel_id: Option<&str>) -> Result<Vec<OutboxJob>, StoreError> {
        let mut conn = self.db.write().await?;
        claim_on(&mut conn.conn(), self.db.backend(), crate::clock::now_ms(), limit, lease_ms, channel_id).await
    }

    /// Make sure each channel has its shared bucket, full to `burst` when new. Run when the
    /// worker starts, so that the first claims of nodes starting together find one row to
    /// lock instead of each creating its own full bucket.
    pub async fn ensure_buckets(&self, buckets: &[(&str, Bucket)]) -> Result<(), StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut conn = self.db.write().await?;
        for (channel_id, bucket) in buckets {
            sql!(conn, execute(
                "INSERT INTO outbox_buckets (channel_id, tokens, updated_at) VALUES ($1, $2, $3) ON CONFLICT (channel_id) DO NOTHING",
                *channel_id,
                bucket.burst,
                now,
            ))?;
        }
        Ok(())
    }

    /// Claim up to `room` due rows of `channel_id`, no more than the channel's shared bucket
    /// holds at `now_ms`, and take a token for each. The bucket's row is locked for the claim,
    /// so every node draining this database draws from the one bucket and the channel keeps to
    /// its rate however many nodes send. A claim that gets nothing writes nothing.
    pub async fn claim_paced(&self, channel_id: &str, room: u32, bucket: Bucket, lease_ms: i64, now_ms: i64) -> Result<PacedClaim, StoreError> {
        let backend = self.db.backend();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let lock = match backend {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE",
        };
        let stored: Option<(f64, Millis)> = sql!(conn, query_as(
            &format!("SELECT tokens, updated_at FROM outbox_buckets WHERE channel_id = $1 {lock}"),
            channel_id,
        ).fetch_optional)?;
        // A channel added since the worker started has no row yet: it starts full.
        let (tokens, at) = stored.map_or((bucket.burst, now_ms), |(tokens, at)| (tokens, at.0));
        let level = bucket.refilled(tokens, (now_ms - at) as f64 / 1000.0);
        let allowed = (level.max(0.0).floor() as u32).min(room);
        let jobs = if allowed == 0 { Vec::new() } else { claim_on(&mut conn, backend, now_ms, allowed, lease_ms, Some(channel_id)).await? };
        let left = level - jobs.len() as f64;
        if !jobs.is_empty() {
            sql!(conn, execute(
                "INSERT INTO outbox_buckets (channel_id, tokens, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (channel_id) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
                channel_id,
                left,
                Millis(now_ms.max(at)),
            ))?;
            tx.commit().await?;
        }
        let more_rows = jobs.len() as u32 == allowed && allowed > 0;
        Ok(PacedClaim { jobs, more_rows, next_token_in: Duration::from_secs_f64(bucket.secs_to_token(left)) })
    }

    /// Put a claimed row back, due at `until`, without spending its attempt (pacing held it).
    pub async fn defer_outbox(&self, job: &OutboxJob, until: i64) -> Result<bool, StoreError> {
        let mut conn = self.db.write().await?;
        Ok(sql!(conn, execute(
            "UPDATE outbox SET state = 'pending', attempts = attempts - 1, next_attempt_at = $1, lease_until = NULL, updated_at = $2
             WHERE id = $3 AND attempts = $4 AND state = 'sending'",
            Millis(until),
            Millis(crate::clock::now_ms()),
            job.outbox_id,
            job.attempt,
        ))? == 1)
    }

    /// The channels that have replies waiting or being sent.
    pub async fn outbox_channels(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.db.read().await?;
        Ok(sql!(conn, query_scalar("SELECT DISTINCT channel_id FROM outbox WHERE state IN ('pending', 'sending')").fetch_all)?)
    }

    /// The earliest time a pending row becomes due, if any.
    pub async fn next_outbox_due(&self) -> Result<Option<i64>, StoreError> {
        let mut conn = self.db.read().await?;
        let due: Option<Millis> = sql!(conn, query_scalar(
            "SELECT MIN(CASE WHEN state = 'pending' THEN next_attempt_at ELSE lease_until END) FROM outbox
             WHERE state IN ('pending', 'sending')"
        ).fetch_one)?;
        Ok(due.map(|at| at.0))
    }

    /// Record an attempt's outcome. Returns false when the claim was lost (another worker took
    /// the row after our lease ran out), in which case nothing is written.
    pub async fn finish_attempt(&self, job: &OutboxJob, outcome: &AttemptOutcome) -> Result<bool, StoreError> {
        let result = AttemptResult { job: job.clone(), outcome: outcome.clone(), finished_at: crate::clock::now_ms() };
        let owned = self.finish_attempts(&[result]).await?;
        Ok(owned.first().copied().unwrap_or(false))
    }

    /// Record many attempts' outcomes in one transaction (the outbox worker's group commit:
    /// one commit, and on PostgreSQL one WAL flush, for every result that finished meanwhile).
    /// Returns, for each, whether its claim still held; a lost claim writes nothing.
    pub async fn finish_attempts(&self, results: &[AttemptResult]) -> Result<Vec<bool>, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let mut events = PendingEvents::default();
        let mut attempts = Attempts::default();
        let owned = finish_on(&mut conn, results, now, &mut attempts, &mut events).await?;
        attempts.insert(&mut conn).await?;
        self.commit(tx, events).await?;
        Ok(owned)
    }
}

/// [`Store::finish_attempts`] on `conn`, inside the caller's transaction. A failover is
/// written result by result; every other result's outbox row is settled by one statement for
/// the batch, and the changed messages are read back for the live stream by one more, so a
/// batch costs a few statements per result rather than five or more (each a round trip on
/// PostgreSQL).
async fn finish_on(
    conn: &mut Conn<'_>,
    results: &[AttemptResult],
    now: Millis,
    attempts: &mut Attempts,
    events: &mut PendingEvents,
) -> Result<Vec<bool>, StoreError> {
    let mut owned = vec![false; results.len()];
    // Each result's outcome once failovers are settled: `None` when it needs nothing more.
    let mut settled: Vec<Option<std::borrow::Cow<'_, AttemptOutcome>>> = Vec::with_capacity(results.len());
    for (i, AttemptResult { job, outcome, finished_at }) in results.iter().enumerate() {
        let AttemptOutcome::FailOver { failure, dead, to } = outcome else {
            settled.push(Some(std::borrow::Cow::Borrowed(outcome)));
            continue;
        };
        match fail_over(conn, job, failure, to, now, events).await? {
            FailedOver::Yes => {
                attempts.push(job, "failed_over", Some(failure), None, Millis(*finished_at));
                owned[i] = true;
                settled.push(None);
            }
            FailedOver::ClaimLost => settled.push(None),
            FailedOver::Cannot(why) => {
                let message = format!("{} (no failover to `{}`: {why})", failure.message, to.channel_id);
                let failure = SendFailure { message, ..failure.clone() };
                settled.push(Some(std::borrow::Cow::Owned(AttemptOutcome::Failed { failure, dead: *dead })));
            }
        }
    }
    let rows: Vec<OutboxSettle<'_>> = results
        .iter()
        .zip(&settled)
        .filter_map(|(result, outcome)| outcome.as_deref().map(|outcome| OutboxSettle::new(&result.job, outcome)))
        .collect();
    let settled_ids = settle_outbox(conn, &rows, now).await?;
    let mut changed = Vec::new();
    let mut sent = Vec::new();
    for (i, (result, outcome)) in results.iter().zip(&settled).enumerate() {
        let Some(outcome) = outcome.as_deref() else { continue };
        let job = &result.job;
        if !settled_ids.contains(&job.outbox_id) {
            continue;
        }
        owned[i] = true;
        let (next_attempt_at, failure) = outcome_row(outcome);
        attempts.push(job, outcome.label(), failure, next_attempt_at, Millis(result.finished_at));
        match outcome {
            AttemptOutcome::Sent(receipt) => {
                sent.push((job, receipt));
                changed.push(job.message_id);
            }
            AttemptOutcome::Retry { .. } => {}
            AttemptOutcome::Failed { failure, .. } | AttemptOutcome::FailOver { failure, .. } => {
                let code = failure.code.as_deref().unwrap_or(&failure.kind);
                let failed = sql!(conn, execute(
                    "UPDATE messages SET status = 'failed', status_rank = $1, error_code = $2, error_message = $3, updated_at = $4
                     WHERE id = $5 AND status_rank < $1",
                    DeliveryStatus::Failed.rank(),
                    code,
                    &failure.message,
                    now,
                    job.message_id,
                ))? == 1;
                if failed {
                    note_status(conn, job.message_id, DeliveryStatus::Failed, now, None, Some(code)).await?;
                }
                changed.push(job.message_id);
            }
        }
    }
    for chunk in sent.chunks(RECEIPTS_PER_STATEMENT) {
        record_receipts(conn, chunk, now, events).await?;
    }
    // The changed messages as they now read, announced in the order their results came.
    let views: std::collections::HashMap<i64, MessageView> =
        views::messages_by_id(conn, &changed).await?.into_iter().map(|view| (view.id, view)).collect();
    for message_id in changed {
        let view = views.get(&message_id).ok_or_else(|| StoreError::NotFound(format!("message {message_id}")))?;
        events.message(LiveEventKind::MessageUpdated, view)?;
    }
    Ok(owned)
}

/// The outbox row's new state for an outcome, its next attempt time and its failure.
fn outcome_row(outcome: &AttemptOutcome) -> (Option<Millis>, Option<&SendFailure>) {
    match outcome {
        AttemptOutcome::Sent(_) => (None, None),
        AttemptOutcome::Retry { failure, next_attempt_at } => (Some(Millis(*next_attempt_at)), Some(failure)),
        AttemptOutcome::Failed { failure, .. } | AttemptOutcome::FailOver { failure, .. } => (None, Some(failure)),
    }
}

/// One outbox row to settle, still held by this claim (`attempts`).
struct OutboxSettle<'a> {
    outbox_id: i64,
    attempt: i64,
    state: &'static str,
    next_attempt_at: Option<Millis>,
    last_error: Option<&'a str>,
}

impl<'a> OutboxSettle<'a> {
    fn new(job: &OutboxJob, outcome: &'a AttemptOutcome) -> Self {
        let state = match outcome {
            AttemptOutcome::Sent(_) => "sent",
            AttemptOutcome::Retry { .. } => "pending",
            AttemptOutcome::Failed { dead: true, .. } | AttemptOutcome::FailOver { dead: true, .. } => "dead",
            AttemptOutcome::Failed { .. } | AttemptOutcome::FailOver { .. } => "failed",
        };
        let (next_attempt_at, failure) = outcome_row(outcome);
        Self { outbox_id: job.outbox_id, attempt: job.attempt, state, next_attempt_at, last_error: failure.map(|f| f.message.as_str()) }
    }
}

/// Rows per settling statement: five bound values each, well under either backend's limit.
const SETTLES_PER_STATEMENT: usize = 256;

/// Settle `rows` whose claim still holds (same attempt, still `sending`); returns the ids of
/// those it settled. A row another worker has claimed since is left alone.
async fn settle_outbox(conn: &mut Conn<'_>, rows: &[OutboxSettle<'_>], now: Millis) -> Result<std::collections::HashSet<i64>, StoreError> {
    fn update<'a, DB: Database>(rows: &'a [OutboxSettle<'a>], now: Millis) -> QueryBuilder<'a, DB>
    where
        &'a str: Encode<'a, DB> + Type<DB>,
        Option<&'a str>: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
        Millis: Encode<'a, DB> + Type<DB>,
        Option<Millis>: Encode<'a, DB> + Type<DB>,
    {
        let mut builder = QueryBuilder::new("WITH v (id, attempts, state, next_at, last_error) AS (");
        builder.push_values(rows, |mut row, settle| {
            row.push_bind(settle.outbox_id)
                .push_bind(settle.attempt)
                .push_bind(settle.state)
                .push_bind(settle.next_attempt_at)
                .push_bind(settle.last_error);
        });
        builder.push(
            ") UPDATE outbox SET state = v.state, next_attempt_at = COALESCE(v.next_at, outbox.next_attempt_at), lease_until = NULL,
                 last_error = v.last_error, updated_at = ",
        );
        builder.push_bind(now);
        builder.push(" FROM v WHERE outbox.id = v.id AND outbox.attempts = v.attempts AND outbox.state = 'sending' RETURNING outbox.id");
        builder
    }
    let mut settled = std::collections::HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(SETTLES_PER_STATEMENT) {
        let ids: Vec<i64> = match conn.conn() {
            Conn::Sqlite(c) => update::<sqlx::Sqlite>(chunk, now).build_query_scalar().fetch_all(c).await?,
            Conn::Postgres(c) => update::<sqlx::Postgres>(chunk, now).build_query_scalar().fetch_all(c).await?,
        };
        settled.extend(ids);
    }
    Ok(settled)
}

impl AttemptOutcome {
    /// The outcome as the attempt history and metrics name it.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Sent(_) => "sent",
            Self::Retry { .. } => "retry",
            Self::Failed { dead: true, .. } => "dead",
            Self::Failed { .. } => "failed",
            Self::FailOver { .. } => "failed_over",
        }
    }
}

/// The attempts one transaction finishes, inserted together at its end: one statement per
/// [`ATTEMPTS_PER_STATEMENT`] instead of one per attempt.
#[derive(Default)]
struct Attempts(Vec<AttemptRow>);

/// One finished attempt of a job, on the channel it was made on.
struct AttemptRow {
    outbox_id: i64,
    attempt: i64,
    started_at: Millis,
    finished_at: Millis,
    outcome: &'static str,
    error_kind: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    retry_at: Option<Millis>,
    channel_id: String,
}

/// Ten columns a row: well under either backend's limit on bound parameters.
const ATTEMPTS_PER_STATEMENT: usize = 256;

impl Attempts {
    fn push(&mut self, job: &OutboxJob, outcome: &'static str, failure: Option<&SendFailure>, retry_at: Option<Millis>, finished_at: Millis) {
        self.0.push(AttemptRow {
            outbox_id: job.outbox_id,
            attempt: job.attempt,
            started_at: Millis(job.claimed_at),
            finished_at,
            outcome,
            error_kind: failure.map(|f| f.kind.clone()),
            error_code: failure.and_then(|f| f.code.clone()),
            error_message: failure.map(|f| f.message.clone()),
            retry_at,
            channel_id: job.channel_id.clone(),
        });
    }

    async fn insert(&self, conn: &mut Conn<'_>) -> Result<(), StoreError> {
        for chunk in self.0.chunks(ATTEMPTS_PER_STATEMENT) {
            match conn.conn() {
                Conn::Sqlite(c) => insert_attempts::<sqlx::Sqlite>(chunk).build().execute(c).await?.rows_affected(),
                Conn::Postgres(c) => insert_attempts::<sqlx::Postgres>(chunk).build().execute(c).await?.rows_affected(),
            };
        }
        Ok(())
    }
}

fn insert_attempts<'a, DB: Database>(rows: &'a [AttemptRow]) -> QueryBuilder<'a, DB>
where
    &'a str: Encode<'a, DB> + Type<DB>,
    Option<&'a str>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    Millis: Encode<'a, DB> + Type<DB>,
    Option<Millis>: Encode<'a, DB> + Type<DB>,
{
    let mut builder = QueryBuilder::default();
    builder.push(
        "INSERT INTO delivery_attempts (outbox_id, attempt, started_at, finished_at, outcome, error_kind, error_code, error_message, retry_at, channel_id) ",
    );
    builder.push_values(rows, |mut row, attempt| {
        row.push_bind(attempt.outbox_id)
            .push_bind(attempt.attempt)
            .push_bind(attempt.started_at)
            .push_bind(attempt.finished_at)
            .push_bind(attempt.outcome)
            .push_bind(attempt.error_kind.as_deref())
            .push_bind(attempt.error_code.as_deref())
            .push_bind(attempt.error_message.as_deref())
            .push_bind(attempt.retry_at)
            .push_bind(attempt.channel_id.as_str());
    });
    builder
}

/// How a failover went.
enum FailedOver {
    Yes,
    ClaimLost,
    /// Not possible; why, for the failure's message.
    Cannot(String),
}

/// Move `job`'s reply to `to`'s channel, to the contact's identity there: the outbox row is due
/// at once there with a fresh set of attempts, the attempt is recorded as `failed_over` on the
/// channel it failed on, and the message says where it came from and why. Once per message,
/// so two channels that fail over to each other cannot pass a reply back and forth.
async fn fail_over(
    conn: &mut Conn<'_>,
    job: &OutboxJob,
    failure: &SendFailure,
    to: &FailoverTarget,
    now: Millis,
    events: &mut PendingEvents,
) -> Result<FailedOver, StoreError> {
    let (from, contact_id): (Option<String>, i64) = sql!(conn, query_as(
        "SELECT m.failover_from, c.contact_id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1",
        job.message_id,
    ).fetch_one)?;
    if let Some(from) = from {
        return Ok(FailedOver::Cannot(format!("it failed over from `{from}` already")));
    }
    let Some((identity_id, recipient, opted_out)) = identity_on(conn, contact_id, &to.channel_id).await? else {
        return Ok(FailedOver::Cannot("the contact has no identity there".into()));
    };
    if opted_out {
        return Ok(FailedOver::Cannot("the contact opted out there".into()));
    }
    let payload = OutboundMessage {
        message_id: job.message.message_id.clone(),
        recipient,
        content: to.content.clone(),
        // The provider id replied to belongs to the first channel.
        reply_to: None,
    };
    let owned = sql!(conn, execute(
        "UPDATE outbox SET state = 'pending', channel_id = $1, payload = $2, next_attempt_at = $3, retries_from = attempts,
             lease_until = NULL, last_error = $4, updated_at = $3
         WHERE id = $5 AND attempts = $6 AND state = 'sending'",
        &to.channel_id,
        Json(&payload),
        now,
        &failure.message,
        job.outbox_id,
        job.attempt,
    ))? == 1;
    if !owned {
        return Ok(FailedOver::ClaimLost);
    }
    let code = failure.code.as_deref().unwrap_or(&failure.kind);
    sql!(conn, execute(
        "UPDATE messages SET channel_id = $1, identity_id = $2, failover_from = $3, failover_code = $4, updated_at = $5 WHERE id = $6",
        &to.channel_id,
        identity_id,
        &job.channel_id,
        code,
        now,
        job.message_id,
    ))?;
    announce_message(conn, LiveEventKind::MessageUpdated, job.message_id, events).await?;
    Ok(FailedOver::Yes)
}

/// Receipts per statement: four bound values a row at most.
const RECEIPTS_PER_STATEMENT: usize = 256;

/// Record the provider's ids for sent messages, a few statements for all of them (each
/// statement is a round trip on PostgreSQL and ~50 µs of sqlx on SQLite):
/// 1. one read: each message's rank now, whether the provider's echo of the send (Messenger)
///    was stored as a message of its own before we got here, and whether statuses for it
///    arrived before its id did;
/// 2. echoes folded into our messages (rare, one by one);
/// 3. one update recording the ids, and the statuses where they move forward (the id is
///    recorded even if a status webhook raced ahead);
/// 4. one insert of the status-history rows for the statuses that moved;
/// 5. early statuses applied (rare, one by one).
async fn record_receipts(conn: &mut Conn<'_>, sent: &[(&OutboxJob, &SendReceipt)], now: Millis, events: &mut PendingEvents) -> Result<(), StoreError> {
    if sent.is_empty() {
        return Ok(());
    }
    fn read<'a, DB: Database>(sent: &'a [(&'a OutboxJob, &'a SendReceipt)]) -> QueryBuilder<'a, DB>
    where
        &'a str: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
    {
        let mut builder = QueryBuilder::new("WITH v (id, channel_id, external_id) AS (");
        builder.push_values(sent, |mut row, (job, receipt)| {
            row.push_bind(job.message_id).push_bind(job.channel_id.as_str()).push_bind(receipt.external_id.as_str());
        });
        builder.push(
            ") SELECT v.id, m.status_rank,
                 (SELECT e.id FROM messages e WHERE e.channel_id = v.channel_id AND e.external_id = v.external_id AND e.id <> v.id),
                 EXISTS (SELECT 1 FROM early_statuses s WHERE s.channel_id = v.channel_id AND s.external_id = v.external_id)
             FROM v JOIN messages m ON m.id = v.id",
        );
        builder
    }
    fn update<'a, DB: Database>(sent: &'a [(&'a OutboxJob, &'a SendReceipt)], now: Millis) -> QueryBuilder<'a, DB>
    where
        &'a str: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
        Millis: Encode<'a, DB> + Type<DB>,
    {
        let mut builder = QueryBuilder::new("WITH v (id, external_id, status_rank, status) AS (");
        builder.push_values(sent, |mut row, (job, receipt)| {
            row.push_bind(job.message_id)
                .push_bind(receipt.external_id.as_str())
                .push_bind(receipt.status.rank())
                .push_bind(receipt.status.as_str());
        });
        builder.push(") UPDATE messages SET external_id = v.external_id, updated_at = ");
        builder.push_bind(now);
        builder.push(
            ", status = CASE WHEN messages.status_rank < v.status_rank THEN v.status ELSE messages.status END,
               status_rank = CASE WHEN messages.status_rank < v.status_rank THEN v.status_rank ELSE messages.status_rank END
             FROM v WHERE messages.id = v.id",
        );
        builder
    }
    fn statuses<'a, DB: Database>(moved: &'a [(i64, DeliveryStatus)], now: Millis) -> QueryBuilder<'a, DB>
    where
        &'a str: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
        Millis: Encode<'a, DB> + Type<DB>,
    {
        let mut builder = QueryBuilder::new("INSERT INTO message_statuses (message_id, status, at) ");
        builder.push_values(moved, |mut row, (message_id, status)| {
            row.push_bind(*message_id).push_bind(status.as_str()).push_bind(now);
        });
        builder
    }

    #[allow(clippy::type_complexity)]
    let found: Vec<(i64, i64, Option<i64>, bool)> = match conn.conn() {
        Conn::Sqlite(c) => read::<sqlx::Sqlite>(sent).build_query_as().fetch_all(c).await?,
        Conn::Postgres(c) => read::<sqlx::Postgres>(sent).build_query_as().fetch_all(c).await?,
    };
    let found: std::collections::HashMap<i64, (i64, Option<i64>, bool)> =
        found.into_iter().map(|(id, rank, echo, early)| (id, (rank, echo, early))).collect();
    for (job, _) in sent {
        if let Some((_, Some(echo_id), _)) = found.get(&job.message_id) {
            sql!(conn, execute("UPDATE conversations SET last_message_id = $1 WHERE last_message_id = $2", job.message_id, *echo_id))?;
            sql!(conn, execute("DELETE FROM message_statuses WHERE message_id = $1", *echo_id))?;
            sql!(conn, execute("DELETE FROM messages WHERE id = $1", *echo_id))?;
        }
    }
    match conn.conn() {
        Conn::Sqlite(c) => update::<sqlx::Sqlite>(sent, now).build().execute(c).await?.rows_affected(),
        Conn::Postgres(c) => update::<sqlx::Postgres>(sent, now).build().execute(c).await?.rows_affected(),
    };
    let mut moved = Vec::new();
    for (job, receipt) in sent {
        let Some((rank, _, _)) = found.get(&job.message_id) else { continue };
        if *rank >= receipt.status.rank() {
            continue;
        }
        if receipt.status == DeliveryStatus::Read {
            // A read rolls up into the conversation: the one-by-one path does that.
            let read = note_status(conn, job.message_id, receipt.status, now, None, None).await?;
            super::delivery::announce_reads(conn, read, events).await?;
        } else {
            moved.push((job.message_id, receipt.status));
        }
    }
    if !moved.is_empty() {
        match conn.conn() {
            Conn::Sqlite(c) => statuses::<sqlx::Sqlite>(&moved, now).build().execute(c).await?.rows_affected(),
            Conn::Postgres(c) => statuses::<sqlx::Postgres>(&moved, now).build().execute(c).await?.rows_affected(),
        };
    }
    for (job, receipt) in sent {
        if let Some((_, _, true)) = found.get(&job.message_id) {
            apply_early_statuses(conn, &job.channel_id, &receipt.external_id, job.message_id, now, events).await?;
        }
    }
    Ok(())
}

/// Claim up to `limit` due rows (of `channel_id`, or of every channel), leased until
/// `now + lease_ms`: rows whose previous claim's lease ran out first, then pending rows that
/// are due, oldest first. Each kind is read in index order (`outbox_claim`) and stops at the
/// limit, so a claim costs the rows it takes, not the backlog behind them.
async fn claim_on(conn: &mut Conn<'_>, backend: Backend, now: i64, limit: u32, lease_ms: i64, channel_id: Option<&str>) -> Result<Vec<OutboxJob>, StoreError> {
    let sql = format!(
        "WITH expired AS (
             SELECT id, 0 AS rank, next_attempt_at FROM outbox WHERE {channel} AND state = 'sending' AND lease_until < $1
             ORDER BY next_attempt_at, id LIMIT $3 {skip_locked}),
         due AS (
             SELECT id, 1 AS rank, next_attempt_at FROM outbox WHERE {channel} AND state = 'pending' AND next_attempt_at <= $1
             ORDER BY next_attempt_at, id LIMIT $3 {skip_locked})
         UPDATE outbox SET state = 'sending', lease_until = $2, attempts = attempts + 1, updated_at = $1
         WHERE id IN (
             SELECT id FROM (SELECT id, rank, next_attempt_at FROM expired UNION ALL SELECT id, rank, next_attempt_at FROM due) AS claimable
             ORDER BY rank, next_attempt_at, id LIMIT $3)
         RETURNING id, message_id, channel_id, payload, attempts, retries_from, created_at, request_id",
        channel = if channel_id.is_some() { "channel_id = $4" } else { "$4 IS NULL" },
        skip_locked = backend.skip_locked(),
    );
    #[allow(clippy::type_complexity)]
    let rows: Vec<(i64, i64, String, Json<OutboundMessage>, i64, i64, Millis, Option<String>)> = sql!(conn, query_as(
        &sql,
        Millis(now),
        Millis(now + lease_ms),
        i64::from(limit),
        channel_id,
    ).fetch_all)?;
    Ok(rows
        .into_iter()
        .map(|(outbox_id, message_id, channel_id, message, attempt, retries_from, queued_at, request_id)| OutboxJob {
            outbox_id,
            message_id,
            channel_id,
            message: message.0,
            attempt,
            retries_from,
            queued_at: queued_at.0,
            request_id,
            claimed_at: now,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, InboundMessage};
    use crate::store::ingest::IngestRequest;
    use crate::store::testing::{on_both_backends, seeded_conversation, TestStore};

    on_both_backends!(
        an_echo_that_arrives_before_our_send_is_recorded_is_folded_into_our_message,
        a_lost_claim_writes_nothing,
        two_nodes_draw_from_one_bucket
    );

    fn message(external_id: &str, echo: bool) -> Event {
        Event::Message(InboundMessage {
            external_id: external_id.into(),
            sender: Party { id: "psid-1".into(), display_name: Some("Ana".into()), ..Party::default() },
            recipient: Some("page-1".into()),
            kind: crate::model::MessageKind::Text,
            text: Some("hello".into()),
            attachments: vec![],
            reply_to: None,
            timestamp_ms: 1,
            echo,
            extra: None,
        })
    }

    fn agent_reply(conversation_id: i64, text: &str) -> NewReply {
        NewReply {
            conversation_id,
            channel_id: None,
            content: OutboundContent::Text { text: text.into() },
            reply_to: None,
            text: None,
            author: "agent".into(),
            request_id: None,
        }
    }

    async fn ingest(store: &Store, events: Vec<Event>) {
        store
            .ingest(IngestRequest { channel_id: "messenger".into(), request_id: "r".into(), raw_body: bytes::Bytes::new(), events, threads: Vec::new(), claims: Vec::new() })
            .await
            .unwrap();
    }

    async fn an_echo_that_arrives_before_our_send_is_recorded_is_folded_into_our_message(store: TestStore) {
        let conversation = seeded_conversation(&store).await;
        let reply = agent_reply(conversation, "hi back");
        let ours = store.queue_reply(&reply).await.unwrap();
        let job = store.claim_outbox(10, 60_000, None).await.unwrap().pop().unwrap();
        assert_eq!(job.message_id, ours.id);

        // The provider's echo of our send wins the race to the database.
        ingest(&store, vec![message("m_sent", true)]).await;
        assert_eq!(store.conversation_messages(conversation, 10, None).await.unwrap().items.len(), 3);

        let receipt = SendReceipt { external_id: "m_sent".into(), status: DeliveryStatus::Sent };
        assert!(store.finish_attempt(&job, &AttemptOutcome::Sent(receipt)).await.unwrap());
        let messages = store.conversation_messages(conversation, 10, None).await.unwrap().items;
        assert_eq!(messages.len(), 2, "the echo was folded into our message: {messages:#?}");
        let sent = messages.iter().find(|m| m.id == ours.id).unwrap();
        assert_eq!(sent.external_id.as_deref(), Some("m_sent"));
        assert_eq!(sent.status, "sent");
        assert_eq!(sent.author.as_deref(), Some("agent"));
        let view = store.conversation(None, conversation).await.unwrap().unwrap();
        assert_eq!(view.last_message.unwrap().id, ours.id);

        // A later echo redelivery is recognised as ours.
        ingest(&store, vec![message("m_sent", true)]).await;
        assert_eq!(store.conversation_messages(conversation, 10, None).await.unwrap().items.len(), 2);
    }

    async fn a_lost_claim_writes_nothing(store: TestStore) {
        let conversation = seeded_conversation(&store).await;
        let reply = agent_reply(conversation, "x");
        store.queue_reply(&reply).await.unwrap();
        // Lease of 0 ms: the claim expires at once and a second worker takes the row.
        let first = store.claim_outbox(10, -1, None).await.unwrap().pop().unwrap();
        let second = store.claim_outbox(10, 60_000, None).await.unwrap().pop().unwrap();
        assert_eq!(second.attempt, first.attempt + 1);
        let receipt = SendReceipt { external_id: "m_1".into(), status: DeliveryStatus::Sent };
        assert!(!store.finish_attempt(&first, &AttemptOutcome::Sent(receipt.clone())).await.unwrap());
        assert!(store.finish_attempt(&second, &AttemptOutcome::Sent(receipt)).await.unwrap());
    }

    async fn two_nodes_draw_from_one_bucket(store: TestStore) {
        let conversation = seeded_conversation(&store).await;
        for n in 0..150 {
            store.queue_reply(&agent_reply(conversation, &format!("reply {n}"))).await.unwrap();
        }
        let other = store.another_node().await;
        let bucket = Bucket { rate: 20.0, burst: 10.0 };
        store.ensure_buckets(&[("messenger", bucket)]).await.unwrap();
        let t0 = crate::clock::now_ms();
        let mut claimed = Vec::new();
        // Five seconds in 50 ms steps, the two nodes taking turns.
        for step in 0..=100 {
            let node = if step % 2 == 0 { &store.store } else { &other };
            let got = node.claim_paced("messenger", 1000, bucket, 60_000, t0 + step * 50).await.unwrap();
            claimed.extend(got.jobs.iter().map(|job| job.outbox_id));
        }
        // The first burst of ten, then 20/s between them: not 20/s each.
        assert!((108..=110).contains(&claimed.len()), "{} claimed", claimed.len());

        // Spent: the next claim gets nothing, writes nothing, and says when a token comes.
        let spent = store.claim_paced("messenger", 1000, bucket, 60_000, t0 + 5_000).await.unwrap();
        assert!(spent.jobs.is_empty());
        assert!(!spent.next_token_in.is_zero() && spent.next_token_in <= Duration::from_millis(50), "{:?}", spent.next_token_in);

        // Both at once with the bucket full again: between them, no more than it holds.
        let later = t0 + 60_000;
        let (a, b) = tokio::join!(
            store.claim_paced("messenger", 1000, bucket, 60_000, later),
            other.claim_paced("messenger", 1000, bucket, 60_000, later)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.jobs.len() + b.jobs.len(), 10, "a burst of ten, shared");
        claimed.extend(a.jobs.iter().chain(&b.jobs).map(|job| job.outbox_id));
        let distinct: std::collections::BTreeSet<_> = claimed.iter().collect();
        assert_eq!(distinct.len(), claimed.len(), "no row claimed twice");

        // A room smaller than the bucket: the room is the limit, and tokens are left.
        let roomy = store.claim_paced("messenger", 3, bucket, 60_000, later + 60_000).await.unwrap();
        assert_eq!(roomy.jobs.len(), 3);
        assert!(roomy.more_rows && roomy.next_token_in.is_zero());
    }
}
