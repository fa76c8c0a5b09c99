//! Search over conversations: contact names, phones (any format, fragments too), emails,
//! channel user ids and message text, with each backend's own engine.
//!
//! - **SQLite:** FTS5 tables with the trigram tokenizer. An indexer task ([`Store::index_pending`])
//!   copies new messages and changed contacts into them in batches, a moment after they are
//!   committed, so ingest does not tokenize on its hot path.
//! - **PostgreSQL:** trigram GIN indexes on the columns themselves (`pg_trgm`), queried with
//!   `ILIKE`, which those indexes serve; nothing to keep in step.
//!
//! Both match substrings of at least three characters, case-insensitively.

use super::db::{sql, Backend, Conn, Millis};
use super::{Db, Store, StoreError};

/// Shortest query: trigram indexes cannot serve fewer characters.
pub const MIN_QUERY: usize = 3;
/// Rows indexed per batch.
const BATCH: i64 = 1000;

/// A search as the list query uses it: the text, and its digits when it looks like a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms {
    pub text: String,
    pub digits: Option<String>,
}

impl SearchTerms {
    /// `None` when `query` is shorter than [`MIN_QUERY`] characters.
    pub fn parse(query: &str) -> Option<Self> {
        let text = query.trim().to_string();
        if text.chars().count() < MIN_QUERY {
            return None;
        }
        // "(55) 1234-5678", "+52 55 1234": the digits find the number however it is stored.
        let phone_like = text.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        Some(Self { digits: (phone_like && digits.len() >= MIN_QUERY).then_some(digits), text })
    }

    /// What the list query binds at `$n` and `$n+1`: FTS5 queries over messages and over
    /// contacts (SQLite), or `ILIKE` patterns of the text and of the digits (PostgreSQL).
    pub(super) fn binds(&self, backend: Backend) -> (String, String) {
        match backend {
            Backend::Sqlite => (self.message_fts(), self.fts()),
            Backend::Postgres => self.patterns(),
        }
    }

    /// The FTS5 query over messages: the text as a quoted phrase (no operators from the user).
    fn message_fts(&self) -> String {
        format!("\"{}\"", self.text.replace('"', "\"\""))
    }

    /// The FTS5 query over contacts: the text, or its digits.
    pub(super) fn fts(&self) -> String {
        let phrase = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
        match &self.digits {
            Some(digits) if *digits != self.text => format!("{} OR {}", phrase(&self.text), phrase(digits)),
            _ => phrase(&self.text),
        }
    }

    /// The `ILIKE` patterns, with `%`, `_` and `\` escaped: (text, digits).
    pub(super) fn patterns(&self) -> (String, String) {
        let escape = |text: &str| format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        (escape(&self.text), escape(self.digits.as_deref().unwrap_or(&self.text)))
    }
}

/// The SQL condition for conversations `c` matching the search bound at `$n` and `$n+1`
/// ([`SearchTerms::binds`]), or every conversation when they are NULL.
pub(super) fn matches(backend: Backend, n: usize) -> String {
    let m = n + 1;
    match backend {
        Backend::Sqlite => format!(
            "(${n} IS NULL
              OR c.id IN (SELECT ms.conversation_id FROM message_search ms WHERE message_search MATCH ${n})
              OR c.contact_id IN (SELECT cs.rowid FROM contact_search cs WHERE contact_search MATCH ${m}))"
        ),
        Backend::Postgres => {
            format!(
                "(${n}::text IS NULL
                  OR c.id IN (SELECT sm.conversation_id FROM messages sm WHERE sm.text ILIKE ${n})
                  OR c.contact_id IN (SELECT sc.id FROM contacts sc WHERE sc.display_name ILIKE ${n} OR sc.email ILIKE ${n} OR sc.phone ILIKE ${m})
                  OR c.contact_id IN (SELECT si.contact_id FROM contact_identities si
                                      WHERE si.external_id ILIKE ${n} OR si.external_id ILIKE ${m}
                                         OR si.username ILIKE ${n} OR si.display_name ILIKE ${n}))"
            )
        }
    }
}

/// One contact's searchable text: names, phone digits, emails, channel ids and usernames.
async fn contact_body(conn: &mut Conn<'_>, contact_id: i64) -> Result<String, StoreError> {
    let contact: Option<(Option<String>, Option<String>, Option<String>)> =
        sql!(conn, query_as("SELECT display_name, phone, email FROM contacts WHERE id = $1", contact_id).fetch_optional)?;
    let identities: Vec<(String, Option<String>, Option<String>)> = sql!(conn, query_as(
        "SELECT external_id, username, display_name FROM contact_identities WHERE contact_id = $1",
        contact_id,
    ).fetch_all)?;
    let mut parts: Vec<String> = Vec::new();
    if let Some((name, phone, email)) = contact {
        parts.extend(name);
        if let Some(phone) = phone {
            parts.push(phone.chars().filter(char::is_ascii_digit).collect());
        }
        parts.extend(email);
    }
    for (external_id, username, name) in identities {
        parts.push(external_id);
        parts.extend(username);
        parts.extend(name);
    }
    Ok(parts.join(" \n "))
}

