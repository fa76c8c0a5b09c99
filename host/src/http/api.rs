//! `/api/v1`: the REST API the inbox UI and integrations use.

use crate::auth::Principal;
use super::error::{ApiError, ErrorBody, JsonBodyErrors, Unauthorized, Unavailable};
use super::idempotency::{self, ClientKey, IdempotencyHeader};
use super::{rules, AppState, RequestId};
use crate::model::{Capability, MediaKind, OutboundContent};
use crate::store::idempotency::Queued;
use crate::store::outbox::NewReply;
use crate::store::StoreError;
use crate::store::views::{ContactView, ConversationFilter, ConversationView, MessageView, Page, Sort};
use crate::store::counts::ViewCounts;
use crate::store::search::SearchTerms;
use crate::store::workflow::{Priority, Status};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

/// A numeric id from the path; anything else is a JSON `400`.
pub struct Id(pub i64);

/// The `{id}` path parameter, as the OpenAPI document declares it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct IdParam {
    /// The numeric id.
    #[param(example = 1)]
    id: i64,
}

/// Conversation `id` exists and the caller may see it; else the same `404` either way, so a
/// caller learns nothing about conversations that are not theirs.
pub(super) async fn visible_conversation(state: &AppState, caller: &Principal, id: i64) -> Result<(), ApiError> {
    match state.store.conversation(caller.viewer(), id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("not_found", format!("conversation {id} not found"))),
    }
}

/// `limit`, or `default` when absent; outside `1..=max` it is a JSON `400`.
pub(super) fn page_size(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request("invalid_query", format!("`limit` must be between 1 and {max}, not {n}"))),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<i64>::from_request_parts(parts, state).await?;
        Ok(Self(id))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page (of the same filters and sort).
    #[param(pattern = "^[0-9]{1,18}_[0-9]{1,18}(_[0-9]{1,18})?$")]
    pub cursor: Option<String>,
    /// The order (default `newest`).
    pub sort: Option<Sort>,
    /// Only those whose customer last wrote on this channel.
    #[param(max_length = 64)]
    pub channel: Option<String>,
    pub status: Option<Status>,
    /// `me`, `unassigned`, or an agent's id.
    #[param(pattern = "^(me|unassigned|[0-9]{1,18})$")]
    pub assignee: Option<String>,
    /// Only this team's.
    pub team: Option<i64>,
    /// Only those with this label.
    #[param(max_length = 64, pattern = "^\\S+$")]
    pub label: Option<String>,
    pub priority: Option<Priority>,
    /// Only those with messages the caller has not read.
    pub unread: Option<bool>,
    /// Search contact names, phones (any format, fragments too), emails, channel user ids and
    /// message text: up to 100 characters with at least 3 besides spaces, matched as a
    /// substring, case-insensitively.
    #[param(max_length = 100, pattern = "\\S[\\s\\S]*\\S[\\s\\S]*\\S")]
    pub q: Option<String>,
}

#[utoipa::path(get, path = "/conversations", tag = "conversations", params(ConversationQuery),
    responses(
        (status = 200, description = "Conversations the caller may see that pass the filters, in the chosen order; `unread_count` is what the caller has not read", body = Page<ConversationView>),
        (status = 400, description = "`limit` out of range or `cursor` invalid", body = ErrorBody),
        Unauthorized, Unavailable),
    security(("bearer" = [])))]
