//! What agents see of a reply's delivery: its outbox state with every attempt and its timing,
//! the dead letters of the conversations they may see, and an agent's retry of one.

use super::db::{sql, Conn, Millis};
use super::ingest::announce_message;
use super::live::{LiveEventKind, PendingEvents};
use super::views::{visible_to, MessageView, Viewer};
use super::workflow::Actor;
use super::{audit, views, Store, StoreError};
use crate::model::{DeliveryStatus, StatusUpdate};
use serde::Serialize;

/// A reply's way through the outbox.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub message_id: i64,
    pub channel_id: String,
    /// `pending` (waiting for its next try), `sending` (an attempt is under way, or was when
    /// the node stopped), `sent`, `failed` (a permanent failure) or `dead` (retries ran out).
    pub state: String,
    /// Attempts made, across agents' retries.
    pub attempts: i64,
    /// When the next try is due (Unix ms), while `pending`.
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub queued_at: i64,
    /// Every finished attempt, oldest first.
    pub history: Vec<AttemptView>,
    /// Every step the message's status took, oldest first (it only moves forward, except
    /// back to `pending` when an agent retries a failed reply).
    pub statuses: Vec<StatusView>,
}

/// One finished attempt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub attempt: i64,
    /// The channel it was made on (a failover moves the reply to another).
    pub channel_id: Option<String>,
    /// When it was claimed and when its result was recorded (Unix ms).
    pub started_at: i64,
    pub finished_at: i64,
    /// `sent`, `retry`, `failed`, `dead`, or `failed_over` (the reply went on to another channel).
    pub outcome: String,
    pub error_kind: Option<String>,
    /// The provider's code (`131047`, `429`, an SMTP code).
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// When its retry was scheduled for (Unix ms), for `retry`.
    pub retry_at: Option<i64>,
}

/// A reply that will not go out unless someone acts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetterView {
    pub message_id: i64,
    pub conversation_id: i64,
    pub channel_id: String,
    /// `dead` (retries ran out) or `failed` (refused for good).
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub text: Option<String>,
    pub updated_at: i64,
}

/// One step of a message's status history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusView {
    pub status: String,
    /// When the gateway learnt it (Unix ms).
    pub at: i64,
    /// The provider's own time for it, when its callback gave one (Unix ms).
    pub provider_at: Option<i64>,
    pub error_code: Option<String>,
}

/// Note that message `message_id` moved forward to `status` (its row already says so), in the
/// caller's transaction, and roll a read up into its conversation's read state. Callers write
/// it only when their update changed the status. Returns the conversation whose read state
/// moved, for the caller to announce (`conversation.updated`) once however many reads it
/// applies.
pub(super) async fn note_status(
    conn: &mut Conn<'_>,
    message_id: i64,
    status: DeliveryStatus,
    now: Millis,
    provider_at: Option<i64>,
    error_code: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    sql!(conn, execute(
        "INSERT INTO message_statuses (message_id, status, at, provider_at, error_code) VALUES ($1, $2, $3, $4, $5)",
        message_id,
        status.as_str(),
        now,
        provider_at.map(Millis),
        error_code,
    ))?;
    if status != DeliveryStatus::Read {
        return Ok(None);
    }
    // Read receipts roll up into the conversation's read state: the newest message read.
    Ok(sql!(conn, query_scalar(
        "UPDATE conversations SET customer_read_message_id = $1, customer_read_at = $2
         WHERE id = (SELECT conversation_id FROM messages WHERE id = $1)
           AND (customer_read_message_id IS NULL OR customer_read_message_id < $1)
         RETURNING id",
        message_id,
        Millis(provider_at.unwrap_or(now.0)),
    ).fetch_optional)?)
}

/// Announce `conversation.updated` for each conversation whose read state moved.
pub(super) async fn announce_reads(conn: &mut Conn<'_>, moved: impl IntoIterator<Item = i64>, events: &mut PendingEvents) -> Result<(), StoreError> {
    let moved: std::collections::BTreeSet<i64> = moved.into_iter().collect();
    for conversation_id in moved {
        super::workflow::announce(conn, conversation_id, &[], None, events).await?;
    }
    Ok(())
}

/// How long a status for a message we do not know yet is kept for its receipt.
pub const EARLY_STATUS_RETENTION_MS: i64 = 3_600_000;

