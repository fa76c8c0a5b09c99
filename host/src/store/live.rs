//! The live-event log behind `/api/v1/events`. Events are appended in the same transaction as
//! the change they announce, so a client that resumes from `Last-Event-ID` sees exactly what
//! was committed, in commit order, and nothing that was rolled back.
//!
//! Ids must become visible in increasing order, or a reader that has seen id 11 would skip an
//! id 10 committed a moment later. SQLite has one writer, so that holds by itself. On
//! PostgreSQL, sequence values are handed out at insert time but become visible at commit, in
//! any order; so a transaction appends its events as its last statement, under a
//! transaction-scoped advisory lock held until it commits. That serialises only the tail of
//! each write transaction (the insert and the commit), and group commit keeps those few.
//! `NOTIFY` then wakes every node's feed; the payload stays in the table (NOTIFY payloads are
//! capped at 8 KB).

use super::db::{Conn, Millis, Tx};
use super::views::MessageView;
use super::{sql, Store, StoreError};
use serde::Serialize;
use sqlx::{Database, Encode, QueryBuilder, Type};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The NOTIFY channel that announces new live events.
const NOTIFY_CHANNEL: &str = "switchboard_live";
/// The transaction-scoped advisory lock that orders live-event commits ("live").
const APPEND_LOCK_KEY: i64 = 0x5357_4254_4c49_5645;
/// Rows per multi-row INSERT: 5 bound parameters per row, under SQLite's 32,766.
const ROWS_PER_STATEMENT: usize = 6000;

/// What a live event announces; its name is the SSE `event:` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveEventKind {
    MessageCreated,
    MessageUpdated,
    /// Status, priority, assignee, team or labels changed.
    ConversationUpdated,
    /// A private note was added.
    NoteCreated,
    /// Who is viewing or typing in a conversation changed.
    PresenceUpdated,
    /// The customer started or stopped typing (web chat).
    ContactTyping,
}

impl LiveEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageCreated => "message.created",
            Self::MessageUpdated => "message.updated",
            Self::ConversationUpdated => "conversation.updated",
            Self::NoteCreated => "note.created",
            Self::PresenceUpdated => "presence.updated",
            Self::ContactTyping => "contact.typing",
        }
    }
}

/// One entry of the live stream.
#[derive(Debug, Clone, Serialize)]
pub struct LiveEvent {
    pub id: i64,
    /// The SSE event name (a [`LiveEventKind`]'s).
    pub kind: String,
    /// JSON payload, ready to send.
    pub payload: String,
    /// Who may see it: the conversation's team and assignee as it is sent, and the team it
    /// left when this event moved it.
    pub audience: Audience,
}

/// The conversation an event concerns, as far as who may see it goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Audience {
    pub team_id: Option<i64>,
    pub previous_team_id: Option<i64>,
    pub assignee_id: Option<i64>,
}

impl Audience {
    /// Whether an agent of `teams` (with id `agent_id`) may see it: their teams' and
    /// unassigned-team conversations, and those assigned to them.
    pub fn admits(&self, agent_id: i64, teams: &[i64]) -> bool {
        self.team_id.is_none_or(|team| teams.contains(&team))
            || self.previous_team_id.is_some_and(|team| teams.contains(&team))
            || self.assignee_id == Some(agent_id)
    }
}

#[derive(Serialize)]
struct MessagePayload<'a> {
    conversation_id: i64,
    message: &'a MessageView,
}

struct PendingEvent {
    kind: LiveEventKind,
    conversation_id: i64,
    previous_team_id: Option<i64>,
    payload: String,
}

/// Live events a transaction will append just before it commits.
#[derive(Default)]
pub struct PendingEvents(Vec<PendingEvent>);

impl PendingEvents {
    /// Announce a message (`message.created` / `message.updated`).
    pub fn message(&mut self, kind: LiveEventKind, message: &MessageView) -> Result<(), StoreError> {
        let payload = serde_json::to_string(&MessagePayload { conversation_id: message.conversation_id, message })?;
        self.0.push(PendingEvent { kind, conversation_id: message.conversation_id, previous_team_id: None, payload });
        Ok(())
    }

