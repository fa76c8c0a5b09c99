//! `/api/v1`: the REST API the inbox UI and integrations use.

use super::auth::Agent;
use super::error::ApiError;
use super::{AppState, RequestId};
use crate::model::OutboundContent;
use crate::store::outbox::NewReply;
use crate::store::views::{ContactView, ConversationView, MessageView, Page};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

/// A numeric id from the path; anything else is a JSON `400`.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<i64>::from_request_parts(parts, state).await?;
        Ok(Self(id))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConversationQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ConversationQuery),
    responses((status = 200, body = Page<ConversationView>), (status = 401, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_conversations(
    _agent: Agent,
    State(state): State<AppState>,
    query: Result<Query<ConversationQuery>, QueryRejection>,
) -> Result<Json<Page<ConversationView>>, ApiError> {
    let Query(query) = query?;
    let page = state
        .store
        .list_conversations(query.limit.unwrap_or(50), query.cursor.as_deref())
        .await
        .map_err(|error| match error {
            crate::store::StoreError::Conflict(message) => ApiError::bad_request("invalid_cursor", message),
            other => other.into(),
        })?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    responses((status = 200, body = ConversationView), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_conversation(_agent: Agent, State(state): State<AppState>, Id(id): Id) -> Result<Json<ConversationView>, ApiError> {
    let conversation = state.store.conversation(id).await?;
    conversation.map(Json).ok_or_else(|| ApiError::not_found("not_found", format!("conversation {id} not found")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MessageQuery {
    /// Page size, 1–500 (default 100).
    pub limit: Option<u32>,
    /// Only messages with a smaller id (the previous page's `next_cursor`).
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations", params(MessageQuery),
    responses((status = 200, description = "Messages in arrival order", body = Page<MessageView>), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn conversation_messages(
    _agent: Agent,
    State(state): State<AppState>,
    Id(id): Id,
    query: Result<Query<MessageQuery>, QueryRejection>,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let Query(query) = query?;
    if state.store.conversation(id).await?.is_none() {
        return Err(ApiError::not_found("not_found", format!("conversation {id} not found")));
    }
    Ok(Json(state.store.conversation_messages(id, query.limit.unwrap_or(100), query.before).await?))
}

/// An agent's reply. Give either `text`, or `content` for media and templates.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// The message text (1–32,768 characters, not only whitespace).
    pub text: Option<String>,
    pub content: Option<ReplyContent>,
    /// Send through this channel instead of the conversation's latest one.
    pub channel_id: Option<String>,
    /// Provider id of the message this replies to.
    pub reply_to: Option<String>,
}

/// What to send, when it is more than text. Unknown fields are refused at every level.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReplyContent {
    Text {
        /// 1–32,768 characters, not only whitespace.
        text: String,
    },
    Media {
        kind: ReplyMediaKind,
        /// An absolute `http` or `https` URL the provider fetches the media from (≤ 2,048 bytes).
        url: String,
        caption: Option<String>,
        filename: Option<String>,
        /// e.g. `image/jpeg`.
        mime_type: Option<String>,
    },
    Template {
        /// The approved template's name.
        name: String,
        /// Language code, e.g. `en_US`.
        language: String,
        /// Body parameters, in order.
        #[serde(default)]
        parameters: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyMediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
    File,
}

impl ReplyMediaKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
            Self::Sticker => "sticker",
            Self::File => "file",
        }
    }
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
        Some(text) if text.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn reply_text(field: &str, text: String) -> Result<String, ApiError> {
    if text.trim().is_empty() {
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
                let url = url.trim().to_string();
                let web = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
                if url.len() > 2048 || !web.is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/')) {
                    return Err(invalid("`content.url` must be an absolute http(s) URL of at most 2048 bytes"));
                }
                let mime_type = bounded("content.mime_type", mime_type, 255)?;
                if mime_type.as_deref().is_some_and(|mime| !mime.contains('/') || mime.contains(char::is_whitespace)) {
                    return Err(invalid("`content.mime_type` must look like `type/subtype`"));
                }
                OutboundContent::Media {
                    kind: kind.as_str().to_string(),
                    url,
                    caption: bounded("content.caption", caption, 4096)?,
                    filename: bounded("content.filename", filename, 255)?,
                    mime_type,
                }
            }
            Self::Template { name, language, parameters } => {
                if name.trim().is_empty() || name.len() > 512 {
                    return Err(invalid("`content.name` must be a template name of 1–512 bytes"));
                }
                if language.trim().is_empty() || language.len() > 32 {
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

#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations", request_body = ReplyRequest,
    responses(
        (status = 202, description = "Accepted into the outbox", body = MessageView),
        (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody),
        (status = 409, description = "The contact cannot be reached on that channel, or opted out", body = super::error::ErrorBody),
        (status = 422, description = "The channel does not support this content", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn reply(
    agent: Agent,
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Id(id): Id,
    body: Result<Json<ReplyRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let Json(request) = body?;
    let content = match (request.text, request.content) {
        (Some(text), None) => OutboundContent::Text { text: reply_text("text", text)? },
        (None, Some(content)) => content.validate()?,
        _ => return Err(invalid("give exactly one of `text` or `content`")),
    };
    let reply_to = bounded("reply_to", request.reply_to, 512)?;
    if request.channel_id.as_ref().is_some_and(|id| id.len() > 64) {
        return Err(ApiError::bad_request("unknown_channel", "`channel_id` names no configured channel"));
    }
    let Some(conversation) = state.store.conversation(id).await? else {
        return Err(ApiError::not_found("not_found", format!("conversation {id} not found")));
    };
    let channel_id = request.channel_id.unwrap_or(conversation.channel_id);
    let Some(channel) = state.channels.get(&channel_id) else {
        return Err(ApiError::bad_request("unknown_channel", format!("no channel `{channel_id}` is configured")));
    };
    // Decide from what the plugin declares, never from the channel's name.
    let needed = match &content {
        OutboundContent::Text { .. } => "text",
        OutboundContent::Media { .. } => "media",
        OutboundContent::Template { .. } => "templates",
    };
    if !channel.info().capabilities.iter().any(|capability| capability == needed) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_content",
            format!("channel `{channel_id}` does not support {needed}"),
        ));
    }
    let message = state
        .store
        .queue_reply(&NewReply {
            conversation_id: id,
            channel_id: Some(channel_id),
            content,
            reply_to,
            author: agent.name,
            request_id: Some(request_id.0),
        })
        .await?;
    state.outbox.wake();
    Ok((StatusCode::ACCEPTED, Json(message)))
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts",
    responses((status = 200, body = ContactView), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_contact(_agent: Agent, State(state): State<AppState>, Id(id): Id) -> Result<Json<ContactView>, ApiError> {
    let contact = state.store.contact(id).await?;
    contact.map(Json).ok_or_else(|| ApiError::not_found("not_found", format!("contact {id} not found")))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    pub id: String,
    pub plugin: crate::model::PluginInfo,
    /// Where to point the provider's webhook.
    pub webhook_url: String,
}

#[utoipa::path(get, path = "/api/v1/channels", tag = "channels",
    responses((status = 200, body = Vec<ChannelView>)), security(("bearer" = [])))]
pub async fn list_channels(_agent: Agent, State(state): State<AppState>) -> Json<Vec<ChannelView>> {
    let mut channels: Vec<ChannelView> = state
        .channels
        .iter()
        .map(|(id, channel)| ChannelView {
            id: id.clone(),
            plugin: channel.info(),
            webhook_url: format!("{}/webhooks/{id}", state.server.public_url.trim_end_matches('/')),
        })
        .collect();
    channels.sort_by(|a, b| a.id.cmp(&b.id));
    Json(channels)
}