/// Keep a status callback for a provider id no message has yet (see migration 0015).
pub(super) async fn keep_early_status(conn: &mut Conn<'_>, channel_id: &str, update: &StatusUpdate, now: Millis) -> Result<(), StoreError> {
    let error = update.error.as_ref();
    sql!(conn, execute(
        "INSERT INTO early_statuses (channel_id, external_id, status, status_rank, provider_at, error_code, error_message, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        channel_id,
        &update.external_id,
        update.status.as_str(),
        update.status.rank(),
        (update.timestamp_ms > 0).then_some(Millis(update.timestamp_ms)),
        error.map(|e| e.code.as_str()),
        error.map(|e| e.message.as_str()),
        now,
    ))?;
    Ok(())
}

/// Apply the statuses that arrived for `external_id` before message `message_id` had it, in
/// rank order, each only if it moves the message forward; then forget them.
pub(super) async fn apply_early_statuses(
    conn: &mut Conn<'_>,
    channel_id: &str,
    external_id: &str,
    message_id: i64,
    now: Millis,
    events: &mut PendingEvents,
) -> Result<(), StoreError> {
    #[allow(clippy::type_complexity)]
    let early: Vec<(String, i64, Option<Millis>, Option<String>, Option<String>)> = sql!(conn, query_as(
        "SELECT status, status_rank, provider_at, error_code, error_message FROM early_statuses
         WHERE channel_id = $1 AND external_id = $2 ORDER BY status_rank, id",
        channel_id,
        external_id,
    ).fetch_all)?;
    if early.is_empty() {
        return Ok(());
    }
    for (status, rank, provider_at, error_code, error_message) in early {
        let Some(status) = DeliveryStatus::parse(&status) else { continue };
        let moved = sql!(conn, execute(
            "UPDATE messages SET status = $1, status_rank = $2, error_code = COALESCE($3, error_code),
                 error_message = COALESCE($4, error_message), updated_at = $5
             WHERE id = $6 AND status_rank < $2",
            status.as_str(),
            rank,
            &error_code,
            &error_message,
            now,
            message_id,
        ))? == 1;
        if moved {
            let read = note_status(conn, message_id, status, now, provider_at.map(|at| at.0), error_code.as_deref()).await?;
            announce_reads(conn, read, events).await?;
        }
    }
    sql!(conn, execute("DELETE FROM early_statuses WHERE channel_id = $1 AND external_id = $2", channel_id, external_id))?;
    Ok(())
}

impl Store {
    /// Forget statuses kept for a receipt that never came (messages sent from elsewhere).
    pub async fn prune_early_statuses(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.db.write().await?;
        Ok(sql!(conn, execute("DELETE FROM early_statuses WHERE received_at < $1", Millis(cutoff_ms)))?)
    }

