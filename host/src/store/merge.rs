//! Merging two contacts into one, and undoing it exactly.
//!
//! A merge moves the merged contact's identities and conversations to the survivor. If both
//! have a conversation that is not resolved, they become one thread: the merged one's
//! messages and activity move into the survivor's, and the emptied conversation is resolved.
//! Everything moved is recorded with the merge (`contact_merges.moved`), so an unmerge puts
//! back exactly that, plus what the merged contact's identities said since. Both are audited.

use super::audit;
use super::workflow::{self, Actor};
use super::db::{sql, Conn, Millis};
use super::live::PendingEvents;
use super::views::ContactView;
use super::{Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::types::Json;

/// A contact's own fields, as they were before a merge filled them in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Fields {
    display_name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
}

/// Two open conversations joined into one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Joined {
    /// The merged contact's conversation, emptied and resolved.
    from: i64,
    /// The survivor's, which took its messages.
    into: i64,
    messages: Vec<i64>,
    activity: Vec<i64>,
    from_status: String,
    from_snoozed_until: Option<i64>,
    from_unread: i64,
    into_unread: i64,
    /// The newest message id when the merge happened: later messages of the merged
    /// contact's identities go back with them.
    max_message_id: i64,
}

/// What a merge moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Moved {
    identities: Vec<i64>,
    conversations: Vec<i64>,
    joined: Option<Joined>,
    survivor_before: Fields,
}

/// A merge, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MergeView {
    pub id: i64,
    pub survivor_id: i64,
    pub merged_id: i64,
    /// The survivor, as it is after the merge.
    pub contact: ContactView,
}

fn inline(ids: &[i64]) -> String {
    // Ids read from the database, never input: safe to inline.
    if ids.is_empty() { "NULL".to_string() } else { ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",") }
}

/// A contact's name, phone, email and `merged_into_id`.
type FieldsRow = (Option<String>, Option<String>, Option<String>, Option<i64>);

async fn fields(conn: &mut Conn<'_>, id: i64) -> Result<(Fields, Option<i64>), StoreError> {
    let row: Option<FieldsRow> =
        sql!(conn, query_as("SELECT display_name, phone, email, merged_into_id FROM contacts WHERE id = $1", id).fetch_optional)?;
    let (display_name, phone, email, merged_into) = row.ok_or_else(|| StoreError::NotFound(format!("contact {id}")))?;
    Ok((Fields { display_name, phone, email }, merged_into))
}

async fn open_conversation(conn: &mut Conn<'_>, contact_id: i64) -> Result<Option<(i64, String, Option<Millis>, i64)>, StoreError> {
    Ok(sql!(conn, query_as(
        "SELECT id, status, snoozed_until, unread_count FROM conversations WHERE contact_id = $1 AND status <> 'resolved'",
        contact_id,
    ).fetch_optional)?)
}

/// Point `id`'s last-message columns at its newest message (after messages moved).
async fn refresh_last_message(conn: &mut Conn<'_>, id: i64, now: Millis) -> Result<(), StoreError> {
    sql!(conn, execute(
        "UPDATE conversations SET
             last_message_id = (SELECT MAX(m.id) FROM messages m WHERE m.conversation_id = $1),
             last_message_at = COALESCE((SELECT m.created_at FROM messages m WHERE m.conversation_id = $1 ORDER BY m.id DESC LIMIT 1), last_message_at),
             last_channel_id = COALESCE((SELECT m.channel_id FROM messages m WHERE m.conversation_id = $1 AND m.direction = 'inbound' ORDER BY m.id DESC LIMIT 1), last_channel_id),
             updated_at = $2
         WHERE id = $1",
        id,
        now,
    ))?;
    Ok(())
}

/// Record `kind` (`contact_merged`, `contact_unmerged`) in `conversation`'s activity and
/// announce it, so the thread shows who merged what.
#[allow(clippy::too_many_arguments)]
async fn announce(conn: &mut Conn<'_>, conversation: i64, kind: &str, actor: &Actor, merged_id: i64, survivor_id: i64, now: Millis, events: &mut PendingEvents) -> Result<(), StoreError> {
    let change = workflow::record(conn, conversation, kind, actor, Some(format!("contact {merged_id}")), Some(format!("contact {survivor_id}")), None, now).await?;
    workflow::announce(conn, conversation, &[change], None, events).await
}

