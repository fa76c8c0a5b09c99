//! `/api/v1/views`: saved views of the conversation list. Every agent keeps their own; admins
//! also save shared views every agent sees. Only an admin changes a shared view.

use super::api::{Id, IdParam};
use super::error::{ApiError, ErrorBody, JsonBodyErrors, Unauthorized, Unavailable};
use super::{rules, AppState};
use crate::auth::{Principal, Role};
use crate::store::saved_views::{SavedFilters, SavedView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message)
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if rules::is_blank(name) || name.chars().count() > 64 {
        return Err(invalid("a view's name is 1 to 64 characters, not only spaces"));
    }
    Ok(())
}

/// The checks the document's schema of [`SavedFilters`] describes.
fn check_filters(filters: &SavedFilters) -> Result<(), ApiError> {
    if let Some(view) = &filters.view {
        let team = view.strip_prefix("team:").is_some_and(|id| (1..=18).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()));
        if !matches!(view.as_str(), "mine" | "unassigned" | "all") && !team {
            return Err(invalid("`view` is `mine`, `unassigned`, `all` or `team:<id>`"));
        }
    }
    if filters.channel.as_ref().is_some_and(|c| c.chars().count() > 64) {
        return Err(invalid("`channel` is at most 64 characters"));
    }
    if filters.label.as_ref().is_some_and(|l| l.is_empty() || l.chars().count() > 64 || l.chars().any(rules::is_space)) {
        return Err(invalid("`label` is 1 to 64 characters without spaces"));
    }
    if filters.q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(invalid("`q` is at most 100 characters"));
    }
    Ok(())
}

/// [`SavedFilters`] from a JSON object only: serde would also take a struct from an array of
/// its fields in order, which the document does not allow.
fn filters_object<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<SavedFilters, D::Error> {
    use serde::de::Error;
    optional_filters_object(deserializer)?.ok_or_else(|| D::Error::custom("`filters` must be a JSON object"))
}

/// [`filters_object`], where `null` means "leave the filters as they are".
fn optional_filters_object<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<SavedFilters>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(None),
        value @ serde_json::Value::Object(_) => serde_json::from_value(value).map(Some).map_err(D::Error::custom),
        _ => Err(D::Error::custom("`filters` must be a JSON object")),
    }
}

/// `view` if `caller` may change it: their own, or a shared one for an admin.
fn may_change(caller: &Principal, view: SavedView) -> Result<SavedView, ApiError> {
    if view.shared && !caller.has(Role::Admin) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only admins change shared views"));
    }
    Ok(view)
}

async fn visible(state: &AppState, caller: &Principal, id: i64) -> Result<SavedView, ApiError> {
    state.store.saved_view(caller.agent_id(), id).await?.ok_or_else(|| ApiError::not_found("not_found", format!("view {id} not found")))
}

#[utoipa::path(get, path = "/views", tag = "views",
    responses((status = 200, description = "The shared views, then the caller's own, each by name", body = Vec<SavedView>), Unauthorized, Unavailable))]
pub async fn list(State(state): State<AppState>, caller: Principal) -> Result<Json<Vec<SavedView>>, ApiError> {
    Ok(Json(state.store.saved_views(caller.agent_id()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewView {
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub name: String,
    /// Share with every agent (admins only). The bootstrap token, which is nobody's, can only
    /// save shared views.
    #[serde(default)]
    pub shared: bool,
    #[serde(deserialize_with = "filters_object")]
    pub filters: SavedFilters,
}

#[utoipa::path(post, path = "/views", tag = "views", request_body = NewView,
    responses(
        (status = 201, body = SavedView),
        (status = 400, description = "Invalid name or filters", body = ErrorBody),
        (status = 403, description = "A shared view, by an agent who is not an admin (`forbidden`); a personal view for the bootstrap token, which is nobody's (`agent_only`)", body = ErrorBody),
        (status = 409, description = "A view of that name exists; code `taken`", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Unavailable))]
pub async fn create(
    State(state): State<AppState>,
    caller: Principal,
    rules::JsonBody(request): rules::JsonBody<NewView>,
) -> Result<(StatusCode, Json<SavedView>), ApiError> {
    let name = rules::trim(&request.name);
    check_name(name)?;
    check_filters(&request.filters)?;
    let owner = match (request.shared, caller.agent_id()) {
        (true, _) if !caller.has(Role::Admin) => {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only admins save shared views"));
        }
        (true, _) => None,
        (false, Some(agent)) => Some(agent),
        (false, None) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "agent_only",
                "the bootstrap token has no views of its own: save a shared view (`shared: true`), or sign in as an agent",
            ));
        }
    };
    Ok((StatusCode::CREATED, Json(state.store.create_saved_view(owner, name, &request.filters).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewUpdate {
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub name: Option<String>,
    /// Replaces every filter of the view.
    #[serde(default, deserialize_with = "optional_filters_object")]
    pub filters: Option<SavedFilters>,
}

#[utoipa::path(patch, path = "/views/{id}", tag = "views", params(IdParam), request_body = ViewUpdate,
    responses(
        (status = 200, body = SavedView),
        (status = 400, description = "Invalid name or filters", body = ErrorBody),
        (status = 403, description = "A shared view, by an agent who is not an admin", body = ErrorBody),
        (status = 404, description = "No such view (or another agent's)", body = ErrorBody),
        (status = 409, description = "A view of that name exists; code `taken`", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Unavailable))]
pub async fn update(
    State(state): State<AppState>,
    caller: Principal,
    Id(id): Id,
    rules::JsonBody(request): rules::JsonBody<ViewUpdate>,
) -> Result<Json<SavedView>, ApiError> {
    let name = request.name.as_deref().map(rules::trim);
    if let Some(name) = name {
        check_name(name)?;
    }
    if let Some(filters) = &request.filters {
        check_filters(filters)?;
    }
    may_change(&caller, visible(&state, &caller, id).await?)?;
    Ok(Json(state.store.update_saved_view(id, name, request.filters.as_ref()).await?))
}

#[utoipa::path(delete, path = "/views/{id}", tag = "views", params(IdParam),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 403, description = "A shared view, by an agent who is not an admin", body = ErrorBody),
        (status = 404, description = "No such view (or another agent's)", body = ErrorBody),
        Unauthorized, Unavailable))]
pub async fn delete(State(state): State<AppState>, caller: Principal, Id(id): Id) -> Result<StatusCode, ApiError> {
    may_change(&caller, visible(&state, &caller, id).await?)?;
    state.store.delete_saved_view(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
