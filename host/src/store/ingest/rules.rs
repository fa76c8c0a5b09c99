//! What one webhook's events mean for the store: one-time tokens recorded, messages
//! deduplicated by the database and threaded (into the conversation a mail replies to, else the
//! contact's open one), statuses that only move forward, profiles and consent. Runs inside the
//! group commit's transaction.

use crate::store::delivery::{announce_reads, keep_early_status, note_status};
use super::IngestReport;
use super::IngestRequest;
use crate::identity::link::{refresh_profile, resolve_identity};
use crate::store::db::{sql, Conn, Millis};
use crate::store::live::{LiveEventKind, PendingEvents};
use crate::store::{views, StoreError};
use crate::model::{ConsentUpdate, DeliveryStatus, Direction, Event, InboundMessage, Party, StatusUpdate, ThreadHints, Watermark};
use sqlx::types::Json;

/// Store one webhook's events.
pub(super) async fn apply(conn: &mut Conn<'_>, request: &IngestRequest, now: Millis, events: &mut PendingEvents) -> Result<IngestReport, StoreError> {
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
    if !claim_tokens(conn, request, now).await? {
        return Ok(IngestReport { replayed: true, ..report });
    }
    for event in &request.events {
        match event {
            Event::Message(message) => {
                let hints = request.threads.iter().find(|hints| hints.external_id == message.external_id);
                if store_message(conn, &request.channel_id, message, hints, now, events).await? {
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

/// Record the request's one-time tokens. False when one was recorded before and has not
/// expired: the request is a replay, and nothing of it is stored. The primary key is the guard,
/// across nodes too; an expired record is taken over.
async fn claim_tokens(conn: &mut Conn<'_>, request: &IngestRequest, now: Millis) -> Result<bool, StoreError> {
    for claim in &request.claims {
        let claimed: Option<String> = sql!(conn, query_scalar(
            "INSERT INTO replay_tokens (channel_id, token, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (channel_id, token) DO UPDATE SET expires_at = excluded.expires_at
             WHERE replay_tokens.expires_at <= $4
             RETURNING token",
            &request.channel_id,
            &claim.nonce,
            Millis(claim.expires_at_ms as i64),
            now,
        ).fetch_optional)?;
        if claimed.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Store an inbound message (or an echo of one we sent). Returns false for a redelivery.
async fn store_message(
    conn: &mut Conn<'_>,
    channel_id: &str,
    message: &InboundMessage,
    hints: Option<&ThreadHints>,
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
    let threaded = match hints {
        Some(hints) => super::threads::join(conn, channel_id, hints, now, events).await?,
        None => None,
    };
    let conversation_id = match threaded.or(identity.active_conversation) {
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
        message.kind.as_str(),
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
        // A customer's message wakes a snoozed conversation, ends waiting on them (pending) and
        // queues the conversation for routing (`inbound_seq`, after the commit); the business's
        // own echo does none of these.
        "UPDATE conversations SET last_message_id = $1, last_message_at = $2,
             last_channel_id = CASE WHEN $4 = 1 THEN $3 ELSE last_channel_id END,
             unread_count = unread_count + $4, inbound_seq = inbound_seq + $4, updated_at = $2,
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
        kind: message.kind.as_str().to_string(),
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
        failover: None,
        provider_timestamp: Some(message.timestamp_ms),
        created_at: now.0,
        updated_at: now.0,
    };
    events.message(LiveEventKind::MessageCreated, &view)?;
    Ok(true)
}

/// Queue the live event for a message that was just written, as it now reads.
pub(in crate::store) async fn announce_message(
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

/// The contact's unresolved conversation, created if there is none.
/// The conversation a new message of `contact_id` goes to: the one that is not resolved; else
/// the newest resolved one, reopened; else a new one.
async fn active_conversation(conn: &mut Conn<'_>, contact_id: i64, channel_id: &str, now: Millis, events: &mut PendingEvents) -> Result<i64, StoreError> {
    const ACTIVE: &str = "SELECT id FROM conversations WHERE contact_id = $1 AND status <> 'resolved'";
    let active: Option<i64> = sql!(conn, query_scalar(ACTIVE, contact_id).fetch_optional)?;
    if let Some(id) = active {
        return Ok(id);
    }
    if let Some(id) = crate::store::workflow::reopen_latest(conn, contact_id, now, events).await? {
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
            let provider_at = (update.timestamp_ms > 0).then_some(update.timestamp_ms);
            let read = note_status(conn, message_id, update.status, now, provider_at, error.map(|e| e.code.as_str())).await?;
            announce_message(conn, LiveEventKind::MessageUpdated, message_id, events).await?;
            announce_reads(conn, read, events).await?;
            Ok(true)
        }
        None => {
            // Stale (the message is further along), or not ours yet: the provider may report
            // a send before our record of it has its id. Keep that one for the receipt.
            let known: Option<i64> = sql!(conn, query_scalar(
                "SELECT id FROM messages WHERE channel_id = $1 AND external_id = $2",
                channel_id,
                &update.external_id,
            ).fetch_optional)?;
            if known.is_none() {
                keep_early_status(conn, channel_id, update, now).await?;
            }
            Ok(false)
        }
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
    let mut read = Vec::new();
    for message_id in &changed {
        read.extend(note_status(conn, *message_id, mark.status, now, Some(mark.watermark_ms), None).await?);
        announce_message(conn, LiveEventKind::MessageUpdated, *message_id, events).await?;
    }
    // One `conversation.updated` per conversation, however many messages the watermark read.
    announce_reads(conn, read, events).await?;
    Ok(changed.len() as u32)
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
