//! Which conversation a mail replies to, from the hints its plugin found: the ids it replies
//! to (`In-Reply-To`, then `References` newest first), matched against every message stored on
//! the channel (the customer's earlier mails and our own replies, whose `Message-ID` is their
//! external id), then a plus-address reply token (`support+<token>@…`), which Outlook keeps
//! when it drops `In-Reply-To`. No hint that matches: the message goes where any channel's
//! would (the contact's open conversation, else a new one).

use crate::model::ThreadHints;
use crate::store::db::{sql, Conn, Millis};
use crate::store::live::PendingEvents;
use crate::store::StoreError;

/// Ids looked up at most per message: a `References` header can list hundreds, and the newest
/// few are the ones that match.
const MAX_LOOKUPS: usize = 20;

/// The conversation `hints` lead to, when it can take the message: an unresolved one, or a
/// resolved one that could be reopened (its contact has no other unresolved conversation,
/// since a contact has at most one).
pub(super) async fn join(
    conn: &mut Conn<'_>,
    channel_id: &str,
    hints: &ThreadHints,
    now: Millis,
    events: &mut PendingEvents,
) -> Result<Option<i64>, StoreError> {
    let Some(conversation_id) = hinted(conn, channel_id, hints).await? else { return Ok(None) };
    let status: Option<String> = sql!(conn, query_scalar("SELECT status FROM conversations WHERE id = $1", conversation_id).fetch_optional)?;
    match status.as_deref() {
        None => Ok(None),
        Some("resolved") => crate::store::workflow::reopen_resolved(conn, conversation_id, now, events).await,
        Some(_) => Ok(Some(conversation_id)),
    }
}

async fn hinted(conn: &mut Conn<'_>, channel_id: &str, hints: &ThreadHints) -> Result<Option<i64>, StoreError> {
    for id in hints.replies_to.iter().take(MAX_LOOKUPS) {
        let found: Option<i64> = sql!(conn, query_scalar(
            "SELECT conversation_id FROM messages WHERE channel_id = $1 AND external_id = $2",
            channel_id,
            id,
        ).fetch_optional)?;
        if found.is_some() {
            return Ok(found);
        }
    }
    match &hints.token {
        Some(token) => Ok(sql!(conn, query_scalar("SELECT id FROM conversations WHERE reply_token = $1", token).fetch_optional)?),
        None => Ok(None),
    }
}
