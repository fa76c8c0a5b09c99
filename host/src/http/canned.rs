//! `/api/v1/canned-responses` and expanding `/shortcut`s in a draft.

use super::api::{Id, IdParam};
use super::error::{ApiError, ErrorBody, Forbidden, JsonBodyErrors, Unauthorized, Unavailable};
use super::{rules, AppState};
use crate::auth::Principal;
use crate::store::canned::{fill, CannedResponse, Placeholders};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message)
}

/// A shortcut: 1–32 letters, digits, `_` or `-` (the document's pattern).
fn valid_shortcut(shortcut: &str) -> bool {
    (1..=32).contains(&shortcut.len()) && shortcut.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_body(body: &str) -> Result<(), ApiError> {
    if rules::is_blank(body) || body.chars().count() > 4096 {
        return Err(invalid("a canned response is 1 to 4096 characters, not only spaces"));
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CannedQuery {
    /// Only shortcuts starting with this (what the agent typed after `/`).
    #[param(max_length = 32)]
    pub prefix: Option<String>,
}

#[utoipa::path(get, path = "/canned-responses", tag = "canned responses", params(CannedQuery),
    responses((status = 200, body = Vec<CannedResponse>), (status = 400, description = "Invalid query", body = ErrorBody), Unauthorized, Unavailable))]
pub async fn list(State(state): State<AppState>, query: Result<Query<CannedQuery>, QueryRejection>) -> Result<Json<Vec<CannedResponse>>, ApiError> {
    let Query(query) = query?;
    if query.prefix.as_ref().is_some_and(|p| p.chars().count() > 32) {
        return Err(ApiError::bad_request("invalid_query", "`prefix` is at most 32 characters"));
    }
    Ok(Json(state.store.canned_responses(query.prefix.as_deref()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedRequest {
    /// Letters, digits, `_` and `-`, without the slash; case-insensitive.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$")]
    pub shortcut: String,
    /// 1–4096 characters; may hold `{{contact.first_name}}`, `{{contact.name}}`,
    /// `{{contact.phone}}`, `{{contact.email}}`, `{{agent.name}}`, `{{agent.first_name}}`.
    #[schema(min_length = 1, max_length = 4096, pattern = r"\S")]
    pub body: String,
}

#[utoipa::path(post, path = "/canned-responses", tag = "canned responses", request_body = CannedRequest,
    responses(
        (status = 201, body = CannedResponse),
        (status = 400, description = "Invalid shortcut or body", body = ErrorBody),
        (status = 409, description = "The shortcut is taken", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Forbidden, Unavailable))]
pub async fn create(State(state): State<AppState>, rules::JsonBody(request): rules::JsonBody<CannedRequest>) -> Result<(StatusCode, Json<CannedResponse>), ApiError> {
    if !valid_shortcut(&request.shortcut) {
        return Err(invalid("a shortcut is 1 to 32 letters, digits, `_` or `-`"));
    }
    check_body(&request.body)?;
    Ok((StatusCode::CREATED, Json(state.store.create_canned_response(&request.shortcut, &request.body).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedUpdate {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,32}$")]
    pub shortcut: Option<String>,
    #[schema(min_length = 1, max_length = 4096, pattern = r"\S")]
    pub body: Option<String>,
}

#[utoipa::path(patch, path = "/canned-responses/{id}", tag = "canned responses", params(IdParam), request_body = CannedUpdate,
    responses(
        (status = 200, body = CannedResponse),
        (status = 400, description = "Invalid shortcut or body", body = ErrorBody),
        (status = 404, description = "No such canned response", body = ErrorBody),
        (status = 409, description = "The shortcut is taken", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Forbidden, Unavailable))]
pub async fn update(State(state): State<AppState>, Id(id): Id, rules::JsonBody(request): rules::JsonBody<CannedUpdate>) -> Result<Json<CannedResponse>, ApiError> {
    if request.shortcut.as_deref().is_some_and(|s| !valid_shortcut(s)) {
        return Err(invalid("a shortcut is 1 to 32 letters, digits, `_` or `-`"));
    }
    if let Some(body) = &request.body {
        check_body(body)?;
    }
    Ok(Json(state.store.update_canned_response(id, request.shortcut.as_deref(), request.body.as_deref()).await?))
}

#[utoipa::path(delete, path = "/canned-responses/{id}", tag = "canned responses", params(IdParam),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such canned response", body = ErrorBody),
        Unauthorized, Forbidden, Unavailable))]
pub async fn delete(State(state): State<AppState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    state.store.delete_canned_response(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpandRequest {
    /// A draft: a leading `/shortcut` becomes its canned response, and placeholders anywhere
    /// are filled for this conversation's contact and the caller.
    #[schema(min_length = 1, max_length = 32768)]
    pub text: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Expanded {
    pub text: String,
}

#[utoipa::path(post, path = "/conversations/{id}/expand", tag = "canned responses", params(IdParam), request_body = ExpandRequest,
    responses(
        (status = 200, description = "The draft, expanded (nothing is sent)", body = Expanded),
        (status = 400, description = "Empty or too long", body = ErrorBody),
        (status = 404, description = "No such conversation (or not one of the caller's), or no such shortcut", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Unavailable))]
pub async fn expand(
    State(state): State<AppState>,
    caller: Principal,
    Id(id): Id,
    rules::JsonBody(request): rules::JsonBody<ExpandRequest>,
) -> Result<Json<Expanded>, ApiError> {
    if request.text.is_empty() || request.text.chars().count() > 32_768 {
        return Err(invalid("a draft is 1 to 32,768 characters"));
    }
    let Some(conversation) = state.store.conversation(caller.viewer(), id).await? else {
        return Err(ApiError::not_found("not_found", format!("conversation {id} not found")));
    };
    let mut text = request.text;
    if let Some(rest) = text.strip_prefix('/') {
        let (shortcut, tail) = rest.split_once(char::is_whitespace).map_or((rest, ""), |(s, t)| (s, t));
        if valid_shortcut(shortcut) {
            let canned = state.store.canned_response(shortcut).await?;
            let canned = canned.ok_or_else(|| ApiError::not_found("no_such_shortcut", format!("no canned response `/{shortcut}`")))?;
            text = if tail.is_empty() { canned.body } else { format!("{} {tail}", canned.body) };
        }
    }
    let values = Placeholders {
        contact_name: conversation.contact.display_name,
        contact_phone: conversation.contact.phone,
        contact_email: conversation.contact.email,
        agent_name: caller.name().to_string(),
    };
    Ok(Json(Expanded { text: fill(&text, &values) }))
}