impl Store {
    /// Merge contact `merged_id` into `survivor_id`.
    pub async fn merge_contacts(&self, survivor_id: i64, merged_id: i64, actor: &Actor) -> Result<MergeView, StoreError> {
        if survivor_id == merged_id {
            return Err(StoreError::Conflict("a contact cannot be merged into itself".into()));
        }
        let now = Millis(crate::clock::now_ms());
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let (survivor_before, survivor_merged) = fields(&mut conn, survivor_id).await?;
        let (merged_fields, merged_merged) = fields(&mut conn, merged_id).await?;
        if survivor_merged.is_some() || merged_merged.is_some() {
            return Err(StoreError::Conflict("that contact was merged into another already".into()));
        }
        let identities: Vec<i64> = sql!(conn, query_scalar("SELECT id FROM contact_identities WHERE contact_id = $1 ORDER BY id", merged_id).fetch_all)?;
        let mut events = PendingEvents::default();
        // Two open threads become one.
        let joined = match (open_conversation(&mut conn, survivor_id).await?, open_conversation(&mut conn, merged_id).await?) {
            (Some((into, _, _, into_unread)), Some((from, from_status, from_snoozed_until, from_unread))) => {
                let messages: Vec<i64> = sql!(conn, query_scalar("SELECT id FROM messages WHERE conversation_id = $1 ORDER BY id", from).fetch_all)?;
                let activity: Vec<i64> = sql!(conn, query_scalar("SELECT id FROM conversation_activity WHERE conversation_id = $1 ORDER BY id", from).fetch_all)?;
                let max_message_id: i64 = sql!(conn, query_scalar("SELECT COALESCE(MAX(id), 0) FROM messages").fetch_one)?;
                sql!(conn, execute("UPDATE messages SET conversation_id = $2 WHERE conversation_id = $1", from, into))?;
                sql!(conn, execute("UPDATE conversation_activity SET conversation_id = $2 WHERE conversation_id = $1", from, into))?;
                sql!(conn, execute(
                    "UPDATE conversations SET status = 'resolved', snoozed_until = NULL, unread_count = 0, last_message_id = NULL, updated_at = $2 WHERE id = $1",
                    from,
                    now,
                ))?;
                sql!(conn, execute("UPDATE conversations SET unread_count = unread_count + $2 WHERE id = $1", into, from_unread))?;
                refresh_last_message(&mut conn, into, now).await?;
                Some(Joined {
                    from,
                    into,
                    messages,
                    activity,
                    from_status,
                    from_snoozed_until: from_snoozed_until.map(|m| m.0),
                    from_unread,
                    into_unread,
                    max_message_id,
                })
            }
            _ => None,
        };
        let conversations: Vec<i64> = sql!(conn, query_scalar("SELECT id FROM conversations WHERE contact_id = $1 ORDER BY id", merged_id).fetch_all)?;
        sql!(conn, execute("UPDATE conversations SET contact_id = $2, updated_at = $3 WHERE contact_id = $1", merged_id, survivor_id, now))?;
        sql!(conn, execute("UPDATE contact_identities SET contact_id = $2, updated_at = $3 WHERE contact_id = $1", merged_id, survivor_id, now))?;
        sql!(conn, execute(
            "UPDATE contacts SET display_name = COALESCE(display_name, $2), phone = COALESCE(phone, $3), email = COALESCE(email, $4), updated_at = $5 WHERE id = $1",
            survivor_id,
            merged_fields.display_name.as_deref(),
            merged_fields.phone.as_deref(),
            merged_fields.email.as_deref(),
            now,
        ))?;
        sql!(conn, execute("UPDATE contacts SET merged_into_id = $2, updated_at = $3 WHERE id = $1", merged_id, survivor_id, now))?;
        let moved = Moved { identities, conversations, joined, survivor_before };
        let id: i64 = sql!(conn, query_scalar(
            "INSERT INTO contact_merges (survivor_id, merged_id, moved, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            survivor_id,
            merged_id,
            Json(&moved),
            now,
        ).fetch_one)?;
        let detail = json!({"merge_id": id, "survivor_id": survivor_id, "merged_id": merged_id, "moved": &moved});
        audit::record(&mut conn, actor, "contact.merged", &format!("contact:{survivor_id}"), &detail, now).await?;
        for conversation in moved.conversations.iter().chain(moved.joined.as_ref().map(|j| &j.into)) {
            announce(&mut conn, *conversation, "contact_merged", actor, merged_id, survivor_id, now, &mut events).await?;
        }
        self.commit(tx, events).await?;
        let contact = self.contact(survivor_id).await?.ok_or_else(|| StoreError::NotFound(format!("contact {survivor_id}")))?;
        Ok(MergeView { id, survivor_id, merged_id, contact })
    }

