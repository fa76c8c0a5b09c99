//! Agents, teams and their tokens.

use super::db::{sql, Millis};
use super::{Store, StoreError};
use crate::auth::token::TokenKind;
use crate::auth::{Availability, Principal, Role};
use serde::Serialize;

/// Failed logins in a row after which an account is locked for [`LOCK_MS`].
pub const MAX_FAILED_LOGINS: i64 = 5;
/// How long a locked account stays locked.
pub const LOCK_MS: i64 = 15 * 60 * 1000;
/// A token's `last_used_at` is written at most this often (each write is a transaction).
const TOUCH_EVERY_MS: i64 = 60_000;

/// An agent as the API shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub availability: Availability,
    /// Conversations the agent takes at once at most.
    pub max_conversations: i64,
    /// Ids of the teams the agent belongs to.
    pub teams: Vec<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TeamView {
    pub id: i64,
    pub name: String,
    /// Ids of the member agents.
    pub members: Vec<i64>,
    pub created_at: i64,
}

/// A session or personal API token, without the token itself.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    /// `session` (from a login) or `api` (personal).
    pub kind: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
}

/// A new agent.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// An argon2 PHC string (see `auth::password`).
    pub password_hash: Option<String>,
    pub max_conversations: i64,
}

/// Changes to an agent; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AgentChanges {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub availability: Option<Availability>,
    pub max_conversations: Option<i64>,
    pub password_hash: Option<String>,
}

/// What a login attempt needs to know about an account.
#[derive(Debug, Clone)]
pub struct LoginAccount {
    pub id: i64,
    pub password_hash: Option<String>,
    pub locked_until: Option<i64>,
}

type AgentRow = (i64, String, String, String, String, i64, Millis);

fn agent_from_row((id, email, display_name, role, availability, max_conversations, created_at): AgentRow, teams: Vec<i64>) -> AgentView {
    AgentView {
        id,
        email,
        display_name,
        role: Role::parse(&role).unwrap_or(Role::Agent),
        availability: Availability::parse(&availability).unwrap_or(Availability::Offline),
        max_conversations,
        teams,
        created_at: created_at.0,
    }
}

const AGENT_COLUMNS: &str = "id, email, display_name, role, availability, max_conversations, created_at";

/// A unique-constraint violation: the value is taken.
fn taken(error: sqlx::Error, what: String) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Taken(what),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound("agent or team".into()),
        _ => StoreError::Database(error),
    }
}

