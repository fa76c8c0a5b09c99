//! `/api/v1/conversations/{id}` changes, activity and private notes: the workflow agents
//! work conversations with. Every change is recorded and announced on the live stream.

use super::api::{page_size, BackPageQuery, Id, IdParam};
use super::error::{ApiError, ErrorBody, JsonBodyErrors, Unauthorized, Unavailable};
use super::{rules, AppState};
use crate::auth::Principal;
use crate::store::views::{ConversationView, Page};
use crate::store::routing::DecisionView;
use crate::store::workflow::{ActivityView, Actor, Changes, Priority, Status};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

/// Who a change is recorded as: the calling agent, or `admin` for the bootstrap token.
pub(super) fn actor(caller: &Principal) -> Actor {
    Actor { name: caller.name().to_string(), agent_id: caller.agent_id() }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message)
}

/// Labels are case-insensitive words: 1–64 characters without spaces, stored lower case.
fn label(text: &str) -> Result<String, ApiError> {
    if text.is_empty() || text.chars().count() > 64 || text.contains(rules::is_space) {
        return Err(invalid("a label is 1 to 64 characters without spaces"));
    }
    Ok(text.to_lowercase())
}

/// Changes to a conversation; what is left out stays as it is.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationUpdate {
    pub status: Option<Status>,
    /// When a snoozed conversation reopens by itself (Unix ms); given alone, it snoozes the
    /// conversation. Without one, a snooze lasts until the customer's next message; a time
    /// already past wakes it at once. Ignored with a `status` other than `snoozed`.
    #[serde(default, deserialize_with = "rules::integer")]
    pub snoozed_until: Option<i64>,
    pub priority: Option<Priority>,
    /// The agent to work it; `null` unassigns.
    #[serde(default, deserialize_with = "rules::nullable_integer")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<i64>>,
    /// The team whose queue it goes to; `null` takes it out of any.
    #[serde(default, deserialize_with = "rules::nullable_integer")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<i64>>,
    /// Labels to add: words of 1–64 characters without spaces, case-insensitive.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub add_labels: Vec<String>,
    /// Labels to remove.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub remove_labels: Vec<String>,
}

#[utoipa::path(patch, path = "/conversations/{id}", tag = "conversations", params(IdParam), request_body = ConversationUpdate,
    responses(
        (status = 200, description = "The conversation as it is now; each change is recorded and announced (`conversation.updated`)", body = ConversationView),
        (status = 400, description = "Invalid values", body = ErrorBody),
        (status = 404, description = "No such conversation (or not one of the caller's), or no such agent or team", body = ErrorBody),
        (status = 409, description = "Reopening it would give the contact two open conversations", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Unavailable))]
pub async fn update_conversation(
    State(state): State<AppState>,
    caller: Principal,
    Id(id): Id,
    rules::JsonBody(request): rules::JsonBody<ConversationUpdate>,
) -> Result<Json<ConversationView>, ApiError> {
    if request.add_labels.len() > 20 || request.remove_labels.len() > 20 {
        return Err(invalid("at most 20 labels at a time"));
    }
    // A wake time alone snoozes; with another status it has nothing to apply to.
    let status = match (request.status, request.snoozed_until) {
        (None, Some(_)) => Some(Status::Snoozed),
        (status, _) => status,
    };
    let changes = Changes {
        status,
        snoozed_until: request.snoozed_until,
        priority: request.priority,
        assignee_id: request.assignee_id,
        team_id: request.team_id,
        add_labels: request.add_labels.iter().map(|l| label(l)).collect::<Result<_, _>>()?,
        remove_labels: request.remove_labels.iter().map(|l| label(l)).collect::<Result<_, _>>()?,
    };
    let updated = state.store.update_conversation(caller.viewer(), id, &changes, &actor(&caller)).await.map_err(|error| match error {
        // The document promises 404 for an agent or team that does not exist.
        crate::store::StoreError::InvalidReference(message) => ApiError::not_found("invalid_reference", message),
        other => other.into(),
    })?;
    if changes.status.is_some() || changes.assignee_id.is_some() || changes.team_id.is_some() {
        // A resolved or reassigned conversation may free an agent for the team queue.
        state.routing.capacity_changed();
    }
    Ok(Json(updated))
}

#[utoipa::path(get, path = "/conversations/{id}/routing", tag = "conversations", params(IdParam),
    responses(
        (status = 200, description = "Routing runs, newest first (at most 50): every policy's decision and reason, and what was applied", body = Vec<DecisionView>),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such conversation (or not one of the caller's)", body = ErrorBody),
        Unauthorized, Unavailable))]
pub async fn routing(State(state): State<AppState>, caller: Principal, Id(id): Id) -> Result<Json<Vec<DecisionView>>, ApiError> {
    super::api::visible_conversation(&state, &caller, id).await?;
    Ok(Json(state.store.routing_decisions(id, 50).await?))
}

#[utoipa::path(get, path = "/conversations/{id}/activity", tag = "conversations", params(IdParam, BackPageQuery),
    responses(
        (status = 200, description = "Changes and private notes, newest first", body = Page<ActivityView>),
        (status = 400, description = "`id` is not an integer, or `limit` out of range", body = ErrorBody),
        (status = 404, description = "No such conversation (or not one of the caller's)", body = ErrorBody),
        Unauthorized, Unavailable))]
pub async fn activity(
    State(state): State<AppState>,
    caller: Principal,
    Id(id): Id,
    query: Result<Query<BackPageQuery>, QueryRejection>,
) -> Result<Json<Page<ActivityView>>, ApiError> {
    let Query(query) = query?;
    let limit = page_size(query.limit, 100, 500)?;
    Ok(Json(state.store.activity(caller.viewer(), id, limit, query.before).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// 1–10,000 characters, not only spaces.
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    pub text: String,
}

#[utoipa::path(post, path = "/conversations/{id}/notes", tag = "conversations", params(IdParam), request_body = NoteRequest,
    responses(
        (status = 201, description = "A private note: agents see it, the customer never does (`note.created`)", body = ActivityView),
        (status = 400, description = "Empty or too long", body = ErrorBody),
        (status = 404, description = "No such conversation (or not one of the caller's)", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Unavailable))]
pub async fn add_note(
    State(state): State<AppState>,
    caller: Principal,
    Id(id): Id,
    rules::JsonBody(request): rules::JsonBody<NoteRequest>,
) -> Result<(StatusCode, Json<ActivityView>), ApiError> {
    if rules::is_blank(&request.text) || request.text.chars().count() > 10_000 {
        return Err(invalid("a note is 1 to 10,000 characters, not only spaces"));
    }
    let note = state.store.add_note(caller.viewer(), id, &request.text, &actor(&caller)).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// Read up to this message (default: the newest).
    #[serde(default, deserialize_with = "rules::integer")]
    pub message_id: Option<i64>,
}

#[utoipa::path(post, path = "/conversations/{id}/read", tag = "conversations", params(IdParam), request_body = ReadRequest,
    responses(
        (status = 204, description = "Marked read for the caller (read state only moves forward)"),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such conversation (or not one of the caller's)", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Unavailable))]
pub async fn mark_read(
    State(state): State<AppState>,
    caller: Principal,
    Id(id): Id,
    rules::JsonBody(request): rules::JsonBody<ReadRequest>,
) -> Result<StatusCode, ApiError> {
    state.store.mark_read(caller.viewer(), caller.agent_id(), id, request.message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
