//! The conversation workflow: status (with snoozes), priority, assignee, team and labels,
//! private notes, and the activity that records who changed what. Every change is one
//! transaction that writes the change, its activity entries and its live event together.

use super::db::{sql, Conn, Millis};
use super::live::{LiveEventKind, PendingEvents};
use super::views::{self, ConversationView, Page, Viewer};
use super::{Store, StoreError};
use serde::Serialize;

crate::model::named_enum! {
    /// A conversation's status.
    pub enum Status {
        Open => "open",
        /// Waiting on the customer.
        Pending => "pending",
        /// Out of the way until `snoozed_until`, or a new message.
        Snoozed => "snoozed",
        Resolved => "resolved",
    }
}

crate::model::named_enum! {
    pub enum Priority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
}

/// Who makes a change: an agent, the bootstrap admin, or the gateway itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub agent_id: Option<i64>,
}

impl Actor {
    pub fn system() -> Self {
        Self { name: "system".into(), agent_id: None }
    }
}

/// Changes to a conversation. `None` leaves a field; for assignee and team, `Some(None)`
/// clears it.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub status: Option<Status>,
    /// With `status: snoozed`, when it wakes (Unix ms).
    pub snoozed_until: Option<i64>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Option<i64>>,
    pub team_id: Option<Option<i64>>,
    pub add_labels: Vec<String>,
    pub remove_labels: Vec<String>,
}

/// One entry of a conversation's activity: a change or a private note.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ActivityView {
    pub id: i64,
    pub conversation_id: i64,
    /// `note`, `status`, `priority`, `assignee`, `team`, `label_added`, `label_removed`,
    /// `contact_merged` or `contact_unmerged`.
    pub kind: String,
    /// The agent's name, `admin` (the bootstrap token) or `system`.
    pub actor: String,
    pub agent_id: Option<i64>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// A note's text (notes are never sent to the customer).
    pub body: Option<String>,
    pub created_at: i64,
}

/// What `conversation.updated` carries.
#[derive(Serialize)]
struct UpdatedPayload<'a> {
    conversation_id: i64,
    conversation: &'a ConversationView,
    changes: &'a [ActivityView],
}

#[derive(Serialize)]
struct NotePayload<'a> {
    conversation_id: i64,
    note: &'a ActivityView,
}

struct Current {
    status: String,
    priority: String,
    assignee_id: Option<i64>,
    team_id: Option<i64>,
}

fn opt(id: Option<i64>) -> Option<String> {
    id.map(|id| id.to_string())
}

/// Record one change in a conversation's activity (inside the change's transaction).
#[allow(clippy::too_many_arguments)]
pub(super) async fn record(
    conn: &mut Conn<'_>,
    conversation_id: i64,
    kind: &str,
    actor: &Actor,
    old_value: Option<String>,
    new_value: Option<String>,
    body: Option<&str>,
    now: Millis,
) -> Result<ActivityView, StoreError> {
    let id: i64 = sql!(conn, query_scalar(
        "INSERT INTO conversation_activity (conversation_id, kind, actor, agent_id, old_value, new_value, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        conversation_id,
        kind,
        &actor.name,
        actor.agent_id,
        old_value.as_deref(),
        new_value.as_deref(),
        body,
        now,
    ).fetch_one)?;
    Ok(ActivityView {
        id,
        conversation_id,
        kind: kind.to_string(),
        actor: actor.name.clone(),
        agent_id: actor.agent_id,
        old_value,
        new_value,
        body: body.map(str::to_string),
        created_at: now.0,
    })
}

/// Reference a row that must exist, or refuse the change.
async fn must_exist(conn: &mut Conn<'_>, table: &str, id: i64) -> Result<(), StoreError> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE id = $1");
    let found: i64 = sql!(conn, query_scalar(&sql, id).fetch_one)?;
    if found == 0 {
        return Err(StoreError::InvalidReference(format!("{} {id} does not exist", table.trim_end_matches('s'))));
    }
    Ok(())
}