impl Store {
    /// Copy new messages and changed contacts into the SQLite search tables; returns how many
    /// rows it indexed. Does nothing on PostgreSQL, whose indexes follow the tables.
    pub async fn index_pending(&self) -> Result<usize, StoreError> {
        let Db::Sqlite { .. } = &self.db else { return Ok(0) };
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let last_message: i64 = sql!(conn, query_scalar("SELECT last_id FROM search_progress WHERE name = 'messages'").fetch_one)?;
        let messages: Vec<(i64, i64, Option<String>)> = sql!(conn, query_as(
            "SELECT id, conversation_id, text FROM messages WHERE id > $1 ORDER BY id LIMIT $2",
            last_message,
            BATCH,
        ).fetch_all)?;
        let mut indexed = 0;
        for (id, conversation_id, text) in &messages {
            if let Some(text) = text.as_deref().filter(|text| !text.is_empty()) {
                sql!(conn, execute("INSERT INTO message_search (rowid, body, conversation_id) VALUES ($1, $2, $3)", id, text, conversation_id))?;
                indexed += 1;
            }
        }
        if let Some((last, _, _)) = messages.last() {
            sql!(conn, execute("UPDATE search_progress SET last_id = $1 WHERE name = 'messages'", last))?;
        }
        // Contacts whose own row or any identity changed since the last run (the same
        // millisecond again, in case more changed in it: re-indexing is idempotent).
        let since: i64 = sql!(conn, query_scalar("SELECT last_id FROM search_progress WHERE name = 'contacts'").fetch_one)?;
        let changed: Vec<(i64, Millis)> = sql!(conn, query_as(
            "SELECT id, updated_at FROM contacts WHERE updated_at >= $1
             UNION SELECT contact_id, updated_at FROM contact_identities WHERE updated_at >= $1
             ORDER BY 2 LIMIT $2",
            Millis(since),
            BATCH,
        ).fetch_all)?;
        let mut seen = std::collections::HashSet::new();
        for (contact_id, _) in &changed {
            if seen.insert(*contact_id) {
                let body = contact_body(&mut conn, *contact_id).await?;
                sql!(conn, execute("DELETE FROM contact_search WHERE rowid = $1", contact_id))?;
                sql!(conn, execute("INSERT INTO contact_search (rowid, body) VALUES ($1, $2)", contact_id, &body))?;
                indexed += 1;
            }
        }
        // Move the watermark up to the newest change seen, but never within the last few
        // seconds: a change stamped a moment ago may still be committing. Recent contacts are
        // indexed again on each run until then (re-indexing is idempotent).
        if let Some((_, newest)) = changed.last() {
            let settled = crate::clock::now_ms() - 10_000;
            let next = (newest.0 + 1).min(settled).max(since);
            sql!(conn, execute("UPDATE search_progress SET last_id = $1 WHERE name = 'contacts'", next))?;
        }
        tx.commit().await?;
        Ok(indexed)
    }

    /// Re-index every message of conversation `id` (after messages moved between conversations).
    pub async fn reindex_conversation(&self, id: i64) -> Result<(), StoreError> {
        let Db::Sqlite { .. } = &self.db else { return Ok(()) };
        let mut conn = self.db.write().await?;
        sql!(conn, execute("UPDATE message_search SET conversation_id = (SELECT conversation_id FROM messages m WHERE m.id = message_search.rowid) WHERE rowid IN (SELECT id FROM messages WHERE conversation_id = $1)", id))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_phrases_and_phones_their_digits() {
        assert_eq!(SearchTerms::parse("ab"), None);
        let name = SearchTerms::parse(" José ").unwrap();
        assert_eq!((name.text.as_str(), name.digits.as_deref()), ("José", None));
        assert_eq!(name.fts(), "\"José\"");
        let phone = SearchTerms::parse("(55) 1234").unwrap();
        assert_eq!(phone.digits.as_deref(), Some("551234"));
        assert_eq!(phone.fts(), "\"(55) 1234\" OR \"551234\"");
        assert_eq!(phone.binds(Backend::Sqlite).0, "\"(55) 1234\"");
        let quoted = SearchTerms::parse("say \"hi\" OR NOT").unwrap();
        assert_eq!(quoted.fts(), "\"say \"\"hi\"\" OR NOT\"");
        assert_eq!(SearchTerms::parse("50%_off").unwrap().patterns().0, "%50\\%\\_off%");
    }
}
