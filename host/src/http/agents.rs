//! `/api/v1/auth`, `/me`, `/agents` and `/teams`: signing in and out, agents' own settings
//! and tokens, and the admin's management of agents and teams. Roles are declared with the
//! routes (`openapi::routes`), not here.

use super::api::{Id, IdParam};
use super::error::{ApiError, ErrorBody, Forbidden, JsonBodyErrors, Unauthorized, Unavailable};
use super::{rules, AppState};
use crate::auth::token::TokenKind;
use crate::auth::{password, token, Availability, Principal, Role};
use crate::store::agents::{AgentChanges, AgentView, NewAgent, TeamView, TokenView};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// A display name's length, in characters.
const MAX_NAME: usize = 128;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message)
}

fn check_name(name: &str) -> Result<String, ApiError> {
    if rules::is_blank(name) || name.chars().count() > MAX_NAME {
        return Err(invalid(format!("a name must be 1 to {MAX_NAME} characters, not only spaces")));
    }
    Ok(rules::trim(name).to_string())
}

fn check_capacity(max: i64) -> Result<i64, ApiError> {
    if (1..=1000).contains(&max) { Ok(max) } else { Err(invalid("`max_conversations` must be between 1 and 1000")) }
}

/// Hash a new password on the blocking pool (argon2 takes tens of milliseconds on purpose).
async fn hash_password(password: String) -> Result<String, ApiError> {
    password::check_new(&password).map_err(|error| invalid(error.to_string()))?;
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|_| ApiError::unavailable("hashing_failed", "could not hash the password; try again"))?
        .map_err(|error| invalid(error.to_string()))
}

/// The caller as an agent; the bootstrap token is not one.
fn agent_id(caller: &Principal) -> Result<i64, ApiError> {
    caller.agent_id().ok_or_else(|| ApiError::not_found("not_an_agent", "the bootstrap token is not an agent; sign in as one"))
}

fn too_many(code: &'static str, message: &str, wait_secs: u64) -> Response {
    let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait_secs.max(1)));
    response
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(max_length = 320)]
    pub email: String,
    #[schema(max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Unix milliseconds.
    pub expires_at: i64,
    pub agent: AgentView,
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = Session),
        (status = 400, description = "Invalid JSON", body = ErrorBody),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this account or from this address", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds to wait"))),
        JsonBodyErrors, Unavailable))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    rules::JsonBody(request): rules::JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let ip = peer.ip();
    if let Err(wait) = state.login_limiter.check(ip) {
        return Ok(too_many("too_many_attempts", "too many failed logins from this address; try again later", wait.as_secs()));
    }
    let now = crate::clock::now_ms();
    let account = state.store.login_account(&request.email).await?;
    if let Some(until) = account.as_ref().and_then(|account| account.locked_until).filter(|until| *until > now) {
        return Ok(too_many("too_many_attempts", "too many failed logins for this account; try again later", ((until - now) / 1000) as u64));
    }
    let account_id = account.as_ref().map(|account| account.id);
    let stored = account.as_ref().and_then(|account| account.password_hash.clone());
    let password = request.password;
    let matches = tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
        .await
        .map_err(|_| ApiError::unavailable("hashing_failed", "could not check the password; try again"))?;
    let Some(account) = account.filter(|_| matches) else {
        state.login_limiter.failed(ip);
        if let Some(id) = account_id {
            state.store.login_failed(id).await?;
        }
        tracing::info!(%ip, "failed login");
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong email or password"));
    };
    state.login_limiter.succeeded(ip);
    let secret = token::generate(TokenKind::Session).ok_or_else(|| ApiError::unavailable("no_randomness", "cannot create a session now"))?;
    let expires_at = now + i64::try_from(state.auth.session_ttl_hours).unwrap_or(24 * 365).saturating_mul(3_600_000);
    state.store.create_token(account.id, TokenKind::Session, "login", &token::digest(&secret), Some(expires_at)).await?;
    let agent = state.store.agent(account.id).await?.ok_or_else(|| ApiError::not_found("not_found", "the agent is gone"))?;
    tracing::info!(agent = agent.id, %ip, "signed in");
    Ok(Json(Session { token: secret, expires_at, agent }).into_response())
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "The session's token is revoked"), Unauthorized, Unavailable))]
pub async fn logout(State(state): State<AppState>, caller: Principal) -> Result<StatusCode, ApiError> {
    if let Principal::Agent { id, token_id, .. } = caller {
        state.store.revoke_token(id, token_id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/me", tag = "agents",
    responses(
        (status = 200, body = AgentView),
        (status = 404, description = "The bootstrap token is not an agent", body = ErrorBody),
        Unauthorized, Unavailable))]
pub async fn me(State(state): State<AppState>, caller: Principal) -> Result<Json<AgentView>, ApiError> {
    let id = agent_id(&caller)?;
    state.store.agent(id).await?.map(Json).ok_or_else(|| ApiError::not_found("not_found", "the agent is gone"))
}

/// What agents may change about themselves.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MyChanges {
    #[schema(min_length = 1, max_length = 128, pattern = r"\S")]
    pub display_name: Option<String>,
    pub availability: Option<Availability>,
    /// A new password (10 to 1024 characters); `current_password` must come with it.
    #[schema(min_length = 10, max_length = 1024)]
    pub password: Option<String>,
    #[schema(max_length = 1024)]
    pub current_password: Option<String>,
}