pub async fn list_conversations(
    caller: Principal,
    State(state): State<AppState>,
    query: Result<Query<ConversationQuery>, QueryRejection>,
) -> Result<Json<Page<ConversationView>>, ApiError> {
    let Query(query) = query?;
    let limit = page_size(query.limit, 50, 200)?;
    let (assignee_id, unassigned) = match query.assignee.as_deref() {
        None => (None, false),
        Some("unassigned") => (None, true),
        // The bootstrap token is nobody: nothing is assigned to it.
        Some("me") => (Some(caller.agent_id().unwrap_or(-1)), false),
        Some(id) => (Some(id.parse::<i64>().map_err(|_| ApiError::bad_request("invalid_query", "`assignee` is `me`, `unassigned` or an agent id"))?), false),
    };
    if query.channel.as_ref().is_some_and(|c| c.chars().count() > 64) {
        return Err(ApiError::bad_request("invalid_query", "`channel` is at most 64 characters"));
    }
    let label = match query.label {
        Some(label) if label.is_empty() || label.chars().count() > 64 || label.contains(rules::is_space) => {
            return Err(ApiError::bad_request("invalid_query", "`label` is 1 to 64 characters without spaces"));
        }
        other => other.map(|label| label.to_lowercase()),
    };
    let search = match query.q.as_deref() {
        None => None,
        Some(q) if q.chars().count() > 100 => return Err(ApiError::bad_request("invalid_query", "`q` is at most 100 characters")),
        Some(q) => {
            let enough = q.chars().filter(|c| !rules::is_space(*c)).count() >= 3;
            let terms = SearchTerms::parse(q).filter(|_| enough);
            Some(terms.ok_or_else(|| ApiError::bad_request("invalid_query", "`q` needs at least 3 characters besides spaces"))?)
        }
    };
    let filter = ConversationFilter {
        search,
        channel_id: query.channel,
        status: query.status,
        assignee_id,
        unassigned,
        team_id: query.team,
        label,
        priority: query.priority,
        unread: query.unread.unwrap_or(false),
    };
    let page = state
        .store
        .list_conversations(caller.viewer(), caller.agent_id(), &filter, query.sort.unwrap_or_default(), limit, query.cursor.as_deref())
        .await?;
    Ok(Json(page))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountsQuery {
    /// Count conversations in this status (default `open`).
    pub status: Option<Status>,
}

#[utoipa::path(get, path = "/conversations/counts", tag = "conversations", params(CountsQuery),
    responses(
        (status = 200, description = "How many conversations each view holds (mine, unassigned, my teams, all, and each team), and how many of them the caller has not read", body = ViewCounts),
        (status = 400, description = "`status` is not a status", body = ErrorBody),
        Unauthorized, Unavailable))]
pub async fn conversation_counts(
    caller: Principal,
    State(state): State<AppState>,
    query: Result<Query<CountsQuery>, QueryRejection>,
) -> Result<Json<ViewCounts>, ApiError> {
    let Query(query) = query?;
    let status = query.status.unwrap_or(Status::Open);
    Ok(Json(state.store.view_counts(caller.viewer(), caller.agent_id(), status).await?))
}

#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", params(IdParam),
    responses(
        (status = 200, body = ConversationView),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
        Unauthorized, Unavailable),
    security(("bearer" = [])))]
