//! Search over conversations: contact names, phones (any format, fragments too), emails,
//! channel user ids and message text, with each backend's own engine.
//!
//! - **SQLite:** FTS5 tables (messages by word, contacts by trigram), filled in batches by an
//!   indexer task a moment after commit ([`Store::index_pending`]): new messages by id, and
//!   contacts that triggers marked dirty. Ingest's transactions do not index.
//! - **PostgreSQL:** trigram GIN indexes on the columns themselves (`pg_trgm`), queried with
//!   `ILIKE`, which those indexes serve; nothing to keep in step.
//!
//! Both match substrings of at least three characters, case-insensitively.

use super::db::{sql, Backend};
use super::{Db, Store, StoreError};

/// Shortest query: trigram indexes cannot serve fewer characters.
pub const MIN_QUERY: usize = 3;

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

    /// The FTS5 query over messages, which are indexed by words: every word of the text, each
    /// quoted (no operators from the user) and matched as a prefix.
    fn message_fts(&self) -> String {
        let words: Vec<String> = self
            .text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(|word| format!("\"{word}\"*"))
            .collect();
        if words.is_empty() {
            // Only punctuation: a phrase nothing is indexed under.
            return format!("\"{}\"", self.text.replace('"', "\"\""));
        }
        words.join(" ")
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

impl Store {
    /// Index new messages and rebuild the search text of contacts marked dirty (by triggers,
    /// when a contact or identity changed), on SQLite; returns how many rows it indexed. Does
    /// nothing on PostgreSQL, whose indexes follow the tables.
    pub async fn index_pending(&self) -> Result<usize, StoreError> {
        let Db::Sqlite { .. } = &self.db else { return Ok(0) };
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        // New messages, a thousand at a time in two statements.
        let last: i64 = sql!(conn, query_scalar("SELECT last_message_id FROM search_progress").fetch_one)?;
        let upto: Option<i64> = sql!(conn, query_scalar(
            "SELECT MAX(id) FROM (SELECT id FROM messages WHERE id > $1 ORDER BY id LIMIT 1000)",
            last,
        ).fetch_one)?;
        let mut indexed = 0;
        if let Some(upto) = upto {
            indexed += sql!(conn, execute(
                "INSERT INTO message_search (rowid, body, conversation_id)
                 SELECT id, text, conversation_id FROM messages WHERE id > $1 AND id <= $2 AND text IS NOT NULL AND text <> ''",
                last,
                upto,
            ))?;
            sql!(conn, execute("UPDATE search_progress SET last_message_id = $1", upto))?;
        }
        // Dirty contacts, in three statements per batch: the text is put together in SQL.
        const DIRTY: &str = "SELECT contact_id FROM search_dirty ORDER BY contact_id LIMIT 1000";
        let dirty: i64 = sql!(conn, query_scalar("SELECT COUNT(*) FROM (SELECT contact_id FROM search_dirty LIMIT 1000)").fetch_one)?;
        if dirty == 0 {
            tx.commit().await?;
            return Ok(usize::try_from(indexed).unwrap_or(0));
        }
        let delete = format!("DELETE FROM contact_search WHERE rowid IN ({DIRTY})");
        sql!(conn, execute(&delete))?;
        // Name, phone digits, email, and each identity's id, username and name.
        let insert = format!(
            "INSERT INTO contact_search (rowid, body)
             SELECT c.id, concat_ws(' ', c.display_name, replace(c.phone, '+', ''), c.email,
                    (SELECT group_concat(concat_ws(' ', i.external_id, i.username, i.display_name), ' ')
                     FROM contact_identities i WHERE i.contact_id = c.id))
             FROM contacts c WHERE c.id IN ({DIRTY})"
        );
        sql!(conn, execute(&insert))?;
        let done = format!("DELETE FROM search_dirty WHERE contact_id IN ({DIRTY})");
        sql!(conn, execute(&done))?;
        tx.commit().await?;
        Ok(usize::try_from(indexed).unwrap_or(0) + usize::try_from(dirty).unwrap_or(0))
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
        assert_eq!(phone.binds(Backend::Sqlite).0, "\"55\"* \"1234\"*");
        assert_eq!(SearchTerms::parse("pedido #12345").unwrap().binds(Backend::Sqlite).0, "\"pedido\"* \"12345\"*");
        let quoted = SearchTerms::parse("say \"hi\" OR NOT").unwrap();
        assert_eq!(quoted.fts(), "\"say \"\"hi\"\" OR NOT\"");
        assert_eq!(SearchTerms::parse("50%_off").unwrap().patterns().0, "%50\\%\\_off%");
    }
}
