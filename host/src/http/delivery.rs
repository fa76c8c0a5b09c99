//! Delivery, for agents: a reply's attempts and their timing, the dead letters, and a retry.

use super::api::{page_size, visible_conversation, Id, IdParam};
use super::error::{ApiError, ErrorBody, Unauthorized, Unavailable};
use super::AppState;
use crate::auth::Principal;
use crate::outbox::windows::{window, WindowView};
use crate::store::delivery::{DeadLetterView, DeliveryView};
use crate::store::views::MessageView;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

/// A reply in a conversation.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ReplyPath {
    /// The conversation's id.
    id: i64,
    /// The reply's message id.
    message_id: i64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// At most this many, newest first, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/conversations/{id}/messages/{message_id}/delivery", tag = "delivery", params(ReplyPath),
    responses(
        (status = 200, description = "The reply's outbox state and every attempt with its timing, error and scheduled retry", body = DeliveryView),
        (status = 400, description = "An id is not an integer", body = ErrorBody),
        (status = 404, description = "No such conversation (or not one of the caller's), or no reply with that id in it", body = ErrorBody),
        Unauthorized, Unavailable),
    security(("bearer" = [])))]
pub async fn delivery(caller: Principal, State(state): State<AppState>, path: Result<Path<ReplyPath>, PathRejection>) -> Result<Json<DeliveryView>, ApiError> {
    let Path(ReplyPath { id, message_id }) = path?;
    visible_conversation(&state, &caller, id).await?;
    let delivery = state.store.delivery(id, message_id).await?;
    delivery.map(Json).ok_or_else(|| ApiError::not_found("not_found", format!("conversation {id} has no reply {message_id}")))
}

#[utoipa::path(post, path = "/conversations/{id}/messages/{message_id}/retry", tag = "delivery", params(ReplyPath),
    responses(
        (status = 202, description = "Queued again with a fresh set of attempts; its status is `pending` again (announced as `message.updated`)", body = MessageView),
        (status = 400, description = "An id is not an integer", body = ErrorBody),
        (status = 404, description = "No such conversation (or not one of the caller's), or no reply with that id in it", body = ErrorBody),
        (status = 409, description = "The reply has not failed (it is queued, being sent, or sent)", body = ErrorBody),
        Unauthorized, Unavailable),
    security(("bearer" = [])))]
pub async fn retry(caller: Principal, State(state): State<AppState>, path: Result<Path<ReplyPath>, PathRejection>) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let Path(ReplyPath { id, message_id }) = path?;
    visible_conversation(&state, &caller, id).await?;
    let message = state.store.retry_delivery(id, message_id).await?;
    tracing::info!(caller = caller.name(), conversation_id = id, message_id, "delivery retried by hand");
    state.outbox.wake();
    Ok((StatusCode::ACCEPTED, Json(message)))
}

#[utoipa::path(get, path = "/dead-letters", tag = "delivery", params(DeadLetterQuery),
    responses(
        (status = 200, description = "Replies that will not go out unless someone retries them (retries ran out, or refused for good), in conversations the caller may see, newest first", body = Vec<DeadLetterView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        Unauthorized, Unavailable),
    security(("bearer" = [])))]
pub async fn dead_letters(
    caller: Principal,
    State(state): State<AppState>,
    query: Result<Query<DeadLetterQuery>, QueryRejection>,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    let Query(query) = query?;
    let limit = page_size(query.limit, 50, 500)?;
    Ok(Json(state.store.dead_letters(caller.viewer(), limit).await?))
}

/// Each reachable channel's customer-service window in conversation `id`, at `now_ms`; `None`
/// when there is no such conversation.
pub(super) async fn windows(state: &AppState, id: i64, now_ms: i64) -> Result<Option<Vec<WindowView>>, ApiError> {
    let Some(channels) = state.store.reply_channels(id).await? else {
        return Ok(None);
    };
    Ok(Some(
        channels
            .into_iter()
            .filter_map(|(channel_id, last_inbound_at)| {
                let hours = state.lanes.get(&channel_id)?.delivery.window_hours;
                Some(window(&channel_id, hours, last_inbound_at, now_ms))
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/conversations/{id}/windows", tag = "delivery", params(IdParam),
    responses(
        (status = 200, description = "For each configured channel the contact can be reached on: its customer-service window (`hours` 0 when it has none), when the customer last wrote there, when free-form replies stop, and whether they are allowed now (templates always are)", body = Vec<WindowView>),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such conversation (or not one of the caller's)", body = ErrorBody),
        Unauthorized, Unavailable),
    security(("bearer" = [])))]
pub async fn conversation_windows(caller: Principal, State(state): State<AppState>, Id(id): Id) -> Result<Json<Vec<WindowView>>, ApiError> {
    visible_conversation(&state, &caller, id).await?;
    let found = windows(&state, id, state.clock.now_ms()).await?;
    found.map(Json).ok_or_else(|| ApiError::not_found("not_found", format!("conversation {id} not found")))
}
