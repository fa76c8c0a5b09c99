//! How many conversations each inbox view holds, and how many of them the caller has not
//! read: the numbers beside "Mine", "Unassigned", "My teams", "All" and each team.
//!
//! One pass over the conversations the caller may see, counting every view at once with
//! conditional sums (the unread test runs once per conversation, in the inner query), so the
//! sidebar costs two queries however many views it shows.

use super::db::sql;
use super::views::{unread_by, visible_to, Viewer};
use super::workflow::Status;
use super::{Store, StoreError};
use serde::Serialize;

/// One view's numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ViewCount {
    /// Conversations in the view.
    pub conversations: i64,
    /// Of those, how many have messages the caller has not read.
    pub unread: i64,
}

/// A team's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TeamCount {
    pub team_id: i64,
    pub name: String,
    #[serde(flatten)]
    pub count: ViewCount,
}

/// Every view's numbers, for one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ViewCounts {
    pub status: Status,
    /// Assigned to the caller.
    pub mine: ViewCount,
    /// Assigned to nobody.
    pub unassigned: ViewCount,
    /// In a team the caller belongs to.
    pub my_teams: ViewCount,
    /// Everything the caller may see.
    pub all: ViewCount,
    /// Each team the caller may see conversations of (admins: every team), by name.
    pub teams: Vec<TeamCount>,
}

impl Store {
    /// Counts of the views `viewer` may see, among conversations in `status`. `me` is the
    /// caller's agent id, whose read state counts as unread; the bootstrap token has none, so
    /// "mine" and "my teams" are empty and unread is the conversation's own count.
    pub async fn view_counts(&self, viewer: Viewer, me: Option<i64>, status: Status) -> Result<ViewCounts, StoreError> {
        let sql = format!(
            "SELECT
                 COALESCE(SUM(CASE WHEN c.assignee_id = $3 THEN 1 ELSE 0 END), 0),
                 COALESCE(SUM(CASE WHEN c.assignee_id = $3 AND c.unread THEN 1 ELSE 0 END), 0),
                 COALESCE(SUM(CASE WHEN c.assignee_id IS NULL THEN 1 ELSE 0 END), 0),
                 COALESCE(SUM(CASE WHEN c.assignee_id IS NULL AND c.unread THEN 1 ELSE 0 END), 0),
                 COALESCE(SUM(CASE WHEN c.team_id IN (SELECT m.team_id FROM team_members m WHERE m.agent_id = $3) THEN 1 ELSE 0 END), 0),
                 COALESCE(SUM(CASE WHEN c.team_id IN (SELECT m.team_id FROM team_members m WHERE m.agent_id = $3) AND c.unread THEN 1 ELSE 0 END), 0),
                 COUNT(*),
                 COALESCE(SUM(CASE WHEN c.unread THEN 1 ELSE 0 END), 0)
             FROM (SELECT c.assignee_id, c.team_id, {unread} AS unread FROM conversations c WHERE c.status = $1 AND {visible}) c",
            unread = unread_by(4),
            visible = visible_to(2),
        );
        let mut conn = self.db.read().await?;
        let (mine, mine_unread, unassigned, unassigned_unread, my_teams, my_teams_unread, all, all_unread): (i64, i64, i64, i64, i64, i64, i64, i64) =
            sql!(conn, query_as(&sql, status.as_str(), viewer, me, me).fetch_one)?;
        let per_team = format!(
            "SELECT t.id, t.name, COUNT(c.id), COALESCE(SUM(CASE WHEN {unread} THEN 1 ELSE 0 END), 0)
             FROM teams t JOIN conversations c ON c.team_id = t.id AND c.status = $1 AND {visible}
             GROUP BY t.id, t.name ORDER BY t.name, t.id",
            unread = unread_by(3),
            visible = visible_to(2),
        );
        let rows: Vec<(i64, String, i64, i64)> = sql!(conn, query_as(&per_team, status.as_str(), viewer, me).fetch_all)?;
        let view = |conversations, unread| ViewCount { conversations, unread };
        Ok(ViewCounts {
            status,
            mine: view(mine, mine_unread),
            unassigned: view(unassigned, unassigned_unread),
            my_teams: view(my_teams, my_teams_unread),
            all: view(all, all_unread),
            teams: rows.into_iter().map(|(team_id, name, conversations, unread)| TeamCount { team_id, name, count: view(conversations, unread) }).collect(),
        })
    }
}