#[utoipa::path(patch, path = "/me", tag = "agents", request_body = MyChanges,
    responses(
        (status = 200, body = AgentView),
        (status = 400, description = "Invalid values, or a password change without the right current password", body = ErrorBody),
        (status = 404, description = "The bootstrap token is not an agent", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Unavailable))]
pub async fn update_me(
    State(state): State<AppState>,
    caller: Principal,
    rules::JsonBody(request): rules::JsonBody<MyChanges>,
) -> Result<Json<AgentView>, ApiError> {
    let id = agent_id(&caller)?;
    let password_hash = match request.password {
        None => None,
        Some(new) => {
            let account = state.store.agent(id).await?.ok_or_else(|| ApiError::not_found("not_found", "the agent is gone"))?;
            let stored = state.store.login_account(&account.email).await?.and_then(|account| account.password_hash);
            let current = request.current_password.unwrap_or_default();
            let matches = tokio::task::spawn_blocking(move || password::verify(&current, stored.as_deref()))
                .await
                .map_err(|_| ApiError::unavailable("hashing_failed", "could not check the password; try again"))?;
            if !matches {
                return Err(invalid("`current_password` is wrong"));
            }
            Some(hash_password(new).await?)
        }
    };
    let changes = AgentChanges {
        display_name: request.display_name.as_deref().map(check_name).transpose()?,
        availability: request.availability,
        password_hash,
        ..AgentChanges::default()
    };
    let updated = state.store.update_agent(id, &changes).await?;
    if changes.availability.is_some() {
        state.routing.capacity_changed();
    }
    Ok(Json(updated))
}

#[utoipa::path(get, path = "/me/tokens", tag = "agents",
    responses(
        (status = 200, description = "Sessions and personal API tokens still valid", body = Vec<TokenView>),
        (status = 404, description = "The bootstrap token is not an agent", body = ErrorBody),
        Unauthorized, Unavailable))]
pub async fn my_tokens(State(state): State<AppState>, caller: Principal) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(state.store.tokens(agent_id(&caller)?).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for, e.g. `zapier`.
    #[schema(min_length = 1, max_length = 128, pattern = r"\S")]
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// Shown once: only a digest is stored.
    pub token: String,
    #[serde(flatten)]
    pub details: TokenView,
}

#[utoipa::path(post, path = "/me/tokens", tag = "agents", request_body = NewToken,
    responses(
        (status = 201, description = "A personal API token, valid until revoked", body = CreatedToken),
        (status = 400, description = "Invalid name", body = ErrorBody),
        (status = 404, description = "The bootstrap token is not an agent", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Unavailable))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Principal,
    rules::JsonBody(request): rules::JsonBody<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let id = agent_id(&caller)?;
    let name = check_name(&request.name)?;
    let secret = token::generate(TokenKind::Api).ok_or_else(|| ApiError::unavailable("no_randomness", "cannot create a token now"))?;
    let details = state.store.create_token(id, TokenKind::Api, &name, &token::digest(&secret), None).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: secret, details })))
}

#[utoipa::path(delete, path = "/me/tokens/{id}", tag = "agents", params(IdParam),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such token of the caller's", body = ErrorBody),
        Unauthorized, Unavailable))]
