//! `Idempotency-Key`: a client that retries a reply's POST (its connection dropped before the
//! answer) gets the message the first POST queued, and nothing is queued twice.
//!
//! The key is claimed first in the same transaction that queues the reply, with
//! `ON CONFLICT DO NOTHING`. On PostgreSQL a concurrent claim of the same key waits for the
//! first transaction and then finds the key taken; on SQLite writers are serial anyway. So two
//! racing POSTs with one key queue one message, and the database is the guard.

use super::db::{sql, Millis};
use super::live::PendingEvents;
use super::outbox::{queue_reply_on, NewReply};
use super::views::{self, MessageView};
use super::{Store, StoreError};

/// How long a key is remembered. Stripe keeps keys for 24 hours; so do we.
pub const KEY_RETENTION_MS: i64 = 24 * 3_600_000;

/// A caller's key for one request.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// Whose key it is (`agent:<id>`, or `admin` for the bootstrap token): two callers' keys
    /// never collide.
    pub scope: String,
    pub key: String,
    /// SHA-256 (hex) of the request, so the same key for a different request is refused.
    pub request_hash: String,
}

fn reused(key: &IdempotencyKey) -> StoreError {
    StoreError::Conflict(format!("the Idempotency-Key `{}` was used for a different request; use a new key for a new reply", key.key))
}

/// What an idempotent reply did.
#[derive(Debug)]
pub enum Queued {
    /// The first request with this key: the reply was queued.
    New(MessageView),
    /// A retry: the message the first request queued, as it stands now.
    Replayed(MessageView),
}

impl Store {
    /// The message a request with `key` already queued, if one did: a retry is answered with it
    /// before anything else is checked, so a retry after the window closed (or the channel
    /// changed) still gets the first answer. The same key with a different request is a
    /// [`StoreError::Conflict`].
    pub async fn replayed_reply(&self, key: &IdempotencyKey) -> Result<Option<MessageView>, StoreError> {
        let mut conn = self.db.read().await?;
        let row: Option<(String, Option<i64>)> = sql!(conn, query_as(
            "SELECT request_hash, message_id FROM idempotency_keys WHERE scope = $1 AND key = $2",
            &key.scope,
            &key.key,
        ).fetch_optional)?;
        let Some((request_hash, Some(message_id))) = row else {
            return Ok(None);
        };
        if request_hash != key.request_hash {
            return Err(reused(key));
        }
        views::message(&mut conn.conn(), message_id).await
    }

    /// Queue `reply` unless `key` was used before: then answer with the message the first
    /// request queued. The same key with a different request is a [`StoreError::Conflict`].
    pub async fn queue_reply_once(&self, reply: &NewReply, key: &IdempotencyKey) -> Result<Queued, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let claimed = sql!(conn, execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (scope, key) DO NOTHING",
            &key.scope,
            &key.key,
            &key.request_hash,
            now,
        ))? == 1;
        if !claimed {
            let (request_hash, message_id): (String, Option<i64>) = sql!(conn, query_as(
                "SELECT request_hash, message_id FROM idempotency_keys WHERE scope = $1 AND key = $2",
                &key.scope,
                &key.key,
            ).fetch_one)?;
            if request_hash != key.request_hash {
                return Err(reused(key));
            }
            let message_id = message_id.ok_or_else(|| StoreError::NotFound("the message of this Idempotency-Key".into()))?;
            let view = views::message(&mut conn, message_id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("message {message_id}")))?;
            return Ok(Queued::Replayed(view));
        }
        let mut events = PendingEvents::default();
        let view = queue_reply_on(&mut conn, reply, now, &mut events).await?;
        sql!(conn, execute(
            "UPDATE idempotency_keys SET message_id = $1 WHERE scope = $2 AND key = $3",
            view.id,
            &key.scope,
            &key.key,
        ))?;
        self.commit(tx, events).await?;
        Ok(Queued::New(view))
    }

    /// Forget keys older than `cutoff_ms` (a retry that late is a new request).
    pub async fn prune_idempotency_keys(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.db.write().await?;
        Ok(sql!(conn, execute("DELETE FROM idempotency_keys WHERE created_at < $1", Millis(cutoff_ms)))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OutboundContent;
    use crate::store::testing::{on_both_backends, seeded_conversation, TestStore};

    fn reply(conversation_id: i64, text: &str) -> NewReply {
        NewReply {
            conversation_id,
            channel_id: None,
            content: OutboundContent::Text { text: text.into() },
            reply_to: None,
            text: None,
            author: "ana".into(),
            request_id: None,
        }
    }

    fn key(scope: &str, key: &str, hash: &str) -> IdempotencyKey {
        IdempotencyKey { scope: scope.into(), key: key.into(), request_hash: hash.into() }
    }

    on_both_backends!(a_key_queues_once_and_is_the_callers_own);
    async fn a_key_queues_once_and_is_the_callers_own(store: TestStore) {
        let conversation = seeded_conversation(&store).await;
        let Queued::New(first) = store.queue_reply_once(&reply(conversation, "hi"), &key("agent:1", "k1", "h1")).await.unwrap() else {
            panic!("the first use of a key queues")
        };
        let Queued::Replayed(again) = store.queue_reply_once(&reply(conversation, "hi"), &key("agent:1", "k1", "h1")).await.unwrap() else {
            panic!("a retry replays")
        };
        assert_eq!(again.id, first.id);
        let different = store.queue_reply_once(&reply(conversation, "other"), &key("agent:1", "k1", "h2")).await;
        assert!(matches!(different, Err(StoreError::Conflict(_))), "{different:?}");
        let Queued::New(other_caller) = store.queue_reply_once(&reply(conversation, "hi"), &key("agent:2", "k1", "h1")).await.unwrap() else {
            panic!("another caller's key is their own")
        };
        assert_ne!(other_caller.id, first.id);
        let due = store.claim_outbox(100, 60_000, None).await.unwrap();
        assert_eq!(due.len(), 2, "two replies queued, not three or four");
        assert_eq!(store.prune_idempotency_keys(crate::clock::now_ms() + 1).await.unwrap(), 2);
    }
}