pub async fn get_conversation(caller: Principal, State(state): State<AppState>, Id(id): Id) -> Result<Json<ConversationView>, ApiError> {
    let conversation = state.store.conversation(caller.viewer(), id).await?;
    conversation.map(Json).ok_or_else(|| ApiError::not_found("not_found", format!("conversation {id} not found")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BackPageQuery {
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Only entries with a smaller id (the previous page's `next_cursor`).
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "conversations", params(IdParam, BackPageQuery),
    responses(
        (status = 200, description = "The newest page of messages, in arrival order (oldest of the page first); `next_cursor` pages back to older ones", body = Page<MessageView>),
        (status = 400, description = "`id` is not an integer, or `limit` out of range", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
        Unauthorized, Unavailable),
    security(("bearer" = [])))]
pub async fn conversation_messages(
    caller: Principal,
    State(state): State<AppState>,
    Id(id): Id,
    query: Result<Query<BackPageQuery>, QueryRejection>,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let Query(query) = query?;
    let limit = page_size(query.limit, 100, 500)?;
    visible_conversation(&state, &caller, id).await?;
    Ok(Json(state.store.conversation_messages(id, limit, query.before).await?))
}

/// An agent's reply. Give either `text`, or `content` for media and templates.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// The message text (1–32,768 characters, not only whitespace).
    #[schema(min_length = 1, max_length = 32768, pattern = r"\S")]
    pub text: Option<String>,
    pub content: Option<ReplyContent>,
    /// Send through this channel instead of the conversation's latest one.
    pub channel_id: Option<String>,
    /// Provider id of the message this replies to.
    #[schema(max_length = 512)]
    pub reply_to: Option<String>,
}

/// What to send, when it is more than text. Unknown fields are refused at every level.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReplyContent {
    Text {
        /// 1–32,768 characters, not only whitespace.
        #[schema(min_length = 1, max_length = 32768, pattern = r"\S")]
        text: String,
    },
    Media {
        kind: MediaKind,
        /// An absolute `http` or `https` URL the provider fetches the media from.
        #[schema(max_length = 2048, pattern = "^https?://[^/\\s]")]
        url: String,
        #[schema(max_length = 4096)]
        caption: Option<String>,
        #[schema(max_length = 255)]
        filename: Option<String>,
        /// e.g. `image/jpeg`.
        #[schema(max_length = 255, pattern = "^[^\\s/]*/[^\\s]*$")]
        mime_type: Option<String>,
    },
    Template {
        /// The approved template's name.
        #[schema(min_length = 1, max_length = 512, pattern = r"\S")]
        name: String,
        /// Language code, e.g. `en_US`.
        #[schema(min_length = 1, max_length = 32, pattern = r"\S")]
        language: String,
        /// Body parameters, in order (at most 100, each at most 4,096 characters).
        #[serde(default)]
        #[schema(max_items = 100)]
        parameters: Vec<String>,
    },
}

/// Longest reply text, in characters; providers' own limits are lower (WhatsApp 4,096).
const MAX_REPLY_CHARS: usize = 32_768;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_reply", message)
}

/// `field` as given, when it is within `max` characters.
fn bounded(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        Some(text) if text.chars().count() > max => Err(invalid(format!("`{field}` is longer than {max} characters"))),
        Some(text) if rules::is_blank(&text) => Ok(None),
        other => Ok(other),
    }
}

fn reply_text(field: &str, text: String) -> Result<String, ApiError> {
    if rules::is_blank(&text) {
        return Err(ApiError::bad_request("empty_message", format!("`{field}` must not be empty")));
    }
    if text.chars().count() > MAX_REPLY_CHARS {
        return Err(invalid(format!("`{field}` is longer than {MAX_REPLY_CHARS} characters")));
    }
    Ok(text)
}

impl ReplyContent {
    /// Check the content the same way as `text`, and turn it into what the outbox stores.
    fn validate(self) -> Result<OutboundContent, ApiError> {
        Ok(match self {
            Self::Text { text } => OutboundContent::Text { text: reply_text("content.text", text)? },
            Self::Media { kind, url, caption, filename, mime_type } => {
                // Exactly the document's pattern: no trimming, so what the schema admits is
                // accepted (a URL that trims to `https://` would otherwise be refused).
                let web = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
                let host_first = web.and_then(|rest| rest.chars().next());
                if url.chars().count() > 2048 || !host_first.is_some_and(|c| c != '/' && !c.is_whitespace()) {
                    return Err(invalid("`content.url` must be an absolute http(s) URL of at most 2048 bytes"));
                }
                // Given, it must be a MIME type (the document's pattern); blank is not one.
                if mime_type.as_deref().is_some_and(|mime| !mime.contains('/') || mime.contains(rules::is_space)) {
                    return Err(invalid("`content.mime_type` must look like `type/subtype`"));
                }
                let mime_type = bounded("content.mime_type", mime_type, 255)?;
                OutboundContent::Media {
                    kind,
                    url,
                    caption: bounded("content.caption", caption, 4096)?,
                    filename: bounded("content.filename", filename, 255)?,
                    mime_type,
                }
            }
            Self::Template { name, language, parameters } => {
                if rules::is_blank(&name) || name.chars().count() > 512 {
                    return Err(invalid("`content.name` must be a template name of 1–512 bytes"));
                }
                if rules::is_blank(&language) || language.chars().count() > 32 {
                    return Err(invalid("`content.language` must be a language code such as `en_US`"));
                }
                if parameters.len() > 100 || parameters.iter().any(|p| p.chars().count() > 4096) {
                    return Err(invalid("`content.parameters` takes at most 100 values of at most 4096 characters"));
                }
                OutboundContent::Template { name, language, parameters }
            }
        })
    }
}

