//! What web chat needs from the store beyond what every channel does: each instance's session
//! signing key, a visitor's history, what a visitor may download, and the visitor's typing
//! announced to agents.
//!
//! A visitor is their identity on the channel (`contact_identities.external_id` is the session's
//! visitor id), so every query here is bound to `(channel_id, visitor_id)`: a visitor sees
//! their own messages on this channel and nothing else, not even their contact's other channels.
//!
//! The queries reach the visitor's messages through their contact's conversations
//! ([`VISITOR_CONVERSATIONS`], on the `conversations_contact` and `messages_conversation`
//! indexes) rather than through an index on `messages.identity_id`: such an index would cost
//! every ingested message of every channel one more B-tree write (it measured as a visible
//! share of ingest), for queries that only a widget makes.

use super::db::{sql, Millis};
use super::live::{LiveEventKind, PendingEvents};
use super::mail::StoredMedia;
use super::views::{MessageView, MESSAGE_SELECT};
use super::{Store, StoreError};
use crate::model::Attachment;
use serde::Serialize;
use sqlx::types::Json;

/// The conversations of the contact whose identity on channel `$1` is visitor `$2`.
const VISITOR_CONVERSATIONS: &str = "SELECT c.id FROM conversations c JOIN contact_identities vi ON vi.contact_id = c.contact_id
     WHERE vi.channel_id = $1 AND vi.external_id = $2";
/// The visitor's identity.
const VISITOR_IDENTITY: &str = "SELECT id FROM contact_identities WHERE channel_id = $1 AND external_id = $2";

/// Bytes of a session signing key.
const KEY_BYTES: usize = 32;

/// The payload of `contact.typing`: the customer is (or stopped) writing in the widget.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactTyping {
    pub conversation_id: i64,
    pub channel_id: String,
    pub typing: bool,
    /// When a `typing: true` lapses unless renewed (Unix ms).
    pub expires_at: i64,
}

impl Store {
    /// The key `channel_id` signs visitor sessions with: made by the first node that asks,
    /// the same for every node after.
    pub async fn webchat_signing_key(&self, channel_id: &str) -> Result<Vec<u8>, StoreError> {
        let mut fresh = [0u8; KEY_BYTES];
        getrandom::getrandom(&mut fresh).map_err(|e| StoreError::Unavailable(format!("no randomness for a signing key: {e}")))?;
        let mut conn = self.db.write().await?;
        sql!(conn, execute(
            "INSERT INTO webchat_keys (channel_id, signing_key, created_at) VALUES ($1, $2, $3) ON CONFLICT (channel_id) DO NOTHING",
            channel_id,
            fresh.as_slice(),
            Millis(crate::clock::now_ms()),
        ))?;
        Ok(sql!(conn, query_scalar("SELECT signing_key FROM webchat_keys WHERE channel_id = $1", channel_id).fetch_one)?)
    }

    /// The visitor's last `limit` messages on the channel, oldest first: what they wrote, and
    /// the replies that have left the outbox (a queued or failed one never reached them).
    pub async fn visitor_messages(&self, channel_id: &str, visitor_id: &str, limit: u32) -> Result<Vec<MessageView>, StoreError> {
        let sql = format!(
            "{MESSAGE_SELECT} WHERE m.conversation_id IN ({VISITOR_CONVERSATIONS}) AND m.identity_id = ({VISITOR_IDENTITY})
                 AND m.channel_id = $1 AND (m.direction = 'inbound' OR m.status IN ('sent', 'delivered', 'read'))
             ORDER BY m.id DESC LIMIT $3"
        );
        let mut conn = self.db.read().await?;
        let mut items: Vec<MessageView> = sql!(conn, query_as(&sql, channel_id, visitor_id, i64::from(limit.clamp(1, 500))).fetch_all)?;
        items.reverse();
        Ok(items)
    }

    /// The conversation the visitor's latest message on the channel is in, if they have one.
    pub async fn visitor_conversation(&self, channel_id: &str, visitor_id: &str) -> Result<Option<i64>, StoreError> {
        let sql = format!(
            "SELECT m.conversation_id FROM messages m
             WHERE m.conversation_id IN ({VISITOR_CONVERSATIONS}) AND m.identity_id = ({VISITOR_IDENTITY})
             ORDER BY m.id DESC LIMIT 1"
        );
        let mut conn = self.db.read().await?;
        Ok(sql!(conn, query_scalar(&sql, channel_id, visitor_id).fetch_optional)?)
    }

    /// When reply `message_id` to the visitor was created: the watermark of a receipt for it.
    /// `None` when it is not a reply to this visitor on this channel.
    pub async fn visitor_reply_time(&self, channel_id: &str, visitor_id: &str, message_id: i64) -> Result<Option<i64>, StoreError> {
        let mut conn = self.db.read().await?;
        let created: Option<Millis> = sql!(conn, query_scalar(
            "SELECT m.created_at FROM messages m JOIN contact_identities i ON i.id = m.identity_id
             WHERE m.id = $1 AND m.channel_id = $2 AND m.direction = 'outbound' AND i.channel_id = $2 AND i.external_id = $3",
            message_id,
            channel_id,
            visitor_id,
        ).fetch_optional)?;
        Ok(created.map(|at| at.0))
    }

    /// The stored file `sha256`, if one of the visitor's messages on the channel names it: a
    /// hash alone grants nothing.
    pub async fn visitor_media(&self, channel_id: &str, visitor_id: &str, sha256: &str) -> Result<Option<StoredMedia>, StoreError> {
        let sql = format!(
            "SELECT m.attachments FROM messages m
             WHERE m.conversation_id IN ({VISITOR_CONVERSATIONS}) AND m.identity_id = ({VISITOR_IDENTITY})
                 AND m.channel_id = $1 AND m.attachments <> '[]'"
        );
        let mut conn = self.db.read().await?;
        let rows: Vec<Json<Vec<Attachment>>> = sql!(conn, query_scalar(&sql, channel_id, visitor_id).fetch_all)?;
        Ok(super::mail::named_in(rows, sha256))
    }

    /// Tell the agents in conversation `conversation_id` that its customer started or stopped
    /// typing in the widget (`contact.typing` on the live stream).
    pub async fn announce_contact_typing(&self, typing: &ContactTyping) -> Result<(), StoreError> {
        let tx = self.db.begin().await?;
        let mut events = PendingEvents::default();
        events.conversation(LiveEventKind::ContactTyping, typing.conversation_id, None, typing)?;
        self.commit(tx, events).await
    }

    /// The address the visitor left to be answered at (their identity's email), if any.
    pub async fn visitor_email(&self, channel_id: &str, visitor_id: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.db.read().await?;
        let email: Option<Option<String>> = sql!(conn, query_scalar(
            "SELECT email FROM contact_identities WHERE channel_id = $1 AND external_id = $2",
            channel_id,
            visitor_id,
        ).fetch_optional)?;
        Ok(email.flatten())
    }

    /// Whether any agent is online, so the widget can say who answers when.
    pub async fn agents_online(&self) -> Result<bool, StoreError> {
        let mut conn = self.db.read().await?;
        let online: Option<i64> = sql!(conn, query_scalar("SELECT id FROM agents WHERE availability = 'online' LIMIT 1").fetch_optional)?;
        Ok(online.is_some())
    }
}