    /// Undo merge `id`: put back exactly what it moved.
    pub async fn unmerge(&self, id: i64, actor: &Actor) -> Result<ContactView, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let row: Option<(i64, i64, Json<Moved>, Option<Millis>)> = sql!(conn, query_as(
            "SELECT survivor_id, merged_id, moved, undone_at FROM contact_merges WHERE id = $1",
            id,
        ).fetch_optional)?;
        let (survivor_id, merged_id, Json(moved), undone) = row.ok_or_else(|| StoreError::NotFound(format!("merge {id}")))?;
        if undone.is_some() {
            return Err(StoreError::Conflict(format!("merge {id} was undone already")));
        }
        // A later merge took the survivor away (with what this merge gave it): undo that one
        // first, or its record would later put back identities this undo had moved.
        let later: Option<i64> = sql!(conn, query_scalar(
            "SELECT id FROM contact_merges WHERE id > $1 AND merged_id = $2 AND undone_at IS NULL ORDER BY id DESC LIMIT 1",
            id,
            survivor_id,
        ).fetch_optional)?;
        if let Some(later) = later {
            return Err(StoreError::Conflict(format!("contact {survivor_id} was merged again by merge {later}: undo that first")));
        }
        // Conversations first (while the joined one is still resolved, so the survivor's open
        // one and it never both count as open for one contact).
        let conversations = inline(&moved.conversations);
        sql!(conn, execute(&format!("UPDATE conversations SET contact_id = $1, updated_at = $2 WHERE id IN ({conversations})"), merged_id, now))?;
        if let Some(joined) = &moved.joined {
            let identities = inline(&moved.identities);
            let messages = inline(&joined.messages);
            let activity = inline(&joined.activity);
            sql!(conn, execute(
                &format!(
                    "UPDATE messages SET conversation_id = $1 WHERE conversation_id = $2
                       AND (id IN ({messages}) OR (identity_id IN ({identities}) AND id > $3))"
                ),
                joined.from,
                joined.into,
                joined.max_message_id,
            ))?;
            sql!(conn, execute(&format!("UPDATE conversation_activity SET conversation_id = $1 WHERE id IN ({activity})"), joined.from))?;
            sql!(conn, execute(
                "UPDATE conversations SET status = $2, snoozed_until = $3, unread_count = $4, updated_at = $5 WHERE id = $1",
                joined.from,
                &joined.from_status,
                joined.from_snoozed_until.map(Millis),
                joined.from_unread,
                now,
            ))?;
            sql!(conn, execute("UPDATE conversations SET unread_count = $2 WHERE id = $1", joined.into, joined.into_unread))?;
            refresh_last_message(&mut conn, joined.from, now).await?;
            refresh_last_message(&mut conn, joined.into, now).await?;
        }
        let identities = inline(&moved.identities);
        sql!(conn, execute(&format!("UPDATE contact_identities SET contact_id = $1, updated_at = $2 WHERE id IN ({identities})"), merged_id, now))?;
        let before = &moved.survivor_before;
        sql!(conn, execute(
            "UPDATE contacts SET display_name = $2, phone = $3, email = $4, updated_at = $5 WHERE id = $1",
            survivor_id,
            before.display_name.as_deref(),
            before.phone.as_deref(),
            before.email.as_deref(),
            now,
        ))?;
        sql!(conn, execute("UPDATE contacts SET merged_into_id = NULL, updated_at = $2 WHERE id = $1", merged_id, now))?;
        sql!(conn, execute("UPDATE contact_merges SET undone_at = $2 WHERE id = $1", id, now))?;
        let detail = json!({"merge_id": id, "survivor_id": survivor_id, "merged_id": merged_id, "restored": &moved});
        audit::record(&mut conn, actor, "contact.unmerged", &format!("contact:{merged_id}"), &detail, now).await?;
        let mut events = PendingEvents::default();
        for conversation in moved.conversations.iter().chain(moved.joined.as_ref().map(|j| &j.into)) {
            announce(&mut conn, *conversation, "contact_unmerged", actor, merged_id, survivor_id, now, &mut events).await?;
        }
        self.commit(tx, events).await?;
        self.contact(merged_id).await?.ok_or_else(|| StoreError::NotFound(format!("contact {merged_id}")))
    }
}
