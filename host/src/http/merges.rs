//! Merging contacts (`POST /contacts/{id}/merge`), undoing a merge, and the audit log.

use super::api::{page_size, Id, IdParam};
use super::error::{ApiError, ErrorBody, Forbidden, JsonBodyErrors, Unauthorized, Unavailable};
use super::workflow::actor;
use super::{rules, AppState};
use crate::auth::Principal;
use crate::store::audit::AuditEntry;
use crate::store::merge::MergeView;
use crate::store::views::{ContactView, Page};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The contact to merge into this one; its identities and conversations move here.
    #[serde(deserialize_with = "rules::required_integer")]
    pub contact_id: i64,
}

#[utoipa::path(post, path = "/contacts/{id}/merge", tag = "contacts", params(IdParam), request_body = MergeRequest,
    responses(
        (status = 201, description = "Merged: the other contact's identities and conversations are this one's; open threads are joined. Undo with `POST /merges/{id}/undo`", body = MergeView),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such contact", body = ErrorBody),
        (status = 409, description = "The same contact, or one merged already", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Unavailable))]
pub async fn merge(
    State(state): State<AppState>,
    caller: Principal,
    Id(id): Id,
    rules::JsonBody(request): rules::JsonBody<MergeRequest>,
) -> Result<(StatusCode, Json<MergeView>), ApiError> {
    let merged = state.store.merge_contacts(id, request.contact_id, &actor(&caller)).await?;
    tracing::info!(merge = merged.id, survivor = id, merged = request.contact_id, by = caller.name(), "contacts merged");
    Ok((StatusCode::CREATED, Json(merged)))
}

#[utoipa::path(post, path = "/merges/{id}/undo", tag = "contacts", params(IdParam),
    responses(
        (status = 200, description = "Undone: the merged contact is back as it was; returns it", body = ContactView),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such merge", body = ErrorBody),
        (status = 409, description = "Undone already", body = ErrorBody),
        Unauthorized, Forbidden, Unavailable))]
pub async fn undo(State(state): State<AppState>, caller: Principal, Id(id): Id) -> Result<Json<ContactView>, ApiError> {
    Ok(Json(state.store.unmerge(id, &actor(&caller)).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this action, e.g. `contact.merged`.
    #[param(max_length = 64)]
    pub action: Option<String>,
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Only entries with a smaller id (the previous page's `next_cursor`).
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, description = "Who did what, newest first", body = Page<AuditEntry>),
        (status = 400, description = "`limit` out of range", body = ErrorBody),
        Unauthorized, Forbidden, Unavailable))]
pub async fn audit(State(state): State<AppState>, query: Result<Query<AuditQuery>, QueryRejection>) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let Query(query) = query?;
    let limit = page_size(query.limit, 100, 500)?;
    if query.action.as_ref().is_some_and(|a| a.chars().count() > 64) {
        return Err(ApiError::bad_request("invalid_query", "`action` is at most 64 characters"));
    }
    Ok(Json(state.store.audit(query.action.as_deref(), limit, query.before).await?))
}
