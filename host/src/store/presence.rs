//! Presence, for collision avoidance: which agents are viewing or typing in a conversation.
//!
//! An agent's client sends a heartbeat while the conversation is open; each one extends the
//! row's `expires_at`. A change of who is there (someone arrives, starts or stops typing,
//! leaves, or their heartbeat stops) is announced on the live stream as `presence.updated`
//! with the conversation's whole presence list, so a client never has to merge deltas.
//! Heartbeats that change nothing are not announced. Rows live in the database, not in
//! memory, so every node of a PostgreSQL cluster sees the same presence; the sweep that
//! expires rows claims them with `DELETE … RETURNING`, so exactly one node announces each.

use super::db::{sql, Conn, Millis};
use super::live::{LiveEventKind, PendingEvents};
use super::views::{visible_to, Viewer};
use super::{Store, StoreError};
use serde::Serialize;

crate::model::named_enum! {
    /// What an agent is doing in a conversation.
    pub enum PresenceState {
        /// Has the conversation open.
        Viewing => "viewing",
        /// Is writing a reply or a note in it.
        Typing => "typing",
    }
}

/// One agent's presence in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AgentPresence {
    pub agent_id: i64,
    /// The agent's display name.
    pub name: String,
    pub state: PresenceState,
    /// When this state began (Unix ms).
    pub since: i64,
    /// When it lapses unless another heartbeat comes (Unix ms).
    pub expires_at: i64,
}

/// Who is in one conversation; the payload of `presence.updated` too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ConversationPresence {
    pub conversation_id: i64,
    /// Agents viewing or typing, longest-present first.
    pub agents: Vec<AgentPresence>,
}

type PresenceRow = (i64, i64, String, String, Millis, Millis);

const PRESENCE_SELECT: &str = "SELECT p.conversation_id, p.agent_id, a.display_name, p.state, p.since, p.expires_at
     FROM presence p JOIN agents a ON a.id = p.agent_id";

fn group(rows: Vec<PresenceRow>) -> Result<Vec<ConversationPresence>, StoreError> {
    let mut out: Vec<ConversationPresence> = Vec::new();
    for (conversation_id, agent_id, name, state, since, expires_at) in rows {
        let agent = AgentPresence { agent_id, name, state: PresenceState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("presence state {state:?}")))?, since: since.0, expires_at: expires_at.0 };
        match out.last_mut() {
            Some(last) if last.conversation_id == conversation_id => last.agents.push(agent),
            _ => out.push(ConversationPresence { conversation_id, agents: vec![agent] }),
        }
    }
    Ok(out)
}

/// Conversation `id`'s live presence at `now`.
async fn of_conversation(conn: &mut Conn<'_>, id: i64, now: Millis) -> Result<ConversationPresence, StoreError> {
    let rows: Vec<PresenceRow> = sql!(conn, query_as(
        &format!("{PRESENCE_SELECT} WHERE p.conversation_id = $1 AND p.expires_at > $2 ORDER BY p.since, p.agent_id"),
        id,
        now,
    ).fetch_all)?;
    Ok(group(rows)?.pop().unwrap_or(ConversationPresence { conversation_id: id, agents: Vec::new() }))
}

/// `NotFound` unless `viewer` may see conversation `id`.
async fn ensure_visible(conn: &mut Conn<'_>, viewer: Viewer, id: i64) -> Result<(), StoreError> {
    let visible: Option<i64> = sql!(conn, query_scalar(&format!("SELECT c.id FROM conversations c WHERE c.id = $1 AND {}", visible_to(2)), id, viewer).fetch_optional)?;
    visible.map(|_| ()).ok_or_else(|| StoreError::NotFound(format!("conversation {id}")))
}

/// `presence.updated` carrying `presence` (the conversation's whole list).
fn announce(presence: &ConversationPresence) -> Result<PendingEvents, StoreError> {
    let mut events = PendingEvents::default();
    events.conversation(LiveEventKind::PresenceUpdated, presence.conversation_id, None, presence)?;
    Ok(events)
}

