//! Webhook ingest: one webhook's effects in one transaction, many webhooks per commit.
//!
//! Handlers submit an [`IngestRequest`] and wait. A single writer task takes every request
//! queued at that moment (up to `max_batch`), applies them in one transaction and commits
//! once (group commit): one fsync covers the whole batch, and each handler answers 2xx only
//! after the commit that holds its webhook. If any webhook's statements fail, the batch is
//! rolled back and each webhook is retried in a transaction of its own, so one bad webhook
//! fails alone. (Savepoints per webhook would give the same isolation at two extra
//! statements per webhook on the hot path; failures are rare, so we pay on failure instead.)
//!
//! Deduplication is the database's job: `UNIQUE (channel_id, external_id)` on `messages`.
//! That holds across nodes too: when two nodes store the same redelivered message at once,
//! PostgreSQL makes the second insert wait for the first transaction and then do nothing.

use super::db::{is_transient, is_unreachable, sql, Conn, Millis};
use super::live::{LiveEventKind, PendingEvents};
use super::views;
use super::{Db, StoreError};
use crate::model::{ConsentUpdate, DeliveryStatus, Direction, Event, InboundMessage, Party, StatusUpdate, Watermark};
use sqlx::types::Json;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify};

/// One verified webhook's events, ready to store.
#[derive(Debug)]
pub struct IngestRequest {
    pub channel_id: String,
    pub request_id: String,
    /// The raw body, kept in the webhook log (shared with the request, not copied).
    pub raw_body: bytes::Bytes,
    /// Events with parties already normalised by [`crate::identity`].
    pub events: Vec<Event>,
}

/// What storing one webhook did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestReport {
    /// Messages stored for the first time.
    pub new_messages: u32,
    /// Messages already stored from an earlier delivery.
    pub duplicates: u32,
    /// Outbound messages whose status moved forward.
    pub status_changes: u32,
    /// Status reports that were stale or named unknown messages.
    pub ignored_statuses: u32,
}

impl IngestReport {
    /// Whether the webhook only repeated what was stored before: it held messages or statuses,
    /// and none of them was new or moved anything forward.
    pub fn only_repeats(&self) -> bool {
        self.new_messages == 0 && self.status_changes == 0 && self.duplicates + self.ignored_statuses > 0
    }
}

struct Job {
    request: IngestRequest,
    reply: oneshot::Sender<Result<IngestReport, StoreError>>,
}

/// Handle to the group-commit writer task.
#[derive(Clone)]
pub struct IngestQueue {
    sender: mpsc::Sender<Job>,
}

impl IngestQueue {
    pub(super) fn start(db: Db, max_batch: usize, committed: Arc<Notify>) -> Self {
        let (sender, receiver) = mpsc::channel(max_batch.max(1) * 4);
        tokio::spawn(run_writer(db, receiver, max_batch.max(1), committed));
        Self { sender }
    }

    pub async fn submit(&self, request: IngestRequest) -> Result<IngestReport, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender.send(Job { request, reply }).await.map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run_writer(db: Db, mut receiver: mpsc::Receiver<Job>, max_batch: usize, committed: Arc<Notify>) {
    let mut batch = Vec::with_capacity(max_batch);
    while receiver.recv_many(&mut batch, max_batch).await > 0 {
        metrics::histogram!(crate::telemetry::INGEST_BATCH_SIZE).record(batch.len() as f64);
        let results = commit_batch(&db, &batch).await;
        let wrote_events = results.iter().any(|result| result.is_ok());
        for (job, result) in batch.drain(..).zip(results) {
            // The handler may have gone away (client hung up); the data is committed regardless.
            let _ = job.reply.send(result);
        }
        if wrote_events {
            committed.notify_one();
        }
    }
}

/// Times one webhook's transaction is retried after PostgreSQL aborted it for a concurrent one.
const TRANSIENT_RETRIES: usize = 3;

/// Apply every job in one transaction; returns one result per job, in order.
async fn commit_batch(db: &Db, jobs: &[Job]) -> Vec<Result<IngestReport, StoreError>> {
    if jobs.len() > 1 {
        match commit_together(db, jobs).await {
            Ok(reports) => return reports.into_iter().map(Ok).collect(),
            Err(StoreError::Database(error)) if is_unreachable(&error) => return unreachable(jobs, &error),
            Err(error) => tracing::warn!(%error, batch = jobs.len(), "group commit failed; retrying webhooks one by one"),
        }
    }
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut result = commit_together(db, std::slice::from_ref(job)).await;
        for _ in 0..TRANSIENT_RETRIES {
            match &result {
                Err(StoreError::Database(error)) if is_transient(error) => {
                    result = commit_together(db, std::slice::from_ref(job)).await;
                }
                _ => break,
            }
        }
        if let Err(StoreError::Database(error)) = &result
            && is_unreachable(error) {
                // The rest would wait for the same dead database, one timeout each.
                results.extend(unreachable(&jobs[results.len()..], error));
                break;
            }
        let result = result.map(|mut reports| reports.remove(0));
        if let Err(error) = &result {
            tracing::error!(channel = job.request.channel_id, request_id = job.request.request_id, %error, "storing webhook failed");
        }
        results.push(result);
    }
    results
}

