//! What the API and the live stream show: conversations, messages and contacts, read from
//! the database in one shape for both.

use super::db::{from_row, sql, Conn, Millis};
use super::{Store, StoreError};
use crate::model::Attachment;
use serde::Serialize;
use sqlx::types::Json;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactSummary {
    pub id: i64,
    pub display_name: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The language the contact reads (`en`, `pt_BR`), when known; template sends must match it.
    pub language: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessagePreview {
    pub id: i64,
    pub direction: String,
    pub kind: String,
    pub text: Option<String>,
    pub status: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConversationView {
    pub id: i64,
    pub status: super::workflow::Status,
    pub priority: super::workflow::Priority,
    /// The channel of the customer's latest message: where a reply goes by default, unless
    /// routing chose `reply_channel_id`.
    pub channel_id: String,
    /// The channel routing prefers for replies (a preference or cost policy); replies go
    /// there when the request names none.
    pub reply_channel_id: Option<String>,
    pub contact: ContactSummary,
    pub last_message: Option<MessagePreview>,
    pub last_message_at: i64,
    pub unread_count: i64,
    pub created_at: i64,
    /// The agent working it, if one.
    pub assignee_id: Option<i64>,
    /// The team whose queue it is in, if one.
    pub team_id: Option<i64>,
    pub labels: Vec<String>,
    /// When a snoozed conversation reopens by itself (Unix ms).
    pub snoozed_until: Option<i64>,
    /// The newest of our messages the customer has read here (from read receipts and
    /// watermarks), and when they read it (the provider's time when it gave one, Unix ms).
    pub customer_read_message_id: Option<i64>,
    pub customer_read_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SenderView {
    pub identity_id: i64,
    /// The provider's id for the customer on this channel.
    pub external_id: String,
    pub display_name: Option<String>,
    pub phone: Option<String>,
}

/// A reply that could not go out on its first channel and was sent on another.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FailoverView {
    /// The channel it failed on first.
    pub from_channel_id: String,
    /// Why: the provider's code there (`131047`), or the failure's kind.
    pub code: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorView {
    pub code: Option<String>,
    pub message: Option<String>,
}

/// `Deserialize` too: the web chat socket reads it back from live events.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub conversation_id: i64,
    pub channel_id: String,
    pub direction: String,
    /// The provider's message id (for outbound messages, once sent).
    pub external_id: Option<String>,
    pub kind: String,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<serde_json::Value>,
    pub reply_to_external_id: Option<String>,
    /// The customer identity on the channel: the sender of inbound messages, the recipient of outbound ones.
    pub contact_identity: Option<SenderView>,
    /// The agent who wrote an outbound message.
    pub author: Option<String>,
    pub status: String,
    pub error: Option<ErrorView>,
    /// Set when the reply failed over from another channel to `channel_id`.
    #[serde(default)]
    pub failover: Option<FailoverView>,
    /// When the provider says it was sent (inbound), Unix ms.
    pub provider_timestamp: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IdentityView {
    pub id: i64,
    pub channel_id: String,
    pub external_id: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub username: Option<String>,
    pub opted_out: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    pub id: i64,
    pub display_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The language the contact reads (`en`, `pt_BR`), when known; template sends must match it.
    pub language: Option<String>,
    pub identities: Vec<IdentityView>,
    /// Channels the contact can be written to: those of identities that have not opted out.
    /// A reply may pick any of them (`channel_id`); by default it goes where they last wrote.
    pub reachable_channels: Vec<String>,
    /// Set while this contact is merged into another (until the merge is undone).
    pub merged_into_id: Option<i64>,
    pub created_at: i64,
}

/// A page of results, newest first, with the cursor for the next page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from rows fetched with one more than `limit`: the extra row only says that a
    /// next page exists, and `cursor_of` makes its cursor from this page's last row.
    pub(super) fn from_overfetch(mut items: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Self {
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(usize::try_from(limit).unwrap_or(0));
            items.last().map(cursor_of)
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

pub(super) const MESSAGE_SELECT: &str = "SELECT m.id, m.conversation_id, m.channel_id, m.direction, m.external_id, m.kind, m.text,
        m.attachments, m.extra, m.reply_to_external_id, m.author, m.status, m.error_code, m.error_message,
        m.provider_timestamp, m.created_at, m.updated_at, m.identity_id, m.failover_from, m.failover_code,
        i.external_id AS identity_external_id, i.display_name AS identity_name, i.phone AS identity_phone
    FROM messages m LEFT JOIN contact_identities i ON i.id = m.identity_id";

from_row!(MessageView, |row| {
    let identity_id: Option<i64> = row.try_get("identity_id")?;
    let error_code: Option<String> = row.try_get("error_code")?;
    let error_message: Option<String> = row.try_get("error_message")?;
    let failover_from: Option<String> = row.try_get("failover_from")?;
    Ok(MessageView {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        channel_id: row.try_get("channel_id")?,
        direction: row.try_get("direction")?,
        external_id: row.try_get("external_id")?,
        kind: row.try_get("kind")?,
        text: row.try_get("text")?,
        attachments: row.try_get::<Json<Vec<Attachment>>, _>("attachments")?.0,
        extra: row.try_get::<Option<Json<serde_json::Value>>, _>("extra")?.map(|json| json.0),
        reply_to_external_id: row.try_get("reply_to_external_id")?,
        contact_identity: match identity_id {
            Some(identity_id) => Some(SenderView {
                identity_id,
                external_id: row.try_get("identity_external_id")?,
                display_name: row.try_get("identity_name")?,
                phone: row.try_get("identity_phone")?,
            }),
            None => None,
        },
        author: row.try_get("author")?,
        status: row.try_get("status")?,
        error: (error_code.is_some() || error_message.is_some())
            .then_some(ErrorView { code: error_code, message: error_message }),
        failover: match failover_from {
            Some(from_channel_id) => Some(FailoverView { from_channel_id, code: row.try_get("failover_code")? }),
            None => None,
        },
        provider_timestamp: row.try_get::<Option<Millis>, _>("provider_timestamp")?.map(|at| at.0),
        created_at: row.try_get::<Millis, _>("created_at")?.0,
        updated_at: row.try_get::<Millis, _>("updated_at")?.0,
    })
});

/// Messages `ids`, as the API shows them, in no particular order (one statement for all).
pub async fn messages_by_id(conn: &mut Conn<'_>, ids: &[i64]) -> Result<Vec<MessageView>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    fn select<'a, DB: sqlx::Database>(ids: &'a [i64]) -> sqlx::QueryBuilder<'a, DB>
    where
        i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        let mut builder = sqlx::QueryBuilder::new(MESSAGE_SELECT);
        builder.push(" WHERE m.id IN (");
        let mut separated = builder.separated(", ");
        for id in ids {
            separated.push_bind(*id);
        }
        builder.push(")");
        builder
    }
    Ok(match conn.conn() {
        Conn::Sqlite(c) => select::<sqlx::Sqlite>(ids).build_query_as().fetch_all(c).await?,
        Conn::Postgres(c) => select::<sqlx::Postgres>(ids).build_query_as().fetch_all(c).await?,
    })
}

/// One message, as the API shows it.
pub async fn message(conn: &mut Conn<'_>, id: i64) -> Result<Option<MessageView>, StoreError> {
    let sql = format!("{MESSAGE_SELECT} WHERE m.id = $1");
    Ok(sql!(conn, query_as(&sql, id).fetch_optional)?)
}

/// A stored name read back as its enum; a name this version does not know fails the row.
fn stored<T>(text: String, parse: fn(&str) -> Option<T>) -> Result<T, sqlx::Error> {
    parse(&text).ok_or_else(|| sqlx::Error::Decode(format!("unknown stored value `{text}`").into()))
}

const CONVERSATION_SELECT: &str = "SELECT c.id, c.status, c.priority, c.last_channel_id, c.last_message_at, c.unread_count,
        c.created_at, c.contact_id, ct.display_name, ct.phone, ct.email, ct.language, c.assignee_id, c.team_id, c.snoozed_until, c.reply_channel_id,
        c.customer_read_message_id, c.customer_read_at,
        m.id AS m_id, m.direction AS m_direction, m.kind AS m_kind, m.text AS m_text, m.status AS m_status,
        m.created_at AS m_created_at
    FROM conversations c
    JOIN contacts ct ON ct.id = c.contact_id
    LEFT JOIN messages m ON m.id = c.last_message_id";

from_row!(ConversationView, |row| {
    let last_id: Option<i64> = row.try_get("m_id")?;
    Ok(ConversationView {
        id: row.try_get("id")?,
        status: stored(row.try_get("status")?, super::workflow::Status::parse)?,
        priority: stored(row.try_get("priority")?, super::workflow::Priority::parse)?,
        channel_id: row.try_get("last_channel_id")?,
        reply_channel_id: row.try_get("reply_channel_id")?,
        contact: ContactSummary {
            id: row.try_get("contact_id")?,
            display_name: row.try_get("display_name")?,
            phone: row.try_get("phone")?,
            email: row.try_get("email")?,
            language: row.try_get("language")?,
        },
        last_message: match last_id {
            Some(id) => Some(MessagePreview {
                id,
                direction: row.try_get("m_direction")?,
                kind: row.try_get("m_kind")?,
                text: row.try_get("m_text")?,
                status: row.try_get("m_status")?,
                created_at: row.try_get::<Millis, _>("m_created_at")?.0,
            }),
            None => None,
        },
        last_message_at: row.try_get::<Millis, _>("last_message_at")?.0,
        unread_count: row.try_get("unread_count")?,
        created_at: row.try_get::<Millis, _>("created_at")?.0,
        assignee_id: row.try_get("assignee_id")?,
        team_id: row.try_get("team_id")?,
        labels: Vec::new(),
        snoozed_until: row.try_get::<Option<Millis>, _>("snoozed_until")?.map(|at| at.0),
        customer_read_message_id: row.try_get("customer_read_message_id")?,
        customer_read_at: row.try_get::<Option<Millis>, _>("customer_read_at")?.map(|at| at.0),
    })
});

/// Who is looking: `None` sees everything (admins), an agent sees their teams' conversations,
/// those without a team, and those assigned to them.
pub type Viewer = Option<i64>;

/// The SQL condition for [`Viewer`] `$n`, over conversations aliased `c`.
pub(super) fn visible_to(n: usize) -> String {
    format!(
        "(${n} IS NULL OR c.team_id IS NULL OR c.assignee_id = ${n}
          OR c.team_id IN (SELECT tm.team_id FROM team_members tm WHERE tm.agent_id = ${n}))"
    )
}

/// Fill in the labels of `conversations`.
pub(super) async fn attach_labels(conn: &mut Conn<'_>, conversations: &mut [ConversationView]) -> Result<(), StoreError> {
    if conversations.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = conversations.iter().map(|c| c.id.to_string()).collect();
    // Ids are integers from the database, not input: safe to inline.
    let sql = format!("SELECT conversation_id, label FROM conversation_labels WHERE conversation_id IN ({}) ORDER BY label", ids.join(","));
    let rows: Vec<(i64, String)> = sql!(conn, query_as(&sql).fetch_all)?;
    for conversation in conversations.iter_mut() {
        conversation.labels = rows.iter().filter(|(id, _)| *id == conversation.id).map(|(_, label)| label.clone()).collect();
    }
    Ok(())
}

/// One conversation on `conn` (inside a transaction, say), with its labels.
pub(super) async fn conversation_on(conn: &mut Conn<'_>, id: i64) -> Result<Option<ConversationView>, StoreError> {
    let sql = format!("{CONVERSATION_SELECT} WHERE c.id = $1");
    let conversation: Option<ConversationView> = sql!(conn, query_as(&sql, id).fetch_optional)?;
    let mut found: Vec<ConversationView> = conversation.into_iter().collect();
    attach_labels(conn, &mut found).await?;
    Ok(found.pop())
}

/// How a conversation list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Most recent message first.
    #[default]
    Newest,
    /// Least recent message first.
    Oldest,
    /// Those whose last message is the customer's, the longest waiting first.
    WaitingLongest,
    /// Urgent first, then high, normal, low; newest first within each.
    Priority,
}

/// Which conversations a list shows; `None` is any.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub channel_id: Option<String>,
    pub status: Option<super::workflow::Status>,
    /// Only those assigned to this agent.
    pub assignee_id: Option<i64>,
    /// Only those assigned to nobody.
    pub unassigned: bool,
    pub team_id: Option<i64>,
    pub label: Option<String>,
    pub priority: Option<super::workflow::Priority>,
    /// Only those with messages `reader` has not read.
    pub unread: bool,
    /// Only those whose contact or messages match.
    pub search: Option<super::search::SearchTerms>,
}

/// A keyset cursor: `(priority rank, last_message_at, id)` of the last row of a page.
fn parse_cursor(cursor: &str) -> Option<(i64, i64, i64)> {
    let mut parts = cursor.split('_').map(|part| part.parse::<i64>().ok());
    let (first, second, third) = (parts.next()??, parts.next()??, parts.next());
    match (third, parts.next()) {
        (None, _) => Some((0, first, second)),
        (Some(Some(third)), None) => Some((first, second, third)),
        _ => None,
    }
}

const PRIORITY_RANK: &str = "(CASE c.priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END)";

/// The SQL condition for `reader` `$n` having unread messages in `c` (or, without a reader,
/// anyone: the conversation's own count).
pub(super) fn unread_by(n: usize) -> String {
    format!(
        "(CASE WHEN ${n} IS NULL THEN c.unread_count > 0 ELSE EXISTS (
             SELECT 1 FROM messages um WHERE um.conversation_id = c.id AND um.direction = 'inbound'
               AND um.id > COALESCE((SELECT r.last_read_message_id FROM conversation_reads r
                                     WHERE r.conversation_id = c.id AND r.agent_id = ${n}), 0)) END)"
    )
}

