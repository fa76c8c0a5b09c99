//! Saved views: named sets of conversation-list filters, an agent's own or shared with all.

use super::db::{sql, Millis};
use super::views::Sort;
use super::workflow::{Priority, Status};
use super::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// The filters a view applies: the inbox list's, each optional (absent means "any").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedFilters {
    /// `mine`, `unassigned`, `all` or `team:<id>`.
    #[schema(pattern = "^(mine|unassigned|all|team:[0-9]{1,18})$")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[schema(max_length = 64)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[schema(max_length = 64, pattern = "^\\S+$")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<Sort>,
    /// A search, as `q` of the list.
    #[schema(max_length = 100)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SavedView {
    pub id: i64,
    pub name: String,
    /// Shared with every agent (made by an admin); otherwise the caller's own.
    pub shared: bool,
    pub filters: SavedFilters,
    pub updated_at: i64,
}

type Row = (i64, Option<i64>, String, String, Millis);

fn view((id, owner, name, filters, updated_at): Row) -> SavedView {
    // Rows are written from `SavedFilters` only; one that no longer parses (a field renamed
    // since) shows as a view without filters rather than failing the whole list.
    let filters = serde_json::from_str(&filters).unwrap_or_default();
    SavedView { id, name, shared: owner.is_none(), filters, updated_at: updated_at.0 }
}

fn taken(error: sqlx::Error, name: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Taken(format!("a view named `{name}` exists")),
        _ => StoreError::Database(error),
    }
}

fn encode(filters: &SavedFilters) -> String {
    // Cannot fail: the struct holds only strings, booleans and unit enums.
    serde_json::to_string(filters).unwrap_or_else(|_| "{}".into())
}

impl Store {
    /// The shared views, then `agent`'s own (none for the bootstrap token), each by name.
    pub async fn saved_views(&self, agent: Option<i64>) -> Result<Vec<SavedView>, StoreError> {
        let mut conn = self.db.read().await?;
        let rows: Vec<Row> = sql!(conn, query_as(
            "SELECT id, owner_id, name, filters, updated_at FROM saved_views
             WHERE owner_id IS NULL OR owner_id = $1 ORDER BY owner_id IS NOT NULL, name, id",
            agent.unwrap_or(0),
        ).fetch_all)?;
        Ok(rows.into_iter().map(view).collect())
    }

    /// One view, if `agent` can see it.
    pub async fn saved_view(&self, agent: Option<i64>, id: i64) -> Result<Option<SavedView>, StoreError> {
        let mut conn = self.db.read().await?;
        let row: Option<Row> = sql!(conn, query_as(
            "SELECT id, owner_id, name, filters, updated_at FROM saved_views WHERE id = $1 AND (owner_id IS NULL OR owner_id = $2)",
            id,
            agent.unwrap_or(0),
        ).fetch_optional)?;
        Ok(row.map(view))
    }

    /// Save a view owned by `owner`, or shared when `owner` is `None`.
    pub async fn create_saved_view(&self, owner: Option<i64>, name: &str, filters: &SavedFilters) -> Result<SavedView, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let encoded = encode(filters);
        let mut conn = self.db.write().await?;
        let id: i64 = sql!(conn, query_scalar(
            "INSERT INTO saved_views (owner_id, name, filters, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
            owner,
            name,
            &encoded,
            now,
        ).fetch_one)
        .map_err(|error| taken(error, name))?;
        Ok(SavedView { id, name: name.to_string(), shared: owner.is_none(), filters: filters.clone(), updated_at: now.0 })
    }

    /// Rename a view or change its filters. The caller has checked that it may.
    pub async fn update_saved_view(&self, id: i64, name: Option<&str>, filters: Option<&SavedFilters>) -> Result<SavedView, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let encoded = filters.map(encode);
        let mut conn = self.db.write().await?;
        let row: Option<Row> = sql!(conn, query_as(
            "UPDATE saved_views SET name = COALESCE($2, name), filters = COALESCE($3, filters), updated_at = $4
             WHERE id = $1 RETURNING id, owner_id, name, filters, updated_at",
            id,
            name,
            encoded.as_deref(),
            now,
        ).fetch_optional)
        .map_err(|error| taken(error, name.unwrap_or("")))?;
        row.map(view).ok_or_else(|| StoreError::NotFound(format!("view {id}")))
    }

    pub async fn delete_saved_view(&self, id: i64) -> Result<(), StoreError> {
        let mut conn = self.db.write().await?;
        match sql!(conn, execute("DELETE FROM saved_views WHERE id = $1", id))? {
            0 => Err(StoreError::NotFound(format!("view {id}"))),
            _ => Ok(()),
        }
    }
}