/// Fail every job at once: the database is out of reach. Nothing of theirs was committed (or,
/// if the connection broke during the commit, the provider's redelivery is deduplicated).
fn unreachable(jobs: &[Job], error: &sqlx::Error) -> Vec<Result<IngestReport, StoreError>> {
    tracing::error!(%error, webhooks = jobs.len(), "database unreachable; webhooks refused with 503");
    jobs.iter().map(|_| Err(StoreError::Unavailable(error.to_string()))).collect()
}

/// All of `jobs` in one transaction, or none of them.
async fn commit_together(db: &Db, jobs: &[Job]) -> Result<Vec<IngestReport>, StoreError> {
    let now = Millis(crate::clock::now_ms());
    let mut tx = db.begin().await?;
    let mut conn = tx.conn();
    let mut events = PendingEvents::default();
    let mut reports = Vec::with_capacity(jobs.len());
    for job in jobs {
        reports.push(apply(&mut conn, &job.request, now, &mut events).await?);
    }
    let logged: Vec<_> = jobs.iter().map(|job| &job.request).zip(&reports).collect();
    super::webhook_log::append(&mut conn, &logged, now).await?;
    events.append(&mut conn).await?;
    tx.commit().await?;
    Ok(reports)
}

/// Store one webhook's events.
async fn apply(conn: &mut Conn<'_>, request: &IngestRequest, now: Millis, events: &mut PendingEvents) -> Result<IngestReport, StoreError> {
    let mut report = IngestReport::default();
    // A profile event that repeats a message sender of the same webhook (WhatsApp sends both)
    // has nothing to add: storing the message brings the identity up to date.
    let senders: Vec<&Party> = request
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Message(message) => Some(&message.sender),
            _ => None,
        })
        .collect();
    for event in &request.events {
        match event {
            Event::Message(message) => {
                if store_message(conn, &request.channel_id, message, now, events).await? {
                    report.new_messages += 1;
                } else {
                    report.duplicates += 1;
                }
            }
            Event::Status(update) => {
                if apply_status(conn, &request.channel_id, update, now, events).await? {
                    report.status_changes += 1;
                } else {
                    report.ignored_statuses += 1;
                }
            }
            Event::Watermark(mark) => report.status_changes += apply_watermark(conn, &request.channel_id, mark, now, events).await?,
            Event::Profile(party) if senders.contains(&party) => {}
            Event::Profile(party) => refresh_profile(conn, &request.channel_id, party, now).await?,
            Event::Consent(consent) => apply_consent(conn, &request.channel_id, consent, now).await?,
        }
    }
    Ok(report)
}

