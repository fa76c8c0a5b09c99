//! The audit log: who did what, when. Appended to in the same transaction as the change it
//! records, readable by admins, never changed through the API.

use super::db::{sql, Conn, Millis};
use super::views::Page;
use super::workflow::Actor;
use super::{Store, StoreError};
use serde::Serialize;
use sqlx::types::Json;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// The agent's name, or `admin` (the bootstrap token).
    pub actor: String,
    pub agent_id: Option<i64>,
    /// What happened, e.g. `contact.merged`, `contact.unmerged`.
    pub action: String,
    /// What it happened to, e.g. `contact:12`.
    pub subject: String,
    /// The details: what moved, before and after.
    pub detail: serde_json::Value,
    pub created_at: i64,
}

/// Append an entry on `conn` (inside the change's transaction).
pub(super) async fn record(conn: &mut Conn<'_>, actor: &Actor, action: &str, subject: &str, detail: &serde_json::Value, now: Millis) -> Result<(), StoreError> {
    sql!(conn, execute(
        "INSERT INTO audit_log (actor, agent_id, action, subject, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &actor.name,
        actor.agent_id,
        action,
        subject,
        Json(detail),
        now,
    ))?;
    Ok(())
}

impl Store {
    /// Audit entries, newest first, optionally of one action; `before` pages back by id.
    pub async fn audit(&self, action: Option<&str>, limit: u32, before: Option<i64>) -> Result<Page<AuditEntry>, StoreError> {
        let limit = i64::from(limit.clamp(1, 500));
        let mut conn = self.db.read().await?;
        #[allow(clippy::type_complexity)]
        let rows: Vec<(i64, String, Option<i64>, String, String, Json<serde_json::Value>, Millis)> = sql!(conn, query_as(
            "SELECT id, actor, agent_id, action, subject, detail, created_at FROM audit_log
             WHERE ($1 IS NULL OR action = $1) AND id < $2 ORDER BY id DESC LIMIT $3",
            action,
            before.unwrap_or(i64::MAX),
            limit + 1,
        ).fetch_all)?;
        let items: Vec<AuditEntry> = rows
            .into_iter()
            .map(|(id, actor, agent_id, action, subject, Json(detail), created_at)| AuditEntry {
                id,
                actor,
                agent_id,
                action,
                subject,
                detail,
                created_at: created_at.0,
            })
            .collect();
        Ok(Page::from_overfetch(items, limit, |e| e.id.to_string()))
    }
}