impl Store {
    pub async fn create_agent(&self, agent: &NewAgent) -> Result<AgentView, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let email = agent.email.trim().to_lowercase();
        let mut conn = self.db.write().await?;
        let id: i64 = sql!(conn, query_scalar(
            "INSERT INTO agents (email, display_name, role, password_hash, max_conversations, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            &email,
            &agent.display_name,
            agent.role.as_str(),
            agent.password_hash.as_deref(),
            agent.max_conversations,
            now,
        ).fetch_one)
        .map_err(|error| taken(error, format!("an agent with email `{email}` exists")))?;
        drop(conn);
        self.agent(id).await?.ok_or_else(|| StoreError::NotFound(format!("agent {id}")))
    }

    pub async fn agent(&self, id: i64) -> Result<Option<AgentView>, StoreError> {
        let mut conn = self.db.read().await?;
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1");
        let row: Option<AgentRow> = sql!(conn, query_as(&sql, id).fetch_optional)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let teams: Vec<i64> = sql!(conn, query_scalar("SELECT team_id FROM team_members WHERE agent_id = $1 ORDER BY team_id", id).fetch_all)?;
        Ok(Some(agent_from_row(row, teams)))
    }

    /// Every agent, by id.
    pub async fn agents(&self) -> Result<Vec<AgentView>, StoreError> {
        let mut conn = self.db.read().await?;
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY id");
        let rows: Vec<AgentRow> = sql!(conn, query_as(&sql).fetch_all)?;
        let memberships: Vec<(i64, i64)> = sql!(conn, query_as("SELECT agent_id, team_id FROM team_members ORDER BY team_id").fetch_all)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let teams = memberships.iter().filter(|(agent, _)| *agent == row.0).map(|(_, team)| *team).collect();
                agent_from_row(row, teams)
            })
            .collect())
    }

    pub async fn agent_count(&self) -> Result<i64, StoreError> {
        let mut conn = self.db.read().await?;
        Ok(sql!(conn, query_scalar("SELECT COUNT(*) FROM agents").fetch_one)?)
    }

    pub async fn update_agent(&self, id: i64, changes: &AgentChanges) -> Result<AgentView, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut conn = self.db.write().await?;
        let updated = sql!(conn, execute(
            "UPDATE agents SET
                display_name = COALESCE($2, display_name),
                role = COALESCE($3, role),
                availability = COALESCE($4, availability),
                max_conversations = COALESCE($5, max_conversations),
                password_hash = COALESCE($6, password_hash),
                updated_at = $7
             WHERE id = $1",
            id,
            changes.display_name.as_deref(),
            changes.role.map(Role::as_str),
            changes.availability.map(Availability::as_str),
            changes.max_conversations,
            changes.password_hash.as_deref(),
            now,
        ))?;
        if updated == 0 {
            return Err(StoreError::NotFound(format!("agent {id}")));
        }
        if changes.password_hash.is_some() {
            // A new password ends every session (personal API tokens stay).
            sql!(conn, execute("UPDATE agent_tokens SET revoked_at = $2 WHERE agent_id = $1 AND kind = 'session' AND revoked_at IS NULL", id, now))?;
        }
        drop(conn);
        self.agent(id).await?.ok_or_else(|| StoreError::NotFound(format!("agent {id}")))
    }

    /// Remove an agent; their tokens and memberships go with them.
    pub async fn delete_agent(&self, id: i64) -> Result<(), StoreError> {
        let mut conn = self.db.write().await?;
        match sql!(conn, execute("DELETE FROM agents WHERE id = $1", id))? {
            0 => Err(StoreError::NotFound(format!("agent {id}"))),
            _ => Ok(()),
        }
    }

    /// The account behind `email`, for a login attempt.
    pub async fn login_account(&self, email: &str) -> Result<Option<LoginAccount>, StoreError> {
        let mut conn = self.db.read().await?;
        let row: Option<(i64, Option<String>, Option<Millis>)> = sql!(conn, query_as(
            "SELECT id, password_hash, locked_until FROM agents WHERE email = $1",
            email.trim().to_lowercase(),
        ).fetch_optional)?;
        Ok(row.map(|(id, password_hash, locked_until)| LoginAccount { id, password_hash, locked_until: locked_until.map(|m| m.0) }))
    }

    /// Count a failed login; after [`MAX_FAILED_LOGINS`] in a row the account is locked for
    /// [`LOCK_MS`]. Returns the lock's end when it is locked now.
    pub async fn login_failed(&self, id: i64) -> Result<Option<i64>, StoreError> {
        let now = crate::clock::now_ms();
        let mut conn = self.db.write().await?;
        let failures: i64 = sql!(conn, query_scalar(
            "UPDATE agents SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
            id,
        ).fetch_one)?;
        if failures >= MAX_FAILED_LOGINS {
            let until = now + LOCK_MS;
            sql!(conn, execute("UPDATE agents SET failed_logins = 0, locked_until = $2 WHERE id = $1", id, Millis(until)))?;
            return Ok(Some(until));
        }
        Ok(None)
    }

    /// Start a session (or create a personal API token) for `agent_id`, storing only the
    /// token's digest. Clears the account's failed logins.
    pub async fn create_token(&self, agent_id: i64, kind: TokenKind, name: &str, digest: &[u8], expires_at: Option<i64>) -> Result<TokenView, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let id: i64 = sql!(conn, query_scalar(
            "INSERT INTO agent_tokens (agent_id, kind, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            agent_id,
            kind.as_str(),
            name,
            digest,
            now,
            expires_at.map(Millis),
        ).fetch_one)
        .map_err(|error| taken(error, "token".into()))?;
        if kind == TokenKind::Session {
            sql!(conn, execute("UPDATE agents SET failed_logins = 0, locked_until = NULL WHERE id = $1", agent_id))?;
        }
        tx.commit().await?;
        Ok(TokenView { id, name: name.to_string(), kind: kind.as_str().into(), created_at: now.0, last_used_at: None, expires_at })
    }

    /// Who holds the token with this digest, if it is valid now.
    pub async fn principal_for_token(&self, digest: &[u8]) -> Result<Option<Principal>, StoreError> {
        let now = crate::clock::now_ms();
        let mut conn = self.db.read().await?;
        let row: Option<(i64, i64, String, String, Option<Millis>)> = sql!(conn, query_as(
            "SELECT t.id, a.id, a.display_name, a.role, t.last_used_at
             FROM agent_tokens t JOIN agents a ON a.id = t.agent_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
            digest,
            Millis(now),
        ).fetch_optional)?;
        let Some((token_id, agent_id, name, role, last_used)) = row else {
            return Ok(None);
        };
        let teams: Vec<i64> = sql!(conn, query_scalar("SELECT team_id FROM team_members WHERE agent_id = $1 ORDER BY team_id", agent_id).fetch_all)?;
        drop(conn);
        if last_used.is_none_or(|at| now - at.0 >= TOUCH_EVERY_MS) {
            let mut conn = self.db.write().await?;
            sql!(conn, execute("UPDATE agent_tokens SET last_used_at = $2 WHERE id = $1", token_id, Millis(now)))?;
        }
        Ok(Some(Principal::Agent { id: agent_id, name, role: Role::parse(&role).unwrap_or(Role::Agent), teams, token_id }))
    }

    /// Revoke one of `agent_id`'s tokens.
    pub async fn revoke_token(&self, agent_id: i64, token_id: i64) -> Result<(), StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut conn = self.db.write().await?;
        match sql!(conn, execute(
            "UPDATE agent_tokens SET revoked_at = $3 WHERE id = $1 AND agent_id = $2 AND revoked_at IS NULL",
            token_id,
            agent_id,
            now,
        ))? {
            0 => Err(StoreError::NotFound(format!("token {token_id}"))),
            _ => Ok(()),
        }
    }

    /// `agent_id`'s tokens that are still valid.
    pub async fn tokens(&self, agent_id: i64) -> Result<Vec<TokenView>, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut conn = self.db.read().await?;
        #[allow(clippy::type_complexity)]
        let rows: Vec<(i64, String, String, Millis, Option<Millis>, Option<Millis>)> = sql!(conn, query_as(
            "SELECT id, name, kind, created_at, last_used_at, expires_at FROM agent_tokens
             WHERE agent_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) ORDER BY id",
            agent_id,
            now,
        ).fetch_all)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, kind, created_at, last_used_at, expires_at)| TokenView {
                id,
                name,
                kind,
                created_at: created_at.0,
                last_used_at: last_used_at.map(|m| m.0),
                expires_at: expires_at.map(|m| m.0),
            })
            .collect())
    }

    pub async fn create_team(&self, name: &str) -> Result<TeamView, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut conn = self.db.write().await?;
        let id: i64 = sql!(conn, query_scalar(
            "INSERT INTO teams (name, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id",
            name.trim(),
            now,
        ).fetch_one)
        .map_err(|error| taken(error, format!("a team named `{}` exists", name.trim())))?;
        Ok(TeamView { id, name: name.trim().to_string(), members: vec![], created_at: now.0 })
    }

    pub async fn teams(&self) -> Result<Vec<TeamView>, StoreError> {
        let mut conn = self.db.read().await?;
        let rows: Vec<(i64, String, Millis)> = sql!(conn, query_as("SELECT id, name, created_at FROM teams ORDER BY id").fetch_all)?;
        let members: Vec<(i64, i64)> = sql!(conn, query_as("SELECT team_id, agent_id FROM team_members ORDER BY agent_id").fetch_all)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at)| TeamView {
                id,
                name,
                members: members.iter().filter(|(team, _)| *team == id).map(|(_, agent)| *agent).collect(),
                created_at: created_at.0,
            })
            .collect())
    }

    pub async fn rename_team(&self, id: i64, name: &str) -> Result<(), StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut conn = self.db.write().await?;
        let updated = sql!(conn, execute("UPDATE teams SET name = $2, updated_at = $3 WHERE id = $1", id, name.trim(), now))
            .map_err(|error| taken(error, format!("a team named `{}` exists", name.trim())))?;
        if updated == 0 {
            return Err(StoreError::NotFound(format!("team {id}")));
        }
        Ok(())
    }

    pub async fn delete_team(&self, id: i64) -> Result<(), StoreError> {
        let mut conn = self.db.write().await?;
        match sql!(conn, execute("DELETE FROM teams WHERE id = $1", id))? {
            0 => Err(StoreError::NotFound(format!("team {id}"))),
            _ => Ok(()),
        }
    }

    /// Add `agent_id` to `team_id` (nothing happens if already a member).
    pub async fn add_team_member(&self, team_id: i64, agent_id: i64) -> Result<(), StoreError> {
        let mut conn = self.db.write().await?;
        sql!(conn, execute(
            "INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            team_id,
            agent_id,
        ))
        .map_err(|error| taken(error, "membership".into()))?;
        Ok(())
    }

    pub async fn remove_team_member(&self, team_id: i64, agent_id: i64) -> Result<(), StoreError> {
        let mut conn = self.db.write().await?;
        match sql!(conn, execute("DELETE FROM team_members WHERE team_id = $1 AND agent_id = $2", team_id, agent_id))? {
            0 => Err(StoreError::NotFound(format!("agent {agent_id} in team {team_id}"))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{on_both_backends, TestStore};

    on_both_backends!(agents_tokens_and_teams, failed_logins_lock_the_account);

    fn new_agent(email: &str, role: Role) -> NewAgent {
        NewAgent { email: email.into(), display_name: "Ana".into(), role, password_hash: None, max_conversations: 10 }
    }

    async fn agents_tokens_and_teams(store: TestStore) {
        let ana = store.create_agent(&new_agent(" Ana@Example.com ", Role::Agent)).await.unwrap();
        assert_eq!(ana.email, "ana@example.com");
        assert!(matches!(store.create_agent(&new_agent("ana@example.com", Role::Admin)).await, Err(StoreError::Taken(_))));
        let team = store.create_team("Billing").await.unwrap();
        store.add_team_member(team.id, ana.id).await.unwrap();
        store.add_team_member(team.id, ana.id).await.unwrap();
        assert_eq!(store.agent(ana.id).await.unwrap().unwrap().teams, vec![team.id]);
        assert_eq!(store.teams().await.unwrap()[0].members, vec![ana.id]);

        let digest = crate::auth::token::digest("sbs_test");
        let token = store.create_token(ana.id, TokenKind::Session, "login", &digest, Some(crate::clock::now_ms() + 60_000)).await.unwrap();
        let principal = store.principal_for_token(&digest).await.unwrap().expect("valid token");
        assert_eq!(principal, Principal::Agent { id: ana.id, name: "Ana".into(), role: Role::Agent, teams: vec![team.id], token_id: token.id });
        assert!(store.principal_for_token(&crate::auth::token::digest("sbs_other")).await.unwrap().is_none());
        store.revoke_token(ana.id, token.id).await.unwrap();
        assert!(store.principal_for_token(&digest).await.unwrap().is_none(), "revoked");

        let expired = crate::auth::token::digest("sbs_expired");
        store.create_token(ana.id, TokenKind::Session, "old", &expired, Some(crate::clock::now_ms() - 1)).await.unwrap();
        assert!(store.principal_for_token(&expired).await.unwrap().is_none(), "expired");

        let api = crate::auth::token::digest("sbp_api");
        store.create_token(ana.id, TokenKind::Api, "ci", &api, None).await.unwrap();
        let changes = AgentChanges { password_hash: Some("$argon2id$new".into()), ..AgentChanges::default() };
        store.update_agent(ana.id, &changes).await.unwrap();
        assert!(store.principal_for_token(&api).await.unwrap().is_some(), "a new password keeps API tokens");
        store.delete_team(team.id).await.unwrap();
        assert!(store.agent(ana.id).await.unwrap().unwrap().teams.is_empty());
        store.delete_agent(ana.id).await.unwrap();
        assert!(store.principal_for_token(&api).await.unwrap().is_none(), "tokens go with their agent");
    }

    async fn failed_logins_lock_the_account(store: TestStore) {
        let ana = store.create_agent(&new_agent("ana@example.com", Role::Agent)).await.unwrap();
        for _ in 1..MAX_FAILED_LOGINS {
            assert_eq!(store.login_failed(ana.id).await.unwrap(), None);
        }
        let until = store.login_failed(ana.id).await.unwrap().expect("locked");
        assert!(until > crate::clock::now_ms());
        assert_eq!(store.login_account("ANA@example.com").await.unwrap().unwrap().locked_until, Some(until));
    }
}