#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "conversations", params(IdParam, IdempotencyHeader), request_body = ReplyRequest,
    responses(
        (status = 202, description = "Accepted into the outbox (or, for a retry with the same `Idempotency-Key`, the message the first request queued, with `Idempotent-Replayed: true`)", body = MessageView),
        (status = 400, description = "Invalid JSON, an invalid reply, an unknown channel, or a malformed `Idempotency-Key`", body = ErrorBody),
        (status = 404, description = "No such conversation", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 409, description = "The contact cannot be reached on that channel, or opted out; or the `Idempotency-Key` was used for a different request (`idempotency_key_reused`)", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "Unknown fields or wrong types; the channel does not support this content; its customer-service window is closed for free-form replies (`window_closed`: send a template, or use another channel); or a template send that does not fit the stored template (`unknown_template`, `template_language` when it is not in the contact's language, `template_not_approved`, `template_parameters`)", body = ErrorBody),
        Unauthorized, Unavailable),
    security(("bearer" = [])))]
pub async fn reply(
    caller: Principal,
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Id(id): Id,
    client_key: ClientKey,
    rules::JsonBody(request): rules::JsonBody<ReplyRequest>,
) -> Result<Response, ApiError> {
    let requested_channel = request.channel_id.clone();
    let content = match (request.text, request.content) {
        (Some(text), None) => OutboundContent::Text { text: reply_text("text", text)? },
        (None, Some(content)) => content.validate()?,
        _ => return Err(invalid("give exactly one of `text` or `content`")),
    };
    let reply_to = bounded("reply_to", request.reply_to, 512)?;
    if request.channel_id.as_ref().is_some_and(|id| id.len() > 64) {
        return Err(ApiError::bad_request("unknown_channel", "`channel_id` names no configured channel"));
    }
    let Some(conversation) = state.store.conversation(caller.viewer(), id).await? else {
        return Err(ApiError::not_found("not_found", format!("conversation {id} not found")));
    };
    let content_json = serde_json::to_string(&content).map_err(|_| invalid("`content` cannot be encoded"))?;
    let key = client_key.for_request(&caller, &[&id.to_string(), requested_channel.as_deref().unwrap_or(""), &content_json, reply_to.as_deref().unwrap_or("")]);
    // A retry is answered with what the first request queued before anything else is checked:
    // the window may have closed since, and the answer must not change.
    if let Some(key) = &key {
        match state.store.replayed_reply(key).await {
            Ok(Some(message)) => return Ok((StatusCode::ACCEPTED, [idempotency::replayed_header()], Json(message)).into_response()),
            Ok(None) => {}
            Err(StoreError::Conflict(message)) => return Err(idempotency::reused(message)),
            Err(error) => return Err(error.into()),
        }
    }
    let channel_id = request.channel_id.or(conversation.reply_channel_id).unwrap_or(conversation.channel_id);
    let Some(channel) = state.channels.get(&channel_id) else {
        return Err(ApiError::bad_request("unknown_channel", format!("no channel `{channel_id}` is configured")));
    };
    // Decide from what the plugin declares, never from the channel's name.
    let needed = match &content {
        OutboundContent::Text { .. } => Capability::Text,
        OutboundContent::Media { .. } => Capability::Media,
        OutboundContent::Template { .. } => Capability::Templates,
    };
    if !channel.info().capabilities.contains(&needed) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_content",
            format!("channel `{channel_id}` does not support {}", needed.as_str()),
        ));
    }
    let text = match &content {
        OutboundContent::Template { name, language, parameters } => {
            let language_read = conversation.contact.language.as_deref();
            Some(super::templates::check_send(&state, &channel_id, name, language, parameters, language_read).await?)
        }
        _ => {
            closed_window(&state, id, &channel_id).await?;
            None
        }
    };
    let reply = NewReply {
        conversation_id: id,
        channel_id: Some(channel_id),
        content,
        reply_to,
        text,
        author: caller.name().to_string(),
        request_id: Some(request_id.0),
    };
    let queued = match key {
        None => state.store.queue_reply(&reply).await.map(Queued::New),
        Some(key) => state.store.queue_reply_once(&reply, &key).await,
    };
    let queued = match queued {
        Err(StoreError::Conflict(message)) => return Err(idempotency::reused(message)),
        Err(StoreError::OptedOut(message)) => {
            let channel_id = reply.channel_id.as_deref().unwrap_or_default();
            if let Err(error) = state.store.audit_opted_out_send(&super::workflow::actor(&caller), id, channel_id, reply.content.kind()).await {
                tracing::warn!(%error, conversation_id = id, "cannot audit a send refused for opt-out");
            }
            return Err(StoreError::OptedOut(message).into());
        }
        other => other?,
    };
    Ok(match queued {
        Queued::New(message) => {
            state.outbox.wake();
            (StatusCode::ACCEPTED, Json(message)).into_response()
        }
        Queued::Replayed(message) => (StatusCode::ACCEPTED, [idempotency::replayed_header()], Json(message)).into_response(),
    })
}

