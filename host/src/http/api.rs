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
    pub text: Option<String>,
    pub content: Option<OutboundContent>,
    /// Send through this channel instead of the conversation's latest one.
    pub channel_id: Option<String>,
    /// Provider id of the message this replies to.
    pub reply_to: Option<String>,
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
        (Some(text), None) if !text.trim().is_empty() => OutboundContent::Text { text },
        (None, Some(content)) => content,
        (Some(_), None) => return Err(ApiError::bad_request("empty_message", "`text` must not be empty")),
        _ => return Err(ApiError::bad_request("invalid_reply", "give exactly one of `text` or `content`")),
    };
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
            reply_to: request.reply_to,
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
