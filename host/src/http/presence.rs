//! Presence heartbeats (`PUT /conversations/{id}/presence`): which agents are viewing or
//! typing where, so two agents do not answer the same customer.

use super::api::{Id, IdParam};
use super::error::{ApiError, ErrorBody, JsonBodyErrors, Unauthorized, Unavailable};
use super::{rules, AppState};
use crate::auth::Principal;
use crate::store::presence::{ConversationPresence, PresenceState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// `viewing` while the conversation is open, `typing` while a reply or note is being
    /// written (send `viewing` again when the composer goes quiet).
    pub state: PresenceState,
}

/// Presence belongs to an agent account; the bootstrap token has none.
fn agent(caller: &Principal) -> Result<i64, ApiError> {
    caller.agent_id().ok_or_else(|| {
        ApiError::new(StatusCode::FORBIDDEN, "agent_only", "presence is an agent's: sign in as an agent, not with the bootstrap token")
    })
}

#[utoipa::path(put, path = "/conversations/{id}/presence", tag = "presence", params(IdParam), request_body = Heartbeat,
    responses(
        (status = 200, description = "Recorded until `workflow.presence_ttl_ms` from now; repeat every third of that while it holds. Returns who is in the conversation. A change is announced (`presence.updated`)", body = ConversationPresence),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 403, description = "The caller is not an agent account", body = ErrorBody),
        (status = 404, description = "No such conversation (or not one of the caller's)", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Unavailable))]
pub async fn heartbeat(
    State(state): State<AppState>,
    caller: Principal,
    Id(id): Id,
    rules::JsonBody(request): rules::JsonBody<Heartbeat>,
) -> Result<Json<ConversationPresence>, ApiError> {
    let agent = agent(&caller)?;
    let ttl = i64::try_from(state.workflow.presence_ttl_ms).unwrap_or(i64::MAX);
    Ok(Json(state.store.heartbeat(caller.viewer(), agent, id, request.state, state.clock.now_ms(), ttl).await?))
}

#[utoipa::path(delete, path = "/conversations/{id}/presence", tag = "presence", params(IdParam),
    responses(
        (status = 204, description = "Gone from the conversation (announced if the caller was there)"),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 403, description = "The caller is not an agent account", body = ErrorBody),
        (status = 404, description = "No such conversation (or not one of the caller's)", body = ErrorBody),
        Unauthorized, Unavailable))]
pub async fn leave(State(state): State<AppState>, caller: Principal, Id(id): Id) -> Result<StatusCode, ApiError> {
    let agent = agent(&caller)?;
    state.store.leave(caller.viewer(), agent, id, state.clock.now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/presence", tag = "presence",
    responses(
        (status = 200, description = "Who is viewing or typing, in every conversation the caller may see that has anyone", body = Vec<ConversationPresence>),
        Unauthorized, Unavailable))]
pub async fn list(State(state): State<AppState>, caller: Principal) -> Result<Json<Vec<ConversationPresence>>, ApiError> {
    Ok(Json(state.store.presence(caller.viewer(), state.clock.now_ms()).await?))
}