/// Refuse a free-form reply on `channel_id` when its customer-service window is closed, with
/// what to do instead.
async fn closed_window(state: &AppState, conversation_id: i64, channel_id: &str) -> Result<(), ApiError> {
    if state.lanes.get(channel_id).is_none_or(|lane| lane.delivery.window_hours == 0) {
        return Ok(());
    }
    let windows = super::delivery::windows(state, conversation_id, state.clock.now_ms()).await?.unwrap_or_default();
    let Some(window) = windows.iter().find(|w| w.channel_id == channel_id) else {
        return Ok(());
    };
    if window.open {
        return Ok(());
    }
    let others: Vec<&str> = windows.iter().filter(|w| w.open && w.channel_id != channel_id).map(|w| w.channel_id.as_str()).collect();
    let since = match window.closes_at {
        Some(closes_at) => format!("closed at {} ({} hours after the customer's last message)", readable_time(closes_at), window.hours),
        None => "is not open: the customer has not written on this channel".to_string(),
    };
    let instead = if others.is_empty() { String::new() } else { format!(", or reply on {}", others.join(", ")) };
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "window_closed",
        format!("the customer-service window on `{channel_id}` {since}; send an approved template{instead}"),
    ))
}

/// Unix ms as an HTTP date ("Thu, 03 Dec 2026 13:05:18 GMT"), for messages people read.
fn readable_time(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    httpdate::fmt_http_date(at)
}

#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts", params(IdParam),
    responses(
        (status = 200, body = ContactView),
        (status = 400, description = "`id` is not an integer", body = ErrorBody),
        (status = 404, description = "No such contact", body = ErrorBody),
        Unauthorized, Unavailable),
    security(("bearer" = [])))]
pub async fn get_contact(_caller: Principal, State(state): State<AppState>, Id(id): Id) -> Result<Json<ContactView>, ApiError> {
    let contact = state.store.contact(id).await?;
    contact.map(Json).ok_or_else(|| ApiError::not_found("not_found", format!("contact {id} not found")))
}

/// What agents may change about a contact; what is left out stays.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactUpdate {
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub display_name: Option<String>,
    #[schema(max_length = 320, pattern = r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    pub email: Option<String>,
    /// The language the contact reads, as a provider code (`en`, `pt_BR`); template sends must
    /// be in it.
    #[schema(pattern = "^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8}){0,2}$")]
    pub language: Option<String>,
}

#[utoipa::path(patch, path = "/contacts/{id}", tag = "contacts", params(IdParam), request_body = ContactUpdate,
    responses(
        (status = 200, body = ContactView),
        (status = 400, description = "Not a name or an email address", body = ErrorBody),
        (status = 404, description = "No such contact", body = ErrorBody),
        JsonBodyErrors, Unauthorized, Unavailable))]