pub async fn revoke_token(State(state): State<AppState>, caller: Principal, Id(id): Id) -> Result<StatusCode, ApiError> {
    state.store.revoke_token(agent_id(&caller)?, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An agent as every agent sees them: enough to assign a conversation and to name who did
/// what, without emails or roles.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DirectoryEntry {
    pub id: i64,
    pub display_name: String,
    pub availability: crate::auth::Availability,
    /// Ids of the teams the agent belongs to.
    pub teams: Vec<i64>,
}

#[utoipa::path(get, path = "/agents/directory", tag = "agents",
    responses((status = 200, description = "Every agent, by id: whom a conversation can be assigned to", body = Vec<DirectoryEntry>), Unauthorized, Unavailable))]
pub async fn directory(State(state): State<AppState>) -> Result<Json<Vec<DirectoryEntry>>, ApiError> {
    let agents = state.store.agents().await?;
    Ok(Json(
        agents
            .into_iter()
            .map(|a| DirectoryEntry { id: a.id, display_name: a.display_name, availability: a.availability, teams: a.teams })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/agents", tag = "agents",
    responses((status = 200, body = Vec<AgentView>), Unauthorized, Forbidden, Unavailable))]
pub async fn list_agents(State(state): State<AppState>) -> Result<Json<Vec<AgentView>>, ApiError> {
    Ok(Json(state.store.agents().await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    #[schema(max_length = 320, pattern = r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    pub email: String,
    #[schema(min_length = 1, max_length = 128, pattern = r"\S")]
    pub display_name: String,
    pub role: Role,
    /// 10 to 1024 characters; without one, the agent cannot sign in with a password.
    #[schema(min_length = 10, max_length = 1024)]
    pub password: Option<String>,
    /// Conversations the agent takes at once at most (default 10).
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "rules::integer")]
    pub max_conversations: Option<i64>,
}

#[utoipa::path(post, path = "/agents", tag = "agents", request_body = AgentRequest,
    responses(
        (status = 201, body = AgentView),
        (status = 400, description = "Invalid values", body = ErrorBody),
        (status = 409, description = "The email is taken", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Forbidden, Unavailable))]
pub async fn create_agent(
    State(state): State<AppState>,
    rules::JsonBody(request): rules::JsonBody<AgentRequest>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    if !rules::valid_email(&request.email) {
        return Err(invalid("`email` is not an email address"));
    }
    let agent = NewAgent {
        email: request.email,
        display_name: check_name(&request.display_name)?,
        role: request.role,
        password_hash: match request.password {
            Some(password) => Some(hash_password(password).await?),
            None => None,
        },
        max_conversations: check_capacity(request.max_conversations.unwrap_or(10))?,
    };
    let created = state.store.create_agent(&agent).await?;
    tracing::info!(agent = created.id, role = created.role.as_str(), "agent created");
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/agents/{id}", tag = "agents", params(IdParam),
    responses(
        (status = 200, body = AgentView),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such agent", body = ErrorBody),
        Unauthorized, Forbidden, Unavailable))]
pub async fn get_agent(State(state): State<AppState>, Id(id): Id) -> Result<Json<AgentView>, ApiError> {
    state.store.agent(id).await?.map(Json).ok_or_else(|| ApiError::not_found("not_found", format!("agent {id} not found")))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentUpdate {
    #[schema(min_length = 1, max_length = 128, pattern = r"\S")]
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub availability: Option<Availability>,
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "rules::integer")]
    pub max_conversations: Option<i64>,
    /// Set a new password (10 to 1024 characters); ends the agent's sessions.
    #[schema(min_length = 10, max_length = 1024)]
    pub password: Option<String>,
}

#[utoipa::path(patch, path = "/agents/{id}", tag = "agents", params(IdParam), request_body = AgentUpdate,
    responses(
        (status = 200, body = AgentView),
        (status = 400, description = "Invalid values", body = ErrorBody),
        (status = 404, description = "No such agent", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Forbidden, Unavailable))]
pub async fn update_agent(
    State(state): State<AppState>,
    Id(id): Id,
    rules::JsonBody(request): rules::JsonBody<AgentUpdate>,
) -> Result<Json<AgentView>, ApiError> {
    let changes = AgentChanges {
        display_name: request.display_name.as_deref().map(check_name).transpose()?,
        role: request.role,
        availability: request.availability,
        max_conversations: request.max_conversations.map(check_capacity).transpose()?,
        password_hash: match request.password {
            Some(password) => Some(hash_password(password).await?),
            None => None,
        },
    };
    let updated = state.store.update_agent(id, &changes).await?;
    if changes.availability.is_some() || changes.max_conversations.is_some() {
        state.routing.capacity_changed();
    }
    Ok(Json(updated))
}