/// Apply `changes` to conversation `id` on `conn`; returns the activity written (empty when
/// nothing changed) and, when the team changed, the team it left.
async fn apply(conn: &mut Conn<'_>, id: i64, changes: &Changes, actor: &Actor, now: Millis) -> Result<(Vec<ActivityView>, Option<i64>), StoreError> {
    apply_with(conn, id, changes, actor, now, true).await
}

/// [`apply`] without an activity entry per change: routing records one line per deciding
/// policy instead (`routed`, with its reason).
pub(super) async fn apply_quietly(conn: &mut Conn<'_>, id: i64, changes: &Changes, actor: &Actor, now: Millis) -> Result<(Vec<ActivityView>, Option<i64>), StoreError> {
    apply_with(conn, id, changes, actor, now, false).await
}

async fn apply_with(
    conn: &mut Conn<'_>,
    id: i64,
    changes: &Changes,
    actor: &Actor,
    now: Millis,
    record_activity: bool,
) -> Result<(Vec<ActivityView>, Option<i64>), StoreError> {
    let row: Option<(String, String, Option<i64>, Option<i64>)> =
        sql!(conn, query_as("SELECT status, priority, assignee_id, team_id FROM conversations WHERE id = $1", id).fetch_optional)?;
    let Some((status, priority, assignee_id, team_id)) = row else {
        return Err(StoreError::NotFound(format!("conversation {id}")));
    };
    let current = Current { status, priority, assignee_id, team_id };
    let mut activity = Vec::new();
    let mut left_team = None;
    if let Some(status) = changes.status {
        let snoozed_until = (status == Status::Snoozed).then_some(changes.snoozed_until).flatten().map(Millis);
        let updated = sql!(conn, execute(
            "UPDATE conversations SET status = $2, snoozed_until = $3, updated_at = $4 WHERE id = $1",
            id,
            status.as_str(),
            snoozed_until,
            now,
        ));
        match updated {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(StoreError::Conflict("the contact has another conversation that is not resolved".into()));
            }
            Err(error) => return Err(error.into()),
        }
        if current.status != status.as_str() || status == Status::Snoozed {
            let new_value = match snoozed_until {
                Some(until) => format!("snoozed until {}", until.0),
                None => status.as_str().to_string(),
            };
            if record_activity {
                activity.push(record(conn, id, "status", actor, Some(current.status.clone()), Some(new_value), None, now).await?);
            }
        }
    }
    if let Some(priority) = changes.priority.filter(|p| p.as_str() != current.priority) {
        sql!(conn, execute("UPDATE conversations SET priority = $2, updated_at = $3 WHERE id = $1", id, priority.as_str(), now))?;
        if record_activity {
                activity.push(record(conn, id, "priority", actor, Some(current.priority.clone()), Some(priority.as_str().into()), None, now).await?);
            }
    }
    if let Some(assignee) = changes.assignee_id.filter(|a| *a != current.assignee_id) {
        if let Some(agent) = assignee {
            must_exist(conn, "agents", agent).await?;
        }
        // `assigned_at` orders round robin among equally loaded agents (routing).
        sql!(conn, execute(
            "UPDATE conversations SET assignee_id = $2, assigned_at = CASE WHEN $2 IS NULL THEN assigned_at ELSE $3 END, updated_at = $3 WHERE id = $1",
            id,
            assignee,
            now,
        ))?;
        if record_activity {
                activity.push(record(conn, id, "assignee", actor, opt(current.assignee_id), opt(assignee), None, now).await?);
            }
    }
    if let Some(team) = changes.team_id.filter(|t| *t != current.team_id) {
        if let Some(team) = team {
            must_exist(conn, "teams", team).await?;
        }
        sql!(conn, execute("UPDATE conversations SET team_id = $2, updated_at = $3 WHERE id = $1", id, team, now))?;
        left_team = current.team_id;
        if record_activity {
                activity.push(record(conn, id, "team", actor, opt(current.team_id), opt(team), None, now).await?);
            }
    }
    for label in &changes.add_labels {
        let added = sql!(conn, execute(
            "INSERT INTO conversation_labels (conversation_id, label) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            id,
            label,
        ))?;
        if added > 0 && record_activity {
            activity.push(record(conn, id, "label_added", actor, None, Some(label.clone()), None, now).await?);
        }
    }
    for label in &changes.remove_labels {
        let removed = sql!(conn, execute("DELETE FROM conversation_labels WHERE conversation_id = $1 AND label = $2", id, label))?;
        if removed > 0 && record_activity {
            activity.push(record(conn, id, "label_removed", actor, Some(label.clone()), None, None, now).await?);
        }
    }
    Ok((activity, left_team))
}

