//! What mail needs from the store beyond what every channel does: a reply's thread (subject,
//! earlier message ids, the conversation's reply token), the attachments an agent may download,
//! and pruning of one-time webhook tokens.

use super::db::{sql, Millis};
use super::views::{visible_to, Viewer};
use super::{Store, StoreError};
use crate::model::{Attachment, MailThread};
use sqlx::types::Json;

/// Earlier message ids handed to a reply at most (`References`): the first and the newest.
const MAX_REFERENCES: usize = 50;

/// A stored attachment, as the download answers with it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMedia {
    pub mime_type: Option<String>,
    pub filename: Option<String>,
}

impl Store {
    /// The thread of outbound message `message_id`, a mail reply: the subject of its
    /// conversation's first mail on the channel that has one, the ids of the conversation's
    /// mails before it (oldest first), and the conversation's reply token, made the first time
    /// one is asked for.
    pub async fn mail_thread(&self, message_id: i64) -> Result<MailThread, StoreError> {
        let mut conn = self.db.write().await?;
        let (conversation_id, channel_id): (i64, String) =
            sql!(conn, query_as("SELECT conversation_id, channel_id FROM messages WHERE id = $1", message_id).fetch_optional)?
                .ok_or_else(|| StoreError::NotFound(format!("message {message_id}")))?;
        let rows: Vec<(String, Option<Json<serde_json::Value>>)> = sql!(conn, query_as(
            "SELECT external_id, extra FROM messages
             WHERE conversation_id = $1 AND channel_id = $2 AND id < $3 AND external_id IS NOT NULL
             ORDER BY id",
            conversation_id,
            &channel_id,
            message_id,
        ).fetch_all)?;
        let subject = rows
            .iter()
            .find_map(|(_, extra)| extra.as_ref()?.0.get("subject")?.as_str().map(str::to_string))
            .filter(|subject| !subject.trim().is_empty());
        let mut references: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
        if references.len() > MAX_REFERENCES {
            // The first names the thread; the newest are what clients match.
            references.drain(1..references.len() - (MAX_REFERENCES - 1));
        }
        let fresh = new_token()?;
        let token: Option<String> = sql!(conn, query_scalar(
            "UPDATE conversations SET reply_token = COALESCE(reply_token, $1) WHERE id = $2 RETURNING reply_token",
            &fresh,
            conversation_id,
        ).fetch_optional)?;
        Ok(MailThread { subject, references, token })
    }

    /// The attachment stored as `sha256` in conversation `conversation_id`, if `viewer` may see
    /// the conversation and one of its messages names it: a hash alone grants nothing.
    pub async fn media_in_conversation(&self, viewer: Viewer, conversation_id: i64, sha256: &str) -> Result<Option<StoredMedia>, StoreError> {
        let mut conn = self.db.read().await?;
        let visible = format!("SELECT m.attachments FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.id = $1 AND {}", visible_to(2));
        let rows: Vec<Json<Vec<Attachment>>> = sql!(conn, query_scalar(&visible, conversation_id, viewer).fetch_all)?;
        Ok(named_in(rows, sha256))
    }

    /// Forget one-time webhook tokens that expired before `now_ms`; returns how many.
    pub async fn prune_replay_tokens(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.db.write().await?;
        Ok(sql!(conn, execute("DELETE FROM replay_tokens WHERE expires_at < $1", Millis(now_ms)))?)
    }
}

/// The attachment among `rows` (messages' attachment lists) that names stored file `sha256`.
pub(super) fn named_in(rows: Vec<Json<Vec<Attachment>>>, sha256: &str) -> Option<StoredMedia> {
    let reference = format!("{}{sha256}", crate::media::MEDIA_PREFIX);
    rows.into_iter()
        .flat_map(|attachments| attachments.0)
        .find(|attachment| attachment.reference == reference)
        .map(|attachment| StoredMedia { mime_type: attachment.mime_type, filename: attachment.filename })
}

/// A reply token: 16 random characters of `[a-z0-9]` (about 80 bits), short enough for an address's
/// local part and never guessable, since it lets a mail join a conversation.
fn new_token() -> Result<String, StoreError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Unavailable(format!("no randomness for a reply token: {e}")))?;
    Ok(bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect())
}