pub async fn update_contact(
    State(state): State<AppState>,
    Id(id): Id,
    rules::JsonBody(request): rules::JsonBody<ContactUpdate>,
) -> Result<Json<ContactView>, ApiError> {
    let name = match &request.display_name {
        Some(name) if rules::is_blank(name) || name.chars().count() > 256 => return Err(invalid("`display_name` is 1 to 256 characters")),
        other => other.as_deref().map(rules::trim),
    };
    let email = match &request.email {
        Some(email) if !rules::valid_email(email) => return Err(invalid("`email` is not an email address")),
        other => other.as_deref().map(str::to_lowercase),
    };
    if request.language.as_deref().is_some_and(|code| !super::templates::valid_language(code)) {
        return Err(invalid("`language` is a language code such as `en`, `en_US` or `pt_BR`"));
    }
    Ok(Json(state.store.update_contact_with_language(id, name, email.as_deref(), None, request.language.as_deref()).await?))
}

#[utoipa::path(get, path = "/contacts/{id}/timeline", tag = "contacts", params(IdParam, BackPageQuery),
    responses(
        (status = 200, description = "Every message of the contact on every channel, in arrival order (each with its `channel_id`); `next_cursor` pages back", body = Page<MessageView>),
        (status = 400, description = "`id` is not an integer, or `limit` out of range", body = ErrorBody),
        Unauthorized, Unavailable))]
pub async fn contact_timeline(
    caller: Principal,
    State(state): State<AppState>,
    Id(id): Id,
    query: Result<Query<BackPageQuery>, QueryRejection>,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let Query(query) = query?;
    let limit = page_size(query.limit, 100, 500)?;
    Ok(Json(state.store.contact_timeline(caller.viewer(), id, limit, query.before).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(json: &str) -> Result<OutboundContent, String> {
        let parsed: ReplyContent = serde_json::from_str(json).map_err(|e| e.to_string())?;
        parsed.validate().map_err(|e| e.code.to_string())
    }

    #[test]
    fn reply_content_is_validated_like_text_and_refuses_unknown_fields() {
        assert_eq!(content(r#"{"type":"text","text":"hi"}"#), Ok(OutboundContent::Text { text: "hi".into() }));
        assert_eq!(content(r#"{"type":"text","text":"   "}"#), Err("empty_message".into()));
        let unknown = content(r#"{"type":"text","text":"   ","bogus":1}"#).unwrap_err();
        assert!(unknown.contains("unknown field"), "{unknown}");
        let unknown = content(r#"{"type":"media","kind":"image","url":"https://x.test/a.jpg","extra":true}"#).unwrap_err();
        assert!(unknown.contains("unknown field"), "{unknown}");
        assert!(content(r#"{"type":"media","kind":"hologram","url":"https://x.test/a"}"#).is_err());
        assert_eq!(content(r#"{"type":"media","kind":"image","url":"ftp://x.test/a"}"#), Err("invalid_reply".into()));
        assert_eq!(content(r#"{"type":"media","kind":"image","url":"https:///a"}"#), Err("invalid_reply".into()));
        // The document's pattern exactly (schemathesis found a URL with a trailing space that
        // the schema admits and a trim made `https://`): a host must start right after `//`.
        assert_eq!(content(r#"{"type":"media","kind":"image","url":"https:// x.test/a"}"#), Err("invalid_reply".into()));
        assert!(content(r#"{"type":"media","kind":"image","url":"https://x "}"#).is_ok());
        for url in ["https://x ", "http://é/", "https://x.test/a"] {
            assert!(content(&format!(r#"{{"type":"media","kind":"image","url":"{url}"}}"#)).is_ok(), "{url}");
        }
        assert_eq!(content(r#"{"type":"media","kind":"image","url":"https://x.test/a","mime_type":"jpeg"}"#), Err("invalid_reply".into()));
        assert!(content(r#"{"type":"media","kind":"image","url":"https://x.test/a.jpg","mime_type":"image/jpeg"}"#).is_ok());
        assert_eq!(content(r#"{"type":"media","kind":"image","url":"https://x.test/a","mime_type":""}"#), Err("invalid_reply".into()));
        assert_eq!(content(r#"{"type":"template","name":" ","language":"en"}"#), Err("invalid_reply".into()));
        let long = format!(r#"{{"type":"text","text":"{}"}}"#, "a".repeat(MAX_REPLY_CHARS + 1));
        assert_eq!(content(&long), Err("invalid_reply".into()));
    }
}