    /// Announce something else about a conversation; `previous_team_id` is the team it left,
    /// when it moved, so that team's agents hear of it too.
    pub fn conversation(&mut self, kind: LiveEventKind, conversation_id: i64, previous_team_id: Option<i64>, payload: &impl Serialize) -> Result<(), StoreError> {
        let payload = serde_json::to_string(payload)?;
        self.0.push(PendingEvent { kind, conversation_id, previous_team_id, payload });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Append the events as the transaction's last statement and commit it. Returns whether
    /// there were any (whether this node's feed should be woken: [`Store::commit`] does so).
    pub async fn commit(self, mut tx: Tx) -> Result<bool, StoreError> {
        self.append(&mut tx.conn()).await?;
        tx.commit().await?;
        Ok(!self.0.is_empty())
    }

    async fn append(&self, conn: &mut Conn<'_>) -> Result<(), StoreError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let now = Millis(crate::clock::now_ms());
        if let Conn::Postgres(_) = conn {
            sql!(conn, execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK_KEY))?;
        }
        for chunk in self.0.chunks(ROWS_PER_STATEMENT) {
            match conn.conn() {
                Conn::Sqlite(c) => insert_events::<sqlx::Sqlite>(chunk, now).build().execute(c).await?.rows_affected(),
                Conn::Postgres(c) => insert_events::<sqlx::Postgres>(chunk, now).build().execute(c).await?.rows_affected(),
            };
        }
        if let Conn::Postgres(_) = conn {
            // Delivered to listeners when (and only if) the transaction commits.
            sql!(conn, execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL))?;
        }
        Ok(())
    }
}

fn insert_events<'a, DB: Database>(events: &'a [PendingEvent], now: Millis) -> QueryBuilder<'a, DB>
where
    &'a str: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    Option<i64>: Encode<'a, DB> + Type<DB>,
    Millis: Encode<'a, DB> + Type<DB>,
{
    let mut builder = QueryBuilder::default();
    builder.push("INSERT INTO live_events (kind, conversation_id, payload, created_at, previous_team_id) ");
    builder.push_values(events, |mut row, event| {
        row.push_bind(event.kind.as_str())
            .push_bind(event.conversation_id)
            .push_bind(event.payload.as_str())
            .push_bind(now)
            .push_bind(event.previous_team_id);
    });
    builder
}

impl Store {
    /// Commit `tx` with the live events it announces, and wake this node's feed if there were
    /// any. Every write that announces something ends here.
    pub(super) async fn commit(&self, tx: Tx, events: PendingEvents) -> Result<(), StoreError> {
        if events.commit(tx).await? {
            self.live_events_written.notify_one();
        }
        Ok(())
    }
}