/// Set `unread_count` of each conversation to what `reader` has not read.
pub(super) async fn attach_unread(conn: &mut Conn<'_>, conversations: &mut [ConversationView], reader: Option<i64>) -> Result<(), StoreError> {
    let Some(reader) = reader else { return Ok(()) };
    if conversations.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = conversations.iter().map(|c| c.id.to_string()).collect();
    // Ids are integers from the database, not input: safe to inline.
    let sql = format!(
        "SELECT m.conversation_id, COUNT(*) FROM messages m
         LEFT JOIN conversation_reads r ON r.conversation_id = m.conversation_id AND r.agent_id = $1
         WHERE m.conversation_id IN ({}) AND m.direction = 'inbound' AND m.id > COALESCE(r.last_read_message_id, 0)
         GROUP BY m.conversation_id",
        ids.join(",")
    );
    let counts: Vec<(i64, i64)> = sql!(conn, query_as(&sql, reader).fetch_all)?;
    for conversation in conversations.iter_mut() {
        conversation.unread_count = counts.iter().find(|(id, _)| *id == conversation.id).map_or(0, |(_, n)| *n);
    }
    Ok(())
}

impl Store {
    /// Conversations `viewer` may see that pass `filter`, in `sort` order; `reader` is the agent
    /// whose read state counts as unread (`None`: the conversation's own count).
    pub async fn list_conversations(
        &self,
        viewer: Viewer,
        reader: Option<i64>,
        filter: &ConversationFilter,
        sort: Sort,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<ConversationView>, StoreError> {
        let limit = i64::from(limit.clamp(1, 200));
        let ascending = matches!(sort, Sort::Oldest | Sort::WaitingLongest);
        let (rank, at, id) = match cursor {
            Some(cursor) => parse_cursor(cursor).ok_or_else(|| StoreError::InvalidCursor(cursor.to_string()))?,
            None if ascending => (0, i64::MIN, i64::MIN),
            None => (i64::MAX, i64::MAX, i64::MAX),
        };
        let (keyset, order) = match sort {
            Sort::Newest => ("(c.last_message_at < $1 OR (c.last_message_at = $1 AND c.id < $2))".to_string(), "c.last_message_at DESC, c.id DESC".to_string()),
            Sort::Oldest | Sort::WaitingLongest => {
                ("(c.last_message_at > $1 OR (c.last_message_at = $1 AND c.id > $2))".to_string(), "c.last_message_at ASC, c.id ASC".to_string())
            }
            Sort::Priority => (
                format!("({PRIORITY_RANK} < $13 OR ({PRIORITY_RANK} = $13 AND (c.last_message_at < $1 OR (c.last_message_at = $1 AND c.id < $2))))"),
                format!("{PRIORITY_RANK} DESC, c.last_message_at DESC, c.id DESC"),
            ),
        };
        let waiting = if sort == Sort::WaitingLongest { "AND m.direction = 'inbound'" } else { "" };
        let sql = format!(
            "{CONVERSATION_SELECT}
             WHERE {keyset} AND {visible} {waiting}
               AND ($5 IS NULL OR c.last_channel_id = $5)
               AND ($6 IS NULL OR c.status = $6)
               AND ($7 IS NULL OR c.assignee_id = $7)
               AND ($8 = 0 OR c.assignee_id IS NULL)
               AND ($9 IS NULL OR c.team_id = $9)
               AND ($10 IS NULL OR EXISTS (SELECT 1 FROM conversation_labels l WHERE l.conversation_id = c.id AND l.label = $10))
               AND ($11 IS NULL OR c.priority = $11)
               AND ($14 = 0 OR {unread})
               AND {search}
             ORDER BY {order} LIMIT $3",
            visible = visible_to(4),
            unread = unread_by(12),
            search = super::search::matches(self.db.backend(), 15),
        );
        let (search_messages, search_contacts) = match &filter.search {
            Some(terms) => {
                let (a, b) = terms.binds(self.db.backend());
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        let mut conn = self.db.read().await?;
        let items: Vec<ConversationView> = sql!(conn, query_as(
            &sql,
            Millis(at),
            id,
            limit + 1,
            viewer,
            filter.channel_id.as_deref(),
            filter.status.map(super::workflow::Status::as_str),
            filter.assignee_id,
            i64::from(filter.unassigned),
            filter.team_id,
            filter.label.as_deref(),
            filter.priority.map(super::workflow::Priority::as_str),
            reader,
            rank,
            i64::from(filter.unread),
            search_messages.as_deref(),
            search_contacts.as_deref(),
        ).fetch_all)?;
        let mut page = Page::from_overfetch(items, limit, |c| {
            use super::workflow::Priority;
            let rank = match c.priority {
                Priority::Urgent => 3,
                Priority::High => 2,
                Priority::Normal => 1,
                Priority::Low => 0,
            };
            format!("{rank}_{}_{}", c.last_message_at, c.id)
        });
        attach_labels(&mut conn.conn(), &mut page.items).await?;
        attach_unread(&mut conn.conn(), &mut page.items, reader).await?;
        Ok(page)
    }

    /// Mark conversation `id` read by `reader` up to `message_id` (its newest when `None`);
    /// read state only moves forward.
    pub async fn mark_read(&self, viewer: Viewer, reader: Option<i64>, id: i64, message_id: Option<i64>) -> Result<(), StoreError> {
        let Some(conversation) = self.conversation(viewer, id).await? else {
            return Err(StoreError::NotFound(format!("conversation {id}")));
        };
        let up_to = message_id.or(conversation.last_message.as_ref().map(|m| m.id)).unwrap_or(0);
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        if let Some(agent) = reader {
            sql!(conn, execute(
                "INSERT INTO conversation_reads (conversation_id, agent_id, last_read_message_id) VALUES ($1, $2, $3)
                 ON CONFLICT (conversation_id, agent_id) DO UPDATE
                 SET last_read_message_id = CASE WHEN excluded.last_read_message_id > conversation_reads.last_read_message_id
                                                 THEN excluded.last_read_message_id ELSE conversation_reads.last_read_message_id END",
                id,
                agent,
                up_to,
            ))?;
        }
        // The conversation's own count is "unread by anyone".
        sql!(conn, execute("UPDATE conversations SET unread_count = 0 WHERE id = $1", id))?;
        tx.commit().await?;
        Ok(())
    }

    /// Conversation `id`, if `viewer` may see it.
    pub async fn conversation(&self, viewer: Viewer, id: i64) -> Result<Option<ConversationView>, StoreError> {
        let sql = format!("{CONVERSATION_SELECT} WHERE c.id = $1 AND {}", visible_to(2));
        let mut conn = self.db.read().await?;
        let conversation: Option<ConversationView> = sql!(conn, query_as(&sql, id, viewer).fetch_optional)?;
        let mut found: Vec<ConversationView> = conversation.into_iter().collect();
        attach_labels(&mut conn.conn(), &mut found).await?;
        Ok(found.pop())
    }

    /// Change a contact's name, email or phone (already normalised); `None` leaves a field.
    pub async fn update_contact(&self, id: i64, display_name: Option<&str>, email: Option<&str>, phone: Option<&str>) -> Result<ContactView, StoreError> {
        self.update_contact_with_language(id, display_name, email, phone, None).await
    }

    /// [`Store::update_contact`], also setting the language the contact reads.
    pub async fn update_contact_with_language(
        &self,
        id: i64,
        display_name: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
        language: Option<&str>,
    ) -> Result<ContactView, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut conn = self.db.write().await?;
        let updated = sql!(conn, execute(
            "UPDATE contacts SET display_name = COALESCE($2, display_name), email = COALESCE($3, email), phone = COALESCE($4, phone),
                 language = COALESCE($6, language), updated_at = $5
             WHERE id = $1",
            id,
            display_name,
            email,
            phone,
            now,
            language,
        ))?;
        drop(conn);
        if updated == 0 {
            return Err(StoreError::NotFound(format!("contact {id}")));
        }
        self.contact(id).await?.ok_or_else(|| StoreError::NotFound(format!("contact {id}")))
    }

    /// Every message of contact `id` on every channel, in the order they arrived (pages back
    /// by id with `before`), from the conversations `viewer` may see.
    pub async fn contact_timeline(&self, viewer: Viewer, contact_id: i64, limit: u32, before: Option<i64>) -> Result<Page<MessageView>, StoreError> {
        let limit = i64::from(limit.clamp(1, 500));
        let sql = format!(
            "{MESSAGE_SELECT} JOIN conversations c ON c.id = m.conversation_id
             WHERE c.contact_id = $1 AND m.id < $2 AND {} ORDER BY m.id DESC LIMIT $3",
            visible_to(4)
        );
        let mut conn = self.db.read().await?;
        let items: Vec<MessageView> = sql!(conn, query_as(&sql, contact_id, before.unwrap_or(i64::MAX), limit + 1, viewer).fetch_all)?;
        let mut page = Page::from_overfetch(items, limit, |m| m.id.to_string());
        page.items.reverse();
        Ok(page)
    }

    /// A conversation's messages in the order they arrived; `before` pages backwards by id.
    pub async fn conversation_messages(&self, conversation_id: i64, limit: u32, before: Option<i64>) -> Result<Page<MessageView>, StoreError> {
        let limit = i64::from(limit.clamp(1, 500));
        let sql = format!("{MESSAGE_SELECT} WHERE m.conversation_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3");
        let mut conn = self.db.read().await?;
        let items: Vec<MessageView> =
            sql!(conn, query_as(&sql, conversation_id, before.unwrap_or(i64::MAX), limit + 1).fetch_all)?;
        let mut page = Page::from_overfetch(items, limit, |m| m.id.to_string());
        page.items.reverse();
        Ok(page)
    }

    pub async fn contact(&self, id: i64) -> Result<Option<ContactView>, StoreError> {
        let mut conn = self.db.read().await?;
        #[allow(clippy::type_complexity)]
        let contact: Option<(i64, Option<String>, Option<String>, Option<String>, Millis, Option<i64>, Option<String>)> = sql!(conn, query_as(
            "SELECT id, display_name, phone, email, created_at, merged_into_id, language FROM contacts WHERE id = $1",
            id,
        ).fetch_optional)?;
        let Some((id, display_name, phone, email, created_at, merged_into_id, language)) = contact else {
            return Ok(None);
        };
        #[allow(clippy::type_complexity)]
        let identities: Vec<(i64, String, String, Option<String>, Option<String>, Option<String>, Option<String>, bool)> = sql!(conn, query_as(
            "SELECT id, channel_id, external_id, phone, email, display_name, username, opted_out
             FROM contact_identities WHERE contact_id = $1 ORDER BY id",
            id,
        ).fetch_all)?;
        let reachable_channels = identities
            .iter()
            .filter(|identity| !identity.7)
            .map(|identity| identity.1.clone())
            .fold(Vec::<String>::new(), |mut channels, channel| {
                if !channels.contains(&channel) {
                    channels.push(channel);
                }
                channels
            });
        let identities = identities
            .into_iter()
            .map(|(id, channel_id, external_id, phone, email, display_name, username, opted_out)| IdentityView {
                id,
                channel_id,
                external_id,
                phone,
                email,
                display_name,
                username,
                opted_out,
            })
            .collect();
        Ok(Some(ContactView { id, display_name, phone, email, language, identities, reachable_channels, merged_into_id, created_at: created_at.0 }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursor_round_trip() {
        assert_eq!(super::parse_cursor("1700000000000_42"), Some((0, 1_700_000_000_000, 42)));
        assert_eq!(super::parse_cursor("3_1700000000000_42"), Some((3, 1_700_000_000_000, 42)));
        assert_eq!(super::parse_cursor("3_1_2_4"), None);
        assert_eq!(super::parse_cursor("junk"), None);
        assert_eq!(super::parse_cursor("1_x"), None);
    }
}