/// Store an inbound message (or an echo of one we sent). Returns false for a redelivery.
async fn store_message(
    conn: &mut Conn<'_>,
    channel_id: &str,
    message: &InboundMessage,
    now: Millis,
    events: &mut PendingEvents,
) -> Result<bool, StoreError> {
    let known: Option<i64> = sql!(conn, query_scalar(
        "SELECT id FROM messages WHERE channel_id = $1 AND external_id = $2",
        channel_id,
        &message.external_id,
    ).fetch_optional)?;
    if known.is_some() {
        return Ok(false);
    }
    let identity = resolve_identity(conn, channel_id, &message.sender, now).await?;
    let conversation_id = match identity.active_conversation {
        Some(id) => id,
        // Nobody else can see a contact this transaction created: one statement, no lookups.
        None if identity.fresh_contact => sql!(conn, query_scalar(
            "INSERT INTO conversations (contact_id, status, priority, last_channel_id, last_message_at, created_at, updated_at)
             VALUES ($1, 'open', 'normal', $2, $3, $3, $3) RETURNING id",
            identity.contact_id,
            channel_id,
            now,
        ).fetch_one)?,
        None => active_conversation(conn, identity.contact_id, channel_id, now, events).await?,
    };
    let (direction, status) = if message.echo {
        (Direction::Outbound, DeliveryStatus::Sent)
    } else {
        (Direction::Inbound, DeliveryStatus::Delivered)
    };
    // The unique constraint is the real guard; the lookup above only saves work.
    let inserted: Option<i64> = sql!(conn, query_scalar(
        "INSERT INTO messages (conversation_id, channel_id, identity_id, direction, external_id, kind, text, attachments,
             extra, reply_to_external_id, status, status_rank, provider_timestamp, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
         ON CONFLICT (channel_id, external_id) DO NOTHING RETURNING id",
        conversation_id,
        channel_id,
        identity.id,
        direction.as_str(),
        &message.external_id,
        &message.kind,
        &message.text,
        Json(&message.attachments),
        message.extra.as_ref().map(Json),
        &message.reply_to,
        status.as_str(),
        status.rank(),
        Millis(message.timestamp_ms),
        now,
    ).fetch_optional)?;
    let Some(message_id) = inserted else {
        return Ok(false);
    };
    let unread_increment = i64::from(!message.echo);
    sql!(conn, execute(
        // A customer's message wakes a snoozed conversation and ends waiting on them (pending);
        // the business's own echo does neither.
        "UPDATE conversations SET last_message_id = $1, last_message_at = $2,
             last_channel_id = CASE WHEN $4 = 1 THEN $3 ELSE last_channel_id END,
             unread_count = unread_count + $4, updated_at = $2,
             status = CASE WHEN $4 = 1 AND status IN ('snoozed', 'pending') THEN 'open' ELSE status END,
             snoozed_until = CASE WHEN $4 = 1 THEN NULL ELSE snoozed_until END
         WHERE id = $5",
        message_id,
        now,
        channel_id,
        unread_increment,
        conversation_id,
    ))?;
    // The view is built from what we just wrote rather than read back: one query less per message.
    let view = views::MessageView {
        id: message_id,
        conversation_id,
        channel_id: channel_id.to_string(),
        direction: direction.as_str().to_string(),
        external_id: Some(message.external_id.clone()),
        kind: message.kind.clone(),
        text: message.text.clone(),
        attachments: message.attachments.clone(),
        extra: message.extra.clone(),
        reply_to_external_id: message.reply_to.clone(),
        contact_identity: Some(views::SenderView {
            identity_id: identity.id,
            external_id: message.sender.id.clone(),
            display_name: identity.display_name,
            phone: identity.phone,
        }),
        author: None,
        status: status.as_str().to_string(),
        error: None,
        provider_timestamp: Some(message.timestamp_ms),
        created_at: now.0,
        updated_at: now.0,
    };
    events.message(LiveEventKind::MessageCreated, &view)?;
    Ok(true)
}

/// Queue the live event for a message that was just written, as it now reads.
pub(super) async fn announce_message(
    conn: &mut Conn<'_>,
    kind: LiveEventKind,
    message_id: i64,
    events: &mut PendingEvents,
) -> Result<(), StoreError> {
    let view = views::message(conn, message_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("message {message_id}")))?;
    events.message(kind, &view)
}

/// A customer's identity on one channel, as stored after resolving a message's sender.
pub(super) struct IdentityRef {
    pub id: i64,
    pub contact_id: i64,
    pub display_name: Option<String>,
    pub phone: Option<String>,
    /// The contact's unresolved conversation, when there is one.
    pub active_conversation: Option<i64>,
    /// The contact was created by this transaction, so it has no conversation yet.
    pub fresh_contact: bool,
}

/// What is stored about an identity: phone, email, display name, username.
type StoredProfile = (Option<String>, Option<String>, Option<String>, Option<String>);