/// Wake `written` whenever any node commits live events (PostgreSQL).
pub(super) fn forward_notifications(pool: sqlx::PgPool, written: Arc<Notify>) {
    tokio::spawn(async move {
        // Ends once every `Store` (which holds the other references) is gone.
        while Arc::strong_count(&written) > 1 {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::debug!(%error, "live notifications: cannot connect");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(error) = listener.listen(NOTIFY_CHANNEL).await {
                tracing::debug!(%error, "live notifications: LISTEN failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            while Arc::strong_count(&written) > 1 {
                // Woken at least every few seconds, to notice the store is gone.
                let Ok(received) = tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await else { continue };
                match received {
                    Ok(Some(_)) => written.notify_one(),
                    // The connection dropped and will be re-established; anything committed
                    // meanwhile is found by the feed's periodic read.
                    Ok(None) => written.notify_one(),
                    Err(error) => {
                        tracing::debug!(%error, "live notifications: connection lost");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        }
    });
}

impl Store {
    /// Live events after `after_id`, oldest first.
    pub async fn live_events_after(&self, after_id: i64, limit: u32) -> Result<Vec<LiveEvent>, StoreError> {
        let mut conn = self.db.read().await?;
        #[allow(clippy::type_complexity)]
        let rows: Vec<(i64, String, String, Option<i64>, Option<i64>, Option<i64>)> = sql!(conn, query_as(
            // Who may see an event is its conversation's team and assignee now (read once per
            // batch for every client, rather than written with every event on the ingest path).
            "SELECT e.id, e.kind, e.payload, c.team_id, e.previous_team_id, c.assignee_id
             FROM live_events e LEFT JOIN conversations c ON c.id = e.conversation_id
             WHERE e.id > $1 ORDER BY e.id LIMIT $2",
            after_id,
            i64::from(limit),
        ).fetch_all)?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, payload, team_id, previous_team_id, assignee_id)| LiveEvent {
                id,
                kind,
                payload,
                audience: Audience { team_id, previous_team_id, assignee_id },
            })
            .collect())
    }

    /// The newest live event id (0 when there are none).
    pub async fn latest_live_event_id(&self) -> Result<i64, StoreError> {
        let mut conn = self.db.read().await?;
        let id: Option<i64> = sql!(conn, query_scalar("SELECT MAX(id) FROM live_events").fetch_one)?;
        Ok(id.unwrap_or(0))
    }

    /// Drop live events older than `cutoff_ms`; clients further behind resume from the oldest kept.
    pub async fn prune_live_events(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.db.write().await?;
        Ok(sql!(conn, execute("DELETE FROM live_events WHERE created_at < $1", Millis(cutoff_ms)))?)
    }

}

#[cfg(test)]
mod tests {
    use crate::model::{Event, InboundMessage, Party, PluginInfo};
    use crate::store::ingest::IngestRequest;
    use crate::store::testing::{on_both_backends, TestStore};
    use crate::store::Store;
    use std::collections::BTreeSet;

    on_both_backends!(live_event_ids_become_visible_in_order_across_writers);

    fn text(external_id: String, sender: usize) -> Event {
        Event::Message(InboundMessage {
            external_id,
            sender: Party { id: format!("user-{sender}"), ..Party::default() },
            recipient: None,
            kind: crate::model::MessageKind::Text,
            text: Some("hi".into()),
            attachments: vec![],
            reply_to: None,
            timestamp_ms: 1,
            echo: false,
            extra: None,
        })
    }

    async fn write(store: Store, node: usize, count: usize) {
        for n in 0..count {
            let events = vec![text(format!("m-{node}-{n}"), n % 7)];
            let request = IngestRequest { channel_id: "c".into(), request_id: String::new(), raw_body: bytes::Bytes::new(), events, threads: Vec::new(), claims: Vec::new() };
            store.ingest(request).await.expect("ingest");
        }
    }

    /// Two writers (two nodes) commit concurrently while a reader follows the log the way the
    /// live feed does. If a smaller id could become visible after a larger one, the reader
    /// would step past it and never see it.
    async fn live_event_ids_become_visible_in_order_across_writers(store: TestStore) {
        let info = PluginInfo::bare("c");
        store.upsert_channel("c", "c", &info).await.unwrap();
        let other = store.another_node().await;
        const PER_WRITER: usize = 150;
        let writers = [
            tokio::spawn(write(store.store.clone(), 0, PER_WRITER)),
            tokio::spawn(write(other.clone(), 1, PER_WRITER)),
            tokio::spawn(write(store.store.clone(), 2, PER_WRITER)),
            tokio::spawn(write(other, 3, PER_WRITER)),
        ];
        let mut seen = Vec::new();
        let mut last = 0;
        loop {
            let writers_done = writers.iter().all(|writer| writer.is_finished());
            let events = store.live_events_after(last, 50).await.unwrap();
            if writers_done && events.is_empty() {
                break;
            }
            for event in events {
                last = event.id;
                seen.push(event.id);
            }
            tokio::task::yield_now().await;
        }
        for writer in writers {
            writer.await.expect("every write succeeds");
        }
        let all: Vec<i64> = store.live_events_after(0, 10_000).await.unwrap().iter().map(|e| e.id).collect();
        let missed: Vec<&i64> = all.iter().filter(|id| !seen.contains(id)).collect();
        assert!(missed.is_empty(), "the follower stepped past events committed after larger ids: {missed:?}");
        assert_eq!(seen, all);
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 4 * PER_WRITER);
    }
}