    /// Audit a send refused because the contact opted out on `channel_id` (`reply.refused_opted_out`),
    /// so an admin can show that nothing went to someone who said STOP, and who tried.
    pub async fn audit_opted_out_send(&self, actor: &Actor, conversation_id: i64, channel_id: &str, kind: &str) -> Result<(), StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let detail = serde_json::json!({"channel_id": channel_id, "kind": kind});
        audit::record(&mut conn, actor, "reply.refused_opted_out", &format!("conversation:{conversation_id}"), &detail, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// For each channel the conversation's contact can be reached on, when they last wrote
    /// there (Unix ms; across all their conversations), oldest channel first. `None` when
    /// there is no such conversation.
    pub async fn reply_channels(&self, conversation_id: i64) -> Result<Option<Vec<(String, Option<i64>)>>, StoreError> {
        let mut conn = self.db.read().await?;
        let contact: Option<i64> =
            sql!(conn, query_scalar("SELECT contact_id FROM conversations WHERE id = $1", conversation_id).fetch_optional)?;
        let Some(contact) = contact else {
            return Ok(None);
        };
        let rows: Vec<(String, Option<Millis>)> = sql!(conn, query_as(
            "SELECT i.channel_id,
                    (SELECT MAX(m.created_at) FROM messages m
                     WHERE m.channel_id = i.channel_id AND m.direction = 'inbound'
                       AND m.conversation_id IN (SELECT c.id FROM conversations c WHERE c.contact_id = $1))
             FROM contact_identities i WHERE i.contact_id = $1
             GROUP BY i.channel_id ORDER BY MIN(i.id)",
            contact,
        ).fetch_all)?;
        Ok(Some(rows.into_iter().map(|(channel, at)| (channel, at.map(|at| at.0))).collect()))
    }

    /// The delivery of outbound `message_id` in `conversation_id`; `None` when there is no such
    /// reply there (inbound messages have no delivery).
    pub async fn delivery(&self, conversation_id: i64, message_id: i64) -> Result<Option<DeliveryView>, StoreError> {
        let mut conn = self.db.read().await?;
        #[allow(clippy::type_complexity)]
        let row: Option<(i64, String, String, i64, Millis, Option<String>, Millis)> = sql!(conn, query_as(
            "SELECT o.id, o.channel_id, o.state, o.attempts, o.next_attempt_at, o.last_error, o.created_at
             FROM outbox o JOIN messages m ON m.id = o.message_id
             WHERE o.message_id = $1 AND m.conversation_id = $2",
            message_id,
            conversation_id,
        ).fetch_optional)?;
        let Some((outbox_id, channel_id, state, attempts, next_attempt_at, last_error, queued_at)) = row else {
            return Ok(None);
        };
        #[allow(clippy::type_complexity)]
        let rows: Vec<(i64, Millis, Millis, String, Option<String>, Option<String>, Option<String>, Option<Millis>, Option<String>)> = sql!(conn, query_as(
            "SELECT attempt, started_at, finished_at, outcome, error_kind, error_code, error_message, retry_at, channel_id
             FROM delivery_attempts WHERE outbox_id = $1 ORDER BY attempt",
            outbox_id,
        ).fetch_all)?;
        let history = rows
            .into_iter()
            .map(|(attempt, started_at, finished_at, outcome, error_kind, error_code, error_message, retry_at, channel_id)| AttemptView {
                attempt,
                channel_id,
                started_at: started_at.0,
                finished_at: finished_at.0,
                outcome,
                error_kind,
                error_code,
                error_message,
                retry_at: retry_at.map(|at| at.0),
            })
            .collect();
        #[allow(clippy::type_complexity)]
        let rows: Vec<(String, Millis, Option<Millis>, Option<String>)> = sql!(conn, query_as(
            "SELECT status, at, provider_at, error_code FROM message_statuses WHERE message_id = $1 ORDER BY id",
            message_id,
        ).fetch_all)?;
        let statuses = rows
            .into_iter()
            .map(|(status, at, provider_at, error_code)| StatusView { status, at: at.0, provider_at: provider_at.map(|p| p.0), error_code })
            .collect();
        Ok(Some(DeliveryView {
            statuses,
            message_id,
            channel_id,
            next_attempt_at: (state == "pending").then_some(next_attempt_at.0),
            state,
            attempts,
            last_error,
            queued_at: queued_at.0,
            history,
        }))
    }

    /// Dead-lettered and permanently failed replies in conversations `viewer` may see, newest
    /// first, at most `limit`.
    pub async fn dead_letters(&self, viewer: Viewer, limit: u32) -> Result<Vec<DeadLetterView>, StoreError> {
        let sql = format!(
            "SELECT o.message_id, m.conversation_id, o.channel_id, o.state, o.attempts, o.last_error, m.text, o.updated_at
             FROM outbox o JOIN messages m ON m.id = o.message_id JOIN conversations c ON c.id = m.conversation_id
             WHERE o.state IN ('dead', 'failed') AND {}
             ORDER BY o.updated_at DESC, o.id DESC LIMIT $2",
            visible_to(1)
        );
        let mut conn = self.db.read().await?;
        #[allow(clippy::type_complexity)]
        let rows: Vec<(i64, i64, String, String, i64, Option<String>, Option<String>, Millis)> =
            sql!(conn, query_as(&sql, viewer, i64::from(limit)).fetch_all)?;
        Ok(rows
            .into_iter()
            .map(|(message_id, conversation_id, channel_id, state, attempts, last_error, text, updated_at)| DeadLetterView {
                message_id,
                conversation_id,
                channel_id,
                state,
                attempts,
                last_error,
                text,
                updated_at: updated_at.0,
            })
            .collect())
    }

    /// Send a failed or dead-lettered reply again, with a fresh set of attempts. Its status goes
    /// back to `pending`: the one time a status moves back, because an agent asked for a new
    /// delivery (callbacks never move it back).
    pub async fn retry_delivery(&self, conversation_id: i64, message_id: i64) -> Result<MessageView, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let retried = sql!(conn, execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $1, retries_from = attempts, lease_until = NULL,
                 last_error = NULL, updated_at = $1
             WHERE message_id = $2 AND state IN ('dead', 'failed')
               AND message_id IN (SELECT id FROM messages WHERE conversation_id = $3)",
            now,
            message_id,
            conversation_id,
        ))? == 1;
        if !retried {
            let exists: Option<i64> = sql!(conn, query_scalar(
                "SELECT o.id FROM outbox o JOIN messages m ON m.id = o.message_id WHERE o.message_id = $1 AND m.conversation_id = $2",
                message_id,
                conversation_id,
            ).fetch_optional)?;
            return Err(match exists {
                None => StoreError::NotFound(format!("reply {message_id} in conversation {conversation_id}")),
                Some(_) => StoreError::Conflict("only a failed or dead-lettered reply can be retried".into()),
            });
        }
        sql!(conn, execute(
            "UPDATE messages SET status = $1, status_rank = $2, error_code = NULL, error_message = NULL, updated_at = $3 WHERE id = $4",
            DeliveryStatus::Pending.as_str(),
            DeliveryStatus::Pending.rank(),
            now,
            message_id,
        ))?;
        note_status(&mut conn, message_id, DeliveryStatus::Pending, now, None, None).await?;
        let mut events = PendingEvents::default();
        announce_message(&mut conn, LiveEventKind::MessageUpdated, message_id, &mut events).await?;
        let view = views::message(&mut conn, message_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("message {message_id}")))?;
        self.commit(tx, events).await?;
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OutboundContent, SendFailure};
    use crate::store::outbox::{AttemptOutcome, NewReply};
    use crate::store::testing::{on_both_backends, seeded_conversation, TestStore};

    on_both_backends!(attempts_are_recorded_and_a_dead_letter_can_be_retried);

    async fn attempts_are_recorded_and_a_dead_letter_can_be_retried(store: TestStore) {
        let conversation = seeded_conversation(&store).await;
        let reply = NewReply {
            conversation_id: conversation,
            channel_id: None,
            content: OutboundContent::Text { text: "hello".into() },
            reply_to: None,
            text: None,
            author: "ana".into(),
            request_id: None,
        };
        let message = store.queue_reply(&reply).await.unwrap();
        let failure = SendFailure { kind: "unavailable".into(), code: Some("500".into()), message: "boom".into(), retryable: true, retry_after_ms: None };
        let job = store.claim_outbox(10, 60_000, Some("messenger")).await.unwrap().pop().unwrap();
        let retry_at = crate::clock::now_ms() - 1;
        assert!(store.finish_attempt(&job, &AttemptOutcome::Retry { failure: failure.clone(), next_attempt_at: retry_at }).await.unwrap());
        let delivery = store.delivery(conversation, message.id).await.unwrap().unwrap();
        assert_eq!((delivery.state.as_str(), delivery.attempts, delivery.next_attempt_at), ("pending", 1, Some(retry_at)));
        assert_eq!(delivery.history[0].retry_at, Some(retry_at));
        assert!(store.claim_outbox(10, 60_000, Some("another")).await.unwrap().is_empty(), "claims keep to their channel");

        let job = store.claim_outbox(10, 60_000, Some("messenger")).await.unwrap().pop().unwrap();
        assert!(store.finish_attempt(&job, &AttemptOutcome::Failed { failure, dead: true }).await.unwrap());
        let dead = store.dead_letters(None, 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].message_id, dead[0].state.as_str(), dead[0].attempts), (message.id, "dead", 2));
        let other_agent = store.dead_letters(Some(999), 10).await.unwrap();
        assert_eq!(other_agent.len(), 1, "the conversation has no team: every agent sees it");

        let retried = store.retry_delivery(conversation, message.id).await.unwrap();
        assert_eq!(retried.status, "pending");
        assert!(retried.error.is_none());
        assert!(store.dead_letters(None, 10).await.unwrap().is_empty());
        assert!(matches!(store.retry_delivery(conversation, message.id).await, Err(StoreError::Conflict(_))), "only once it failed again");
        assert!(matches!(store.retry_delivery(conversation + 1, message.id).await, Err(StoreError::NotFound(_))));
        let job = store.claim_outbox(10, 60_000, Some("messenger")).await.unwrap().pop().unwrap();
        assert_eq!((job.attempt, job.retries_from), (3, 2), "a fresh set of attempts, numbers still unique");
        let delivery = store.delivery(conversation, message.id).await.unwrap().unwrap();
        assert_eq!(delivery.history.iter().map(|a| a.outcome.as_str()).collect::<Vec<_>>(), ["retry", "dead"]);
        assert!(store.delivery(conversation, message.id + 1000).await.unwrap().is_none());
    }

    /// Delivery callbacks arriving in any order, each maybe twice, some before our own record
    /// of the send, as providers do: the status ends at the furthest one reported, and its
    /// history only ever moves forward.
    #[test]
    fn statuses_never_move_backwards_under_shuffled_callbacks() {
        use crate::model::{DeliveryStatus as S, Event, ProviderError, StatusUpdate};
        use crate::store::ingest::IngestRequest;
        use crate::store::outbox::OutboxJob;
        use proptest::prelude::*;

        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let store = runtime.block_on(crate::store::testing::sqlite());
        let conversation = runtime.block_on(seeded_conversation(&store));
        let counter = std::sync::atomic::AtomicU64::new(0);
        let callbacks = prop::collection::vec(prop::sample::select(vec![S::Sent, S::Delivered, S::Read, S::Failed]), 1..8)
            .prop_flat_map(|statuses| {
                let doubled: Vec<S> = statuses.iter().chain(statuses.iter().take(2)).copied().collect();
                Just(doubled).prop_shuffle()
            });
        proptest!(ProptestConfig::with_cases(48), |(callbacks in callbacks, receipt_first in any::<bool>())| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            runtime.block_on(async {
                let reply = NewReply {
                    conversation_id: conversation,
                    channel_id: None,
                    content: OutboundContent::Text { text: format!("case {n}") },
                    reply_to: None,
                    text: None,
                    author: "ana".into(),
                    request_id: None,
                };
                let message = store.queue_reply(&reply).await.unwrap();
                let job: OutboxJob = store.claim_outbox(1, 60_000, None).await.unwrap().pop().unwrap();
                let external_id = format!("m_case_{n}");
                let receipt = crate::model::SendReceipt { external_id: external_id.clone(), status: S::Sent };
                let statuses = |list: &[S]| -> Vec<Event> {
                    list.iter()
                        .map(|status| Event::Status(StatusUpdate {
                            external_id: external_id.clone(),
                            status: *status,
                            timestamp_ms: 1_000,
                            recipient: Some("psid-1".into()),
                            error: (*status == S::Failed).then(|| ProviderError { code: "131026".into(), message: "undeliverable".into(), retryable: false }),
                        }))
                        .collect()
                };
                let deliver = |events: Vec<Event>| {
                    store.ingest(IngestRequest {
                        channel_id: "messenger".into(),
                        request_id: "r".into(),
                        raw_body: bytes::Bytes::new(),
                        events,
                        threads: Vec::new(),
                        claims: Vec::new(),
                    })
                };
                // The provider's callbacks may even beat our own record of the send.
                let (before, after) = if receipt_first { (&callbacks[..0], &callbacks[..]) } else { callbacks.split_at(callbacks.len() / 2) };
                if !before.is_empty() {
                    // Not ours yet (no provider id stored): kept until the receipt records it.
                    deliver(statuses(before)).await.unwrap();
                }
                assert!(store.finish_attempt(&job, &AttemptOutcome::Sent(receipt)).await.unwrap());
                for event in statuses(after) {
                    deliver(vec![event]).await.unwrap();
                }
                let expected = callbacks.iter().copied().chain([S::Sent]).max_by_key(|s| s.rank()).unwrap();
                let delivery = store.delivery(conversation, message.id).await.unwrap().unwrap();
                let ranks: Vec<i64> = delivery.statuses.iter().map(|step| S::parse(&step.status).unwrap().rank()).collect();
                prop_assert!(ranks.windows(2).all(|pair| pair[0] < pair[1]), "history moved back or repeated: {:?}", delivery.statuses);
                prop_assert_eq!(delivery.statuses.first().map(|s| s.status.as_str()), Some("pending"));
                prop_assert_eq!(delivery.statuses.last().map(|s| s.status.clone()), Some(expected.as_str().to_string()));
                let view = store.conversation_messages(conversation, 200, None).await.unwrap().items.into_iter().find(|m| m.id == message.id).unwrap();
                prop_assert_eq!(view.status, expected.as_str());
                Ok(())
            })?;
        });
    }
}