/// Find or create the contact identity for `party` on `channel_id`, linking it to an existing
/// contact with the same E.164 phone or email when this channel has not seen it before.
pub(super) async fn resolve_identity(conn: &mut Conn<'_>, channel_id: &str, party: &Party, now: Millis) -> Result<IdentityRef, StoreError> {
    let existing: Option<(i64, i64, Option<String>, Option<String>, Option<String>, Option<String>, Option<i64>)> = sql!(conn, query_as(
        "SELECT i.id, i.contact_id, i.phone, i.email, i.display_name, i.username,
             (SELECT c.id FROM conversations c WHERE c.contact_id = i.contact_id AND c.status <> 'resolved') AS conversation_id
         FROM contact_identities i WHERE i.channel_id = $1 AND i.external_id = $2",
        channel_id,
        &party.id,
    ).fetch_optional)?;
    if let Some((id, contact_id, phone, email, display_name, username, active_conversation)) = existing {
        let stored = (phone, email, display_name, username);
        if profile_changes(&stored, party) {
            update_profile(conn, channel_id, party, now).await?;
        }
        let (phone, _, display_name, _) = stored;
        return Ok(IdentityRef {
            id,
            contact_id,
            display_name: party.display_name.clone().or(display_name),
            phone: party.phone.clone().or(phone),
            active_conversation,
            fresh_contact: false,
        });
    }
    let mut contact_id: Option<i64> = None;
    if let Some(phone) = &party.phone {
        contact_id = sql!(conn, query_scalar("SELECT id FROM contacts WHERE phone = $1 ORDER BY id LIMIT 1", phone).fetch_optional)?;
    }
    if let (None, Some(email)) = (contact_id, &party.email) {
        contact_id = sql!(conn, query_scalar("SELECT id FROM contacts WHERE email = $1 ORDER BY id LIMIT 1", email).fetch_optional)?;
    }
    if let Some(found) = contact_id {
        contact_id = Some(super::merge::surviving_contact(conn, found).await?);
    }
    let created_contact = contact_id.is_none();
    let contact_id = match contact_id {
        Some(id) => {
            sql!(conn, execute(
                "UPDATE contacts SET display_name = COALESCE(display_name, $2), phone = COALESCE(phone, $3),
                     email = COALESCE(email, $4), updated_at = $5 WHERE id = $1",
                id,
                &party.display_name,
                &party.phone,
                &party.email,
                now,
            ))?;
            id
        }
        None => sql!(conn, query_scalar(
            "INSERT INTO contacts (display_name, phone, email, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
            &party.display_name,
            &party.phone,
            &party.email,
            now,
        ).fetch_one)?,
    };
    let (id, linked_contact): (i64, i64) = sql!(conn, query_as(
        "INSERT INTO contact_identities (contact_id, channel_id, external_id, phone, email, display_name, username, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         ON CONFLICT (channel_id, external_id) DO UPDATE SET updated_at = excluded.updated_at
         RETURNING id, contact_id",
        contact_id,
        channel_id,
        &party.id,
        &party.phone,
        &party.email,
        &party.display_name,
        &party.username,
        now,
    ).fetch_one)?;
    if created_contact && linked_contact != contact_id {
        // Another node created this identity between our lookup and our insert; the contact
        // we made for it is not needed.
        sql!(conn, execute("DELETE FROM contacts WHERE id = $1", contact_id))?;
    }
    Ok(IdentityRef {
        id,
        contact_id: linked_contact,
        display_name: party.display_name.clone(),
        phone: party.phone.clone(),
        // Looked up by the caller when it needs one.
        active_conversation: None,
        fresh_contact: created_contact && linked_contact == contact_id,
    })
}

/// The contact's unresolved conversation, created if there is none.
/// The conversation a new message of `contact_id` goes to: the one that is not resolved; else
/// the newest resolved one, reopened; else a new one.
async fn active_conversation(conn: &mut Conn<'_>, contact_id: i64, channel_id: &str, now: Millis, events: &mut PendingEvents) -> Result<i64, StoreError> {
    const ACTIVE: &str = "SELECT id FROM conversations WHERE contact_id = $1 AND status <> 'resolved'";
    let active: Option<i64> = sql!(conn, query_scalar(ACTIVE, contact_id).fetch_optional)?;
    if let Some(id) = active {
        return Ok(id);
    }
    if let Some(id) = super::workflow::reopen_latest(conn, contact_id, now, events).await? {
        return Ok(id);
    }
    sql!(conn, execute(
        "INSERT INTO conversations (contact_id, status, priority, last_channel_id, last_message_at, created_at, updated_at)
         VALUES ($1, 'open', 'normal', $2, $3, $3, $3)
         ON CONFLICT (contact_id) WHERE status <> 'resolved' DO NOTHING",
        contact_id,
        channel_id,
        now,
    ))?;
    Ok(sql!(conn, query_scalar(ACTIVE, contact_id).fetch_one)?)
}