impl Store {
    /// Record a heartbeat: `agent_id` is in conversation `id` doing `state` until
    /// `now_ms + ttl_ms`. Announced when it changes who is there or what they do.
    pub async fn heartbeat(&self, viewer: Viewer, agent_id: i64, id: i64, state: PresenceState, now_ms: i64, ttl_ms: i64) -> Result<ConversationPresence, StoreError> {
        let now = Millis(now_ms);
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        ensure_visible(&mut conn, viewer, id).await?;
        let before: Option<(String, Millis)> = sql!(conn, query_as(
            "SELECT state, expires_at FROM presence WHERE conversation_id = $1 AND agent_id = $2",
            id,
            agent_id,
        ).fetch_optional)?;
        // A lapsed row the sweep has not reached yet counts as absent.
        let unchanged = before.as_ref().is_some_and(|(old, expires)| old == state.as_str() && expires.0 > now_ms);
        sql!(conn, execute(
            "INSERT INTO presence (conversation_id, agent_id, state, since, expires_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (conversation_id, agent_id) DO UPDATE SET
                 since = CASE WHEN presence.state = excluded.state AND presence.expires_at > $4 THEN presence.since ELSE excluded.since END,
                 state = excluded.state,
                 expires_at = excluded.expires_at",
            id,
            agent_id,
            state.as_str(),
            now,
            Millis(now_ms.saturating_add(ttl_ms)),
        ))?;
        let presence = of_conversation(&mut conn, id, now).await?;
        let events = if unchanged { PendingEvents::default() } else { announce(&presence)? };
        self.commit(tx, events).await?;
        Ok(presence)
    }

    /// `agent_id` left conversation `id` (closed it, or switched away). Announced if they were
    /// there; leaving twice is not an error.
    pub async fn leave(&self, viewer: Viewer, agent_id: i64, id: i64, now_ms: i64) -> Result<(), StoreError> {
        let now = Millis(now_ms);
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        ensure_visible(&mut conn, viewer, id).await?;
        let removed = sql!(conn, execute(
            "DELETE FROM presence WHERE conversation_id = $1 AND agent_id = $2 AND expires_at > $3",
            id,
            agent_id,
            now,
        ))?;
        let events = if removed > 0 { announce(&of_conversation(&mut conn, id, now).await?)? } else { PendingEvents::default() };
        self.commit(tx, events).await?;
        Ok(())
    }

    /// Presence in every conversation `viewer` may see, at `now_ms`, by conversation id.
    pub async fn presence(&self, viewer: Viewer, now_ms: i64) -> Result<Vec<ConversationPresence>, StoreError> {
        let mut conn = self.db.read().await?;
        let rows: Vec<PresenceRow> = sql!(conn, query_as(
            &format!(
                "{PRESENCE_SELECT} JOIN conversations c ON c.id = p.conversation_id
                 WHERE p.expires_at > $1 AND {} ORDER BY p.conversation_id, p.since, p.agent_id",
                visible_to(2)
            ),
            Millis(now_ms),
            viewer,
        ).fetch_all)?;
        group(rows)
    }

    /// Remove presence whose heartbeat stopped before `now_ms`, announcing each conversation
    /// that lost someone; returns those conversations' ids.
    pub async fn expire_presence(&self, now_ms: i64) -> Result<Vec<i64>, StoreError> {
        let now = Millis(now_ms);
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let mut lapsed: Vec<i64> = sql!(conn, query_scalar("DELETE FROM presence WHERE expires_at <= $1 RETURNING conversation_id", now).fetch_all)?;
        lapsed.sort_unstable();
        lapsed.dedup();
        if lapsed.is_empty() {
            return Ok(lapsed);
        }
        let mut events = PendingEvents::default();
        for id in &lapsed {
            let presence = of_conversation(&mut conn, *id, now).await?;
            events.conversation(LiveEventKind::PresenceUpdated, *id, None, &presence)?;
        }
        self.commit(tx, events).await?;
        Ok(lapsed)
    }
}