/// Reopen a resolved conversation of `contact_id` for a new inbound message, if it has one:
/// the newest. Called by ingest, inside its transaction, when the contact has no conversation
/// that is not resolved.
pub(super) async fn reopen_latest(conn: &mut Conn<'_>, contact_id: i64, now: Millis, events: &mut PendingEvents) -> Result<Option<i64>, StoreError> {
    let latest: Option<i64> = sql!(conn, query_scalar(
        "SELECT id FROM conversations WHERE contact_id = $1 ORDER BY last_message_at DESC, id DESC LIMIT 1",
        contact_id,
    ).fetch_optional)?;
    match latest {
        Some(id) => reopen_resolved(conn, id, now, events).await,
        None => Ok(None),
    }
}

/// Reopen resolved conversation `id` for a new customer message, unless its contact has
/// another unresolved conversation (a contact has at most one). Returns it when reopened.
pub(super) async fn reopen_resolved(conn: &mut Conn<'_>, id: i64, now: Millis, events: &mut PendingEvents) -> Result<Option<i64>, StoreError> {
    let reopened: Option<i64> = sql!(conn, query_scalar(
        "UPDATE conversations SET status = 'open', snoozed_until = NULL, updated_at = $2
         WHERE id = $1 AND status = 'resolved'
           AND NOT EXISTS (SELECT 1 FROM conversations other WHERE other.contact_id = conversations.contact_id AND other.status <> 'resolved')
         RETURNING id",
        id,
        now,
    ).fetch_optional)?;
    if let Some(id) = reopened {
        let change = record(conn, id, "status", &Actor::system(), Some("resolved".into()), Some("open".into()), None, now).await?;
        announce(conn, id, &[change], None, events).await?;
    }
    Ok(reopened)
}

/// Queue `conversation.updated` for conversation `id` as it now reads, with the `changes`
/// that were just recorded: the one place that payload is built.
pub(super) async fn announce(conn: &mut Conn<'_>, id: i64, changes: &[ActivityView], left_team: Option<i64>, events: &mut PendingEvents) -> Result<(), StoreError> {
    let conversation = views::conversation_on(conn, id).await?.ok_or_else(|| StoreError::NotFound(format!("conversation {id}")))?;
    events.conversation(LiveEventKind::ConversationUpdated, id, left_team, &UpdatedPayload { conversation_id: id, conversation: &conversation, changes })
}

impl Store {
    /// Change conversation `id` as `actor`, if `viewer` may see it; returns it as it is now.
    pub async fn update_conversation(&self, viewer: Viewer, id: i64, changes: &Changes, actor: &Actor) -> Result<ConversationView, StoreError> {
        if self.conversation(viewer, id).await?.is_none() {
            return Err(StoreError::NotFound(format!("conversation {id}")));
        }
        let now = Millis(crate::clock::now_ms());
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let (activity, left_team) = apply(&mut conn, id, changes, actor, now).await?;
        let mut events = PendingEvents::default();
        if !activity.is_empty() {
            announce(&mut conn, id, &activity, left_team, &mut events).await?;
        }
        let conversation = views::conversation_on(&mut conn, id).await?.ok_or_else(|| StoreError::NotFound(format!("conversation {id}")))?;
        self.commit(tx, events).await?;
        Ok(conversation)
    }