/// Move an outbound message's status forward. Returns false when the report is stale
/// (the message is already further along) or names a message we do not know.
async fn apply_status(
    conn: &mut Conn<'_>,
    channel_id: &str,
    update: &StatusUpdate,
    now: Millis,
    events: &mut PendingEvents,
) -> Result<bool, StoreError> {
    let error = update.error.as_ref();
    let changed: Option<i64> = sql!(conn, query_scalar(
        "UPDATE messages SET status = $1, status_rank = $2, error_code = COALESCE($3, error_code),
             error_message = COALESCE($4, error_message), updated_at = $5
         WHERE channel_id = $6 AND external_id = $7 AND direction = 'outbound' AND status_rank < $2
         RETURNING id",
        update.status.as_str(),
        update.status.rank(),
        error.map(|e| e.code.as_str()),
        error.map(|e| e.message.as_str()),
        now,
        channel_id,
        &update.external_id,
    ).fetch_optional)?;
    match changed {
        Some(message_id) => {
            announce_message(conn, LiveEventKind::MessageUpdated, message_id, events).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Advance every earlier outbound message to `recipient` on this channel.
async fn apply_watermark(
    conn: &mut Conn<'_>,
    channel_id: &str,
    mark: &Watermark,
    now: Millis,
    events: &mut PendingEvents,
) -> Result<u32, StoreError> {
    let changed: Vec<i64> = sql!(conn, query_scalar(
        "UPDATE messages SET status = $1, status_rank = $2, updated_at = $3
         WHERE channel_id = $4 AND direction = 'outbound' AND external_id IS NOT NULL AND status_rank < $2
           AND status <> 'failed' AND created_at <= $5
           AND identity_id IN (SELECT id FROM contact_identities WHERE channel_id = $4 AND external_id = $6)
         RETURNING id",
        mark.status.as_str(),
        mark.status.rank(),
        now,
        channel_id,
        Millis(mark.watermark_ms),
        &mark.recipient,
    ).fetch_all)?;
    for message_id in &changed {
        announce_message(conn, LiveEventKind::MessageUpdated, *message_id, events).await?;
    }
    Ok(changed.len() as u32)
}

/// Whether `party` says anything the stored identity does not already hold.
fn profile_changes(stored: &StoredProfile, party: &Party) -> bool {
    let differs = |given: &Option<String>, stored: &Option<String>| given.is_some() && given != stored;
    differs(&party.phone, &stored.0)
        || differs(&party.email, &stored.1)
        || differs(&party.display_name, &stored.2)
        || differs(&party.username, &stored.3)
}

/// Refresh what a channel tells us about a known customer; fill contact gaps.
async fn update_profile(conn: &mut Conn<'_>, channel_id: &str, party: &Party, now: Millis) -> Result<(), StoreError> {
    let contact_id: Option<i64> = sql!(conn, query_scalar(
        "UPDATE contact_identities SET display_name = COALESCE($3, display_name), phone = COALESCE($4, phone),
             email = COALESCE($5, email), username = COALESCE($6, username), updated_at = $7
         WHERE channel_id = $1 AND external_id = $2 RETURNING contact_id",
        channel_id,
        &party.id,
        &party.display_name,
        &party.phone,
        &party.email,
        &party.username,
        now,
    ).fetch_optional)?;
    if let Some(contact_id) = contact_id {
        sql!(conn, execute(
            "UPDATE contacts SET display_name = COALESCE(display_name, $2), phone = COALESCE(phone, $3),
                 email = COALESCE(email, $4), updated_at = $5 WHERE id = $1",
            contact_id,
            &party.display_name,
            &party.phone,
            &party.email,
            now,
        ))?;
    }
    Ok(())
}

/// A profile event: update the identity only when it tells us something new.
async fn refresh_profile(conn: &mut Conn<'_>, channel_id: &str, party: &Party, now: Millis) -> Result<(), StoreError> {
    let stored: Option<StoredProfile> = sql!(conn, query_as(
        "SELECT phone, email, display_name, username FROM contact_identities WHERE channel_id = $1 AND external_id = $2",
        channel_id,
        &party.id,
    ).fetch_optional)?;
    match stored {
        Some(stored) if profile_changes(&stored, party) => update_profile(conn, channel_id, party, now).await,
        _ => Ok(()),
    }
}

async fn apply_consent(conn: &mut Conn<'_>, channel_id: &str, consent: &ConsentUpdate, now: Millis) -> Result<(), StoreError> {
    let identity_id = resolve_identity(conn, channel_id, &consent.party, now).await?.id;
    sql!(conn, execute(
        "UPDATE contact_identities SET opted_out = $1, updated_at = $2 WHERE id = $3",
        !consent.opted_in,
        now,
        identity_id,
    ))?;
    Ok(())
}