#[utoipa::path(delete, path = "/agents/{id}", tag = "agents", params(IdParam),
    responses(
        (status = 204, description = "Deleted, with their tokens and memberships"),
        (status = 400, description = "`id` is not an integer, or is the caller", body = ErrorBody),
        (status = 404, description = "No such agent", body = ErrorBody),
        Unauthorized, Forbidden, Unavailable))]
pub async fn delete_agent(State(state): State<AppState>, caller: Principal, Id(id): Id) -> Result<StatusCode, ApiError> {
    if caller.agent_id() == Some(id) {
        return Err(invalid("an admin cannot delete themselves"));
    }
    state.store.delete_agent(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/teams", tag = "teams", responses((status = 200, body = Vec<TeamView>), Unauthorized, Unavailable))]
pub async fn list_teams(State(state): State<AppState>) -> Result<Json<Vec<TeamView>>, ApiError> {
    Ok(Json(state.store.teams().await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamRequest {
    #[schema(min_length = 1, max_length = 128, pattern = r"\S")]
    pub name: String,
}

#[utoipa::path(post, path = "/teams", tag = "teams", request_body = TeamRequest,
    responses(
        (status = 201, body = TeamView),
        (status = 400, description = "Invalid name", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Forbidden, Unavailable))]
pub async fn create_team(
    State(state): State<AppState>,
    rules::JsonBody(request): rules::JsonBody<TeamRequest>,
) -> Result<(StatusCode, Json<TeamView>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.store.create_team(&check_name(&request.name)?).await?)))
}

#[utoipa::path(patch, path = "/teams/{id}", tag = "teams", params(IdParam), request_body = TeamRequest,
    responses(
        (status = 204, description = "Renamed"),
        (status = 400, description = "Invalid name", body = ErrorBody),
        (status = 404, description = "No such team", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Forbidden, Unavailable))]
pub async fn rename_team(State(state): State<AppState>, Id(id): Id, rules::JsonBody(request): rules::JsonBody<TeamRequest>) -> Result<StatusCode, ApiError> {
    state.store.rename_team(id, &check_name(&request.name)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/teams/{id}", tag = "teams", params(IdParam),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such team", body = ErrorBody),
        Unauthorized, Forbidden, Unavailable))]
pub async fn delete_team(State(state): State<AppState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    state.store.delete_team(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A team and one of its members.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// The team.
    #[param(example = 1)]
    pub id: i64,
    /// The agent.
    #[param(example = 1)]
    pub agent_id: i64,
}

fn member_path(path: Result<Path<MemberPath>, axum::extract::rejection::PathRejection>) -> Result<MemberPath, ApiError> {
    Ok(path?.0)
}

#[utoipa::path(put, path = "/teams/{id}/members/{agent_id}", tag = "teams", params(MemberPath),
    responses(
        (status = 204, description = "The agent is a member"),
        (status = 400, description = "An id is not an integer", body = ErrorBody),
        (status = 404, description = "No such team or agent", body = ErrorBody),
        Unauthorized, Forbidden, Unavailable))]
pub async fn add_member(State(state): State<AppState>, path: Result<Path<MemberPath>, axum::extract::rejection::PathRejection>) -> Result<StatusCode, ApiError> {
    let MemberPath { id, agent_id } = member_path(path)?;
    state.store.add_team_member(id, agent_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/teams/{id}/members/{agent_id}", tag = "teams", params(MemberPath),
    responses(
        (status = 204, description = "The agent is no longer a member"),
        (status = 400, description = "An id is not an integer", body = ErrorBody),
        (status = 404, description = "Not a member", body = ErrorBody),
        Unauthorized, Forbidden, Unavailable))]
pub async fn remove_member(State(state): State<AppState>, path: Result<Path<MemberPath>, axum::extract::rejection::PathRejection>) -> Result<StatusCode, ApiError> {
    let MemberPath { id, agent_id } = member_path(path)?;
    state.store.remove_team_member(id, agent_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_as_the_document_says() {
        for good in ["a@b.co", "ana.maria+x@mail.example.com", "x@a.b"] {
            assert!(rules::valid_email(good), "{good}");
        }
        for bad in ["", "a", "a@b", "@b.co", "a@.co", "a@b.", "a b@c.de", "a@b@c.de", "a@b .de"] {
            assert!(!rules::valid_email(bad), "{bad}");
        }
    }
}
