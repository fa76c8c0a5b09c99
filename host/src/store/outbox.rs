//! The outbox: agent replies waiting for delivery, and the record of every attempt.
//!
//! A reply is written as a message plus an outbox row in one transaction, so once the API has
//! answered, a crash cannot lose it. Workers *claim* due rows with a lease; a row whose lease
//! runs out (its worker died mid-send) becomes due again. Results are written only by the
//! holder of the current claim (matched on the attempt number).

use super::ingest::announce_message;
use super::views::MessageView;
use super::{views, Store, StoreError};
use crate::model::{DeliveryStatus, Direction, OutboundContent, OutboundMessage, Party, SendFailure, SendReceipt};
use sqlx::Row;

/// An agent's reply, as the API accepted it.
#[derive(Debug, Clone)]
pub struct NewReply {
    pub conversation_id: i64,
    /// Send through this channel instead of the conversation's latest one.
    pub channel_id: Option<String>,
    pub content: OutboundContent,
    pub reply_to: Option<String>,
    pub author: String,
    /// The API request that queued it, for logs.
    pub request_id: Option<String>,
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
}

impl Store {
    /// Accept a reply: store the message and its outbox row in one transaction.
    pub async fn queue_reply(&self, reply: &NewReply) -> Result<MessageView, StoreError> {
        let now = crate::clock::now_ms();
        let mut tx = self.write.begin().await?;
        let conversation = sqlx::query("SELECT contact_id, last_channel_id FROM conversations WHERE id = $1")
            .bind(reply.conversation_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("conversation {}", reply.conversation_id)))?;
        let contact_id: i64 = conversation.try_get("contact_id")?;
        let channel_id: String = match &reply.channel_id {
            Some(channel) => channel.clone(),
            None => conversation.try_get("last_channel_id")?,
        };
        let identity = sqlx::query(
            "SELECT id, external_id, phone, email, display_name, username, opted_out FROM contact_identities
             WHERE contact_id = $1 AND channel_id = $2 ORDER BY updated_at DESC, id DESC LIMIT 1",
        )
        .bind(contact_id)
        .bind(&channel_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("the contact cannot be reached on channel `{channel_id}`")))?;
        if identity.try_get::<i64, _>("opted_out")? != 0 {
            return Err(StoreError::Conflict(format!("the contact opted out of messages on channel `{channel_id}`")));
        }
        let identity_id: i64 = identity.try_get("id")?;
        let message_id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (conversation_id, channel_id, identity_id, direction, kind, text, attachments, reply_to_external_id,
                 author, status, status_rank, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, '[]', $7, $8, $9, $10, $11, $11) RETURNING id",
        )
        .bind(reply.conversation_id)
        .bind(&channel_id)
        .bind(identity_id)
        .bind(Direction::Outbound.as_str())
        .bind(reply.content.kind())
        .bind(reply.content.preview_text())
        .bind(&reply.reply_to)
        .bind(&reply.author)
        .bind(DeliveryStatus::Pending.as_str())
        .bind(DeliveryStatus::Pending.rank())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let outbound = OutboundMessage {
            message_id: message_id.to_string(),
            recipient: Party {
                id: identity.try_get("external_id")?,
                phone: identity.try_get("phone")?,
                email: identity.try_get("email")?,
                display_name: identity.try_get("display_name")?,
                username: identity.try_get("username")?,
            },
            content: reply.content.clone(),
            reply_to: reply.reply_to.clone(),
        };
        sqlx::query(
            "INSERT INTO outbox (message_id, channel_id, payload, state, attempts, next_attempt_at, request_id, created_at, updated_at)
             VALUES ($1, $2, $3, 'pending', 0, $4, $5, $4, $4)",
        )
        .bind(message_id)
        .bind(&channel_id)
        .bind(serde_json::to_string(&outbound)?)
        .bind(now)
        .bind(&reply.request_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE conversations SET last_message_id = $1, last_message_at = $2, last_channel_id = $3, unread_count = 0, updated_at = $2
             WHERE id = $4",
        )
        .bind(message_id)
        .bind(now)
        .bind(&channel_id)
        .bind(reply.conversation_id)
        .execute(&mut *tx)
        .await?;
        announce_message(&mut tx, "message.created", message_id).await?;
        let view = views::message(&mut *tx, message_id).await?.ok_or_else(|| StoreError::NotFound(format!("message {message_id}")))?;
        tx.commit().await?;
        self.live_events_written.notify_waiters();
        Ok(view)
    }

    /// Claim up to `limit` due rows for `lease_ms`.
    pub async fn claim_outbox(&self, limit: u32, lease_ms: i64) -> Result<Vec<OutboxJob>, StoreError> {
        let now = crate::clock::now_ms();
        let rows = sqlx::query(
            "UPDATE outbox SET state = 'sending', lease_until = $1 + $2, attempts = attempts + 1, updated_at = $1
             WHERE id IN (
                 SELECT id FROM outbox
                 WHERE (state = 'pending' AND next_attempt_at <= $1) OR (state = 'sending' AND lease_until < $1)
                 ORDER BY next_attempt_at, id LIMIT $3)
             RETURNING id, message_id, channel_id, payload, attempts, request_id",
        )
        .bind(now)
        .bind(lease_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?;
        rows.iter()
            .map(|row| {
                let payload: String = row.try_get("payload")?;
                Ok(OutboxJob {
                    outbox_id: row.try_get("id")?,
                    message_id: row.try_get("message_id")?,
                    channel_id: row.try_get("channel_id")?,
                    message: serde_json::from_str(&payload)?,
                    attempt: row.try_get("attempts")?,
                    request_id: row.try_get("request_id")?,
                    claimed_at: now,
                })
            })
            .collect()
    }

    /// The earliest time a pending row becomes due, if any.
    pub async fn next_outbox_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(CASE WHEN state = 'pending' THEN next_attempt_at ELSE lease_until END) FROM outbox
             WHERE state IN ('pending', 'sending')",
        )
        .fetch_one(&self.read)
        .await?)
    }

    /// Record an attempt's outcome. Returns false when the claim was lost (another worker took
    /// the row after our lease ran out), in which case nothing is written.
    pub async fn finish_attempt(&self, job: &OutboxJob, outcome: &AttemptOutcome) -> Result<bool, StoreError> {
        let now = crate::clock::now_ms();
        let mut tx = self.write.begin().await?;
        let (state, next_attempt_at, failure) = match outcome {
            AttemptOutcome::Sent(_) => ("sent", None, None),
            AttemptOutcome::Retry { failure, next_attempt_at } => ("pending", Some(*next_attempt_at), Some(failure)),
            AttemptOutcome::Failed { failure, dead } => (if *dead { "dead" } else { "failed" }, None, Some(failure)),
        };
        let owned = sqlx::query(
            "UPDATE outbox SET state = $1, next_attempt_at = COALESCE($2, next_attempt_at), lease_until = NULL,
                 last_error = $3, updated_at = $4
             WHERE id = $5 AND attempts = $6 AND state = 'sending'",
        )
        .bind(state)
        .bind(next_attempt_at)
        .bind(failure.map(|f| f.message.as_str()))
        .bind(now)
        .bind(job.outbox_id)
        .bind(job.attempt)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !owned {
            return Ok(false);
        }
        let attempt_outcome = match outcome {
            AttemptOutcome::Sent(_) => "sent",
            AttemptOutcome::Retry { .. } => "retry",
            AttemptOutcome::Failed { dead: true, .. } => "dead",
            AttemptOutcome::Failed { .. } => "failed",
        };
        sqlx::query(
            "INSERT INTO delivery_attempts (outbox_id, attempt, started_at, finished_at, outcome, error_kind, error_code, error_message)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(job.outbox_id)
        .bind(job.attempt)
        .bind(job.claimed_at)
        .bind(now)
        .bind(attempt_outcome)
        .bind(failure.map(|f| f.kind.as_str()))
        .bind(failure.and_then(|f| f.code.as_deref()))
        .bind(failure.map(|f| f.message.as_str()))
        .execute(&mut *tx)
        .await?;
        let message_changed = match outcome {
            AttemptOutcome::Sent(receipt) => {
                // A provider that echoes our sends (Messenger) may have delivered the echo
                // before we got here; it was stored as a message of its own. Fold it into ours.
                let echo: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM messages WHERE channel_id = $1 AND external_id = $2 AND id <> $3",
                )
                .bind(&job.channel_id)
                .bind(&receipt.external_id)
                .bind(job.message_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(echo_id) = echo {
                    sqlx::query("UPDATE conversations SET last_message_id = $1 WHERE last_message_id = $2")
                        .bind(job.message_id)
                        .bind(echo_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM messages WHERE id = $1").bind(echo_id).execute(&mut *tx).await?;
                }
                // The external id is recorded even if a status webhook already raced ahead;
                // the status itself only moves forward.
                sqlx::query(
                    "UPDATE messages SET external_id = $1, updated_at = $2,
                         status = CASE WHEN status_rank < $3 THEN $4 ELSE status END,
                         status_rank = CASE WHEN status_rank < $3 THEN $3 ELSE status_rank END
                     WHERE id = $5",
                )
                .bind(&receipt.external_id)
                .bind(now)
                .bind(receipt.status.rank())
                .bind(receipt.status.as_str())
                .bind(job.message_id)
                .execute(&mut *tx)
                .await?;
                true
            }
            AttemptOutcome::Retry { .. } => false,
            AttemptOutcome::Failed { failure, .. } => {
                sqlx::query(
                    "UPDATE messages SET status = 'failed', status_rank = $1, error_code = $2, error_message = $3, updated_at = $4
                     WHERE id = $5 AND status_rank < $1",
                )
                .bind(DeliveryStatus::Failed.rank())
                .bind(failure.code.as_deref().unwrap_or(&failure.kind))
                .bind(&failure.message)
                .bind(now)
                .bind(job.message_id)
                .execute(&mut *tx)
                .await?;
                true
            }
        };
        if message_changed {
            announce_message(&mut tx, "message.updated", job.message_id).await?;
        }
        tx.commit().await?;
        if message_changed {
            self.live_events_written.notify_waiters();
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, InboundMessage};
    use crate::store::ingest::IngestRequest;

    fn message(external_id: &str, echo: bool) -> Event {
        Event::Message(InboundMessage {
            external_id: external_id.into(),
            sender: Party { id: "psid-1".into(), display_name: Some("Ana".into()), ..Party::default() },
            recipient: Some("page-1".into()),
            kind: "text".into(),
            text: Some("hello".into()),
            attachments: vec![],
            reply_to: None,
            timestamp_ms: 1,
            echo,
            extra: None,
        })
    }

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url, 2, 16).await.unwrap();
        let info = crate::model::PluginInfo { name: "m".into(), version: "1".into(), description: String::new(), capabilities: vec![] };
        store.upsert_channel("messenger", "messenger", &info).await.unwrap();
        (dir, store)
    }

    async fn ingest(store: &Store, events: Vec<Event>) {
        store
            .ingest(IngestRequest { channel_id: "messenger".into(), request_id: "r".into(), raw_body: bytes::Bytes::new(), events })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_echo_that_arrives_before_our_send_is_recorded_is_folded_into_our_message() {
        let (_dir, store) = store().await;
        ingest(&store, vec![message("m_inbound", false)]).await;
        let conversation = store.list_conversations(10, None).await.unwrap().items[0].id;
        let reply = NewReply {
            conversation_id: conversation,
            channel_id: None,
            content: OutboundContent::Text { text: "hi back".into() },
            reply_to: None,
            author: "agent".into(),
            request_id: None,
        };
        let ours = store.queue_reply(&reply).await.unwrap();
        let job = store.claim_outbox(10, 60_000).await.unwrap().pop().unwrap();
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
        let view = store.conversation(conversation).await.unwrap().unwrap();
        assert_eq!(view.last_message.unwrap().id, ours.id);

        // A later echo redelivery is recognised as ours.
        ingest(&store, vec![message("m_sent", true)]).await;
        assert_eq!(store.conversation_messages(conversation, 10, None).await.unwrap().items.len(), 2);
    }

    #[tokio::test]
    async fn a_lost_claim_writes_nothing() {
        let (_dir, store) = store().await;
        ingest(&store, vec![message("m_inbound", false)]).await;
        let conversation = store.list_conversations(10, None).await.unwrap().items[0].id;
        let reply = NewReply {
            conversation_id: conversation,
            channel_id: None,
            content: OutboundContent::Text { text: "x".into() },
            reply_to: None,
            author: "agent".into(),
            request_id: None,
        };
        store.queue_reply(&reply).await.unwrap();
        // Lease of 0 ms: the claim expires at once and a second worker takes the row.
        let first = store.claim_outbox(10, -1).await.unwrap().pop().unwrap();
        let second = store.claim_outbox(10, 60_000).await.unwrap().pop().unwrap();
        assert_eq!(second.attempt, first.attempt + 1);
        let receipt = SendReceipt { external_id: "m_1".into(), status: DeliveryStatus::Sent };
        assert!(!store.finish_attempt(&first, &AttemptOutcome::Sent(receipt.clone())).await.unwrap());
        assert!(store.finish_attempt(&second, &AttemptOutcome::Sent(receipt)).await.unwrap());
    }
}
