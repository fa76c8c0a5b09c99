//! The live-event log behind `/api/v1/events`. Events are appended in the same transaction as
//! the change they announce, so a client that resumes from `Last-Event-ID` sees exactly what
//! was committed, in commit order, and nothing that was rolled back.

use super::views::MessageView;
use super::{Store, StoreError};
use serde::Serialize;
use sqlx::{Row, SqliteConnection};

/// One entry of the live stream.
#[derive(Debug, Clone, Serialize)]
pub struct LiveEvent {
    pub id: i64,
    /// `message.created` or `message.updated`.
    pub kind: String,
    /// JSON payload, ready to send.
    pub payload: String,
}

#[derive(Serialize)]
struct MessagePayload<'a> {
    conversation_id: i64,
    message: &'a MessageView,
}

/// Append a message event (`message.created` / `message.updated`).
pub async fn append_message_event(conn: &mut SqliteConnection, kind: &str, message: &MessageView) -> Result<i64, StoreError> {
    let payload = serde_json::to_string(&MessagePayload { conversation_id: message.conversation_id, message })?;
    let id = sqlx::query_scalar(
        "INSERT INTO live_events (kind, conversation_id, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(kind)
    .bind(message.conversation_id)
    .bind(payload)
    .bind(crate::clock::now_ms())
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

impl Store {
    /// Live events after `after_id`, oldest first.
    pub async fn live_events_after(&self, after_id: i64, limit: u32) -> Result<Vec<LiveEvent>, StoreError> {
        let rows = sqlx::query("SELECT id, kind, payload FROM live_events WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|row| Ok(LiveEvent { id: row.try_get("id")?, kind: row.try_get("kind")?, payload: row.try_get("payload")? }))
            .collect()
    }

    /// The newest live event id (0 when there are none).
    pub async fn latest_live_event_id(&self) -> Result<i64, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM live_events").fetch_one(&self.read).await?;
        Ok(id.unwrap_or(0))
    }

    /// Drop live events older than `cutoff_ms`; clients further behind resume from the oldest kept.
    pub async fn prune_live_events(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM live_events WHERE created_at < $1").bind(cutoff_ms).execute(&self.write).await?;
        Ok(done.rows_affected())
    }
}