    /// Add a private note to conversation `id`: agents see it, the customer never does.
    pub async fn add_note(&self, viewer: Viewer, id: i64, text: &str, actor: &Actor) -> Result<ActivityView, StoreError> {
        if self.conversation(viewer, id).await?.is_none() {
            return Err(StoreError::NotFound(format!("conversation {id}")));
        }
        let now = Millis(crate::clock::now_ms());
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let note = record(&mut conn, id, "note", actor, None, None, Some(text), now).await?;
        let mut events = PendingEvents::default();
        events.conversation(LiveEventKind::NoteCreated, id, None, &NotePayload { conversation_id: id, note: &note })?;
        self.commit(tx, events).await?;
        Ok(note)
    }

    /// Conversation `id`'s activity and notes, newest first; `before` pages back by id.
    pub async fn activity(&self, viewer: Viewer, id: i64, limit: u32, before: Option<i64>) -> Result<Page<ActivityView>, StoreError> {
        if self.conversation(viewer, id).await?.is_none() {
            return Err(StoreError::NotFound(format!("conversation {id}")));
        }
        let limit = i64::from(limit.clamp(1, 500));
        let mut conn = self.db.read().await?;
        #[allow(clippy::type_complexity)]
        let rows: Vec<(i64, String, String, Option<i64>, Option<String>, Option<String>, Option<String>, Millis)> = sql!(conn, query_as(
            "SELECT id, kind, actor, agent_id, old_value, new_value, body, created_at FROM conversation_activity
             WHERE conversation_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
            id,
            before.unwrap_or(i64::MAX),
            limit + 1,
        ).fetch_all)?;
        let items: Vec<ActivityView> = rows
            .into_iter()
            .map(|(activity_id, kind, actor, agent_id, old_value, new_value, body, created_at)| ActivityView {
                id: activity_id,
                conversation_id: id,
                kind,
                actor,
                agent_id,
                old_value,
                new_value,
                body,
                created_at: created_at.0,
            })
            .collect();
        Ok(Page::from_overfetch(items, limit, |a| a.id.to_string()))
    }

    /// Reopen every snoozed conversation whose time has come (at `now_ms`); returns their ids.
    pub async fn wake_snoozed(&self, now_ms: i64) -> Result<Vec<i64>, StoreError> {
        let due: Vec<i64> = {
            let mut conn = self.db.read().await?;
            sql!(conn, query_scalar(
                "SELECT id FROM conversations WHERE status = 'snoozed' AND snoozed_until IS NOT NULL AND snoozed_until <= $1 ORDER BY id LIMIT 500",
                Millis(now_ms),
            ).fetch_all)?
        };
        let mut woken = Vec::new();
        for id in due {
            let now = Millis(now_ms);
            let mut tx = self.db.begin().await?;
            let mut conn = tx.conn();
            // Still snoozed and due: an agent or a message may have reopened it meanwhile.
            let updated = sql!(conn, execute(
                "UPDATE conversations SET status = 'open', snoozed_until = NULL, updated_at = $2
                 WHERE id = $1 AND status = 'snoozed' AND snoozed_until <= $2",
                id,
                now,
            ))?;
            if updated == 0 {
                continue;
            }
            let change = record(&mut conn, id, "status", &Actor::system(), Some("snoozed".into()), Some("open".into()), None, now).await?;
            let mut events = PendingEvents::default();
            announce(&mut conn, id, &[change], None, &mut events).await?;
            self.commit(tx, events).await?;
            woken.push(id);
        }
        Ok(woken)
    }
}
