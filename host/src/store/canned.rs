//! Canned responses, and filling in their placeholders.

use super::db::{sql, Millis};
use super::{Store, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CannedResponse {
    pub id: i64,
    /// Typed as `/shortcut` (stored lower case, without the slash).
    pub shortcut: String,
    /// The text, with placeholders such as `{{contact.first_name}}` and `{{agent.name}}`.
    pub body: String,
    pub updated_at: i64,
}

/// What placeholders are filled with.
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub agent_name: String,
}

/// The first word of a name.
fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or("")
}

/// Fill `{{contact.name}}`, `{{contact.first_name}}`, `{{contact.phone}}`, `{{contact.email}}`,
/// `{{agent.name}}` and `{{agent.first_name}}` (spaces inside the braces allowed). A value the
/// contact lacks becomes empty; an unknown placeholder is left as it is, so a typo shows.
pub fn fill(body: &str, values: &Placeholders) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        let contact_name = values.contact_name.as_deref().unwrap_or("");
        let value = match name {
            "contact.name" => Some(contact_name),
            "contact.first_name" => Some(first_name(contact_name)),
            "contact.phone" => Some(values.contact_phone.as_deref().unwrap_or("")),
            "contact.email" => Some(values.contact_email.as_deref().unwrap_or("")),
            "agent.name" => Some(values.agent_name.as_str()),
            "agent.first_name" => Some(first_name(&values.agent_name)),
            _ => None,
        };
        match value {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn taken(error: sqlx::Error, shortcut: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Taken(format!("the shortcut `/{shortcut}` is taken")),
        _ => StoreError::Database(error),
    }
}

impl Store {
    /// Canned responses whose shortcut starts with `prefix` (all without one), by shortcut.
    pub async fn canned_responses(&self, prefix: Option<&str>) -> Result<Vec<CannedResponse>, StoreError> {
        let mut conn = self.db.read().await?;
        // A prefix range instead of `LIKE`: no pattern characters to escape, and the unique
        // index on `shortcut` serves it.
        let low = prefix.unwrap_or("").to_lowercase();
        let high = format!("{low}\u{10ffff}");
        let rows: Vec<(i64, String, String, Millis)> = sql!(conn, query_as(
            "SELECT id, shortcut, body, updated_at FROM canned_responses WHERE shortcut >= $1 AND shortcut < $2 ORDER BY shortcut",
            &low,
            &high,
        ).fetch_all)?;
        Ok(rows.into_iter().map(|(id, shortcut, body, updated_at)| CannedResponse { id, shortcut, body, updated_at: updated_at.0 }).collect())
    }

    pub async fn canned_response(&self, shortcut: &str) -> Result<Option<CannedResponse>, StoreError> {
        let mut conn = self.db.read().await?;
        let row: Option<(i64, String, String, Millis)> = sql!(conn, query_as(
            "SELECT id, shortcut, body, updated_at FROM canned_responses WHERE shortcut = $1",
            shortcut.to_lowercase(),
        ).fetch_optional)?;
        Ok(row.map(|(id, shortcut, body, updated_at)| CannedResponse { id, shortcut, body, updated_at: updated_at.0 }))
    }

    pub async fn create_canned_response(&self, shortcut: &str, body: &str) -> Result<CannedResponse, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let shortcut = shortcut.to_lowercase();
        let mut conn = self.db.write().await?;
        let id: i64 = sql!(conn, query_scalar(
            "INSERT INTO canned_responses (shortcut, body, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
            &shortcut,
            body,
            now,
        ).fetch_one)
        .map_err(|error| taken(error, &shortcut))?;
        Ok(CannedResponse { id, shortcut, body: body.to_string(), updated_at: now.0 })
    }

    pub async fn update_canned_response(&self, id: i64, shortcut: Option<&str>, body: Option<&str>) -> Result<CannedResponse, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let shortcut = shortcut.map(str::to_lowercase);
        let mut conn = self.db.write().await?;
        let row: Option<(i64, String, String, Millis)> = sql!(conn, query_as(
            "UPDATE canned_responses SET shortcut = COALESCE($2, shortcut), body = COALESCE($3, body), updated_at = $4
             WHERE id = $1 RETURNING id, shortcut, body, updated_at",
            id,
            shortcut.as_deref(),
            body,
            now,
        ).fetch_optional)
        .map_err(|error| taken(error, shortcut.as_deref().unwrap_or("")))?;
        let (id, shortcut, body, updated_at) = row.ok_or_else(|| StoreError::NotFound(format!("canned response {id}")))?;
        Ok(CannedResponse { id, shortcut, body, updated_at: updated_at.0 })
    }

    pub async fn delete_canned_response(&self, id: i64) -> Result<(), StoreError> {
        let mut conn = self.db.write().await?;
        match sql!(conn, execute("DELETE FROM canned_responses WHERE id = $1", id))? {
            0 => Err(StoreError::NotFound(format!("canned response {id}"))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_ones_kept() {
        let values = Placeholders {
            contact_name: Some("José García".into()),
            contact_phone: Some("+525512345678".into()),
            contact_email: None,
            agent_name: "Ana Souza".into(),
        };
        assert_eq!(
            fill("Hi {{contact.first_name}}, {{ agent.first_name }} here ({{agent.name}}). {{contact.email}}|{{contact.phne}}|{{open", &values),
            "Hi José, Ana here (Ana Souza). |{{contact.phne}}|{{open"
        );
        assert_eq!(fill("no placeholders", &values), "no placeholders");
    }
}
