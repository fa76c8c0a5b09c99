//! The web chat widget's endpoints under `/api/v1/webchat/{channel_id}/`: sessions, history,
//! uploads, media and the socket's upgrade. Visitors are not agents: these routes are public
//! as far as roles go, and each checks the visitor's session token itself (`Authorization:
//! Bearer <token>`, or `?token=` where a browser cannot set a header: `<img>` and WebSocket).
//!
//! The origin allowlist and CORS for all of them live in [`cors`], which runs before routing.

use super::error::{ApiError, ErrorBody, JsonBodyErrors, Unavailable};
use super::{rules, AppState};
use crate::webchat::session::{IdentityError, Session};
use crate::webchat::{VisitorMessage, WebchatChannel};
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

/// Messages of history a widget loads at most.
const HISTORY_LIMIT: u32 = 200;
const PREFIX: &str = "/api/v1/webchat/";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ChannelPath {
    /// A web chat channel instance's id (one with `[channels.webchat]`).
    pub channel_id: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MediaPath {
    pub channel_id: String,
    /// The file's SHA-256, 64 lowercase hex digits.
    #[param(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The visitor's session token, where no `Authorization` header can be sent.
    pub token: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// The token the widget kept from an earlier session; the same visitor comes back.
    pub token: Option<String>,
    /// The site's logged-in user: an email address or an international phone number.
    #[schema(max_length = 320)]
    pub identifier: Option<String>,
    /// Hex HMAC-SHA256 of `identifier` under the instance's `widget_secret`, computed by the site's server.
    pub identifier_hash: Option<String>,
    /// The logged-in user's name (its first 200 characters are kept).
    pub name: Option<String>,
    /// The widget's language (`es`, `pt-BR`); anything that is not a language tag is ignored.
    pub locale: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WidgetSettings {
    /// Whether an agent is online now.
    pub online: bool,
    /// When visitors can expect an answer while nobody is online.
    pub reply_time: Option<String>,
    pub max_message_chars: usize,
    pub max_upload_bytes: usize,
    pub upload_types: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionResponse {
    /// Keep it (the widget uses `localStorage`) and send it back next time.
    pub token: String,
    pub visitor_id: String,
    /// Whether the site vouched for the visitor's identity.
    pub identified: bool,
    /// The address the visitor left to be answered at, if any.
    pub email: Option<String>,
    pub settings: WidgetSettings,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    /// Oldest first.
    pub messages: Vec<VisitorMessage>,
    /// Open the socket with `after=<cursor>`: it sends what happened since this history was read.
    pub cursor: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Upload {
    /// Name it in a message's attachment as `upload`.
    pub upload: String,
    pub filename: Option<String>,
    pub mime_type: String,
    pub size: usize,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name.
    #[param(max_length = 255)]
    pub filename: Option<String>,
    pub token: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SocketQuery {
    pub token: Option<String>,
    /// The highest `cursor` seen: events after it are sent first.
    pub after: Option<i64>,
}

/// The web chat channel `id`, with one request from `peer` counted against its per-address
/// limit.
fn channel(state: &AppState, id: &str, peer: SocketAddr) -> Result<Arc<WebchatChannel>, ApiError> {
    let channel = state.webchat.get(id).cloned().ok_or_else(|| ApiError::not_found("unknown_channel", format!("no web chat channel `{id}`")))?;
    channel.per_ip.check(&peer.ip()).map_err(rate_limited)?;
    Ok(channel)
}

fn rate_limited(wait: std::time::Duration) -> ApiError {
    let seconds = wait.as_secs().max(1);
    ApiError {
        retry_after: Some(u32::try_from(seconds).unwrap_or(u32::MAX)),
        ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", format!("too many requests: try again in {seconds} s"))
    }
}

/// The visitor's session, from `Authorization: Bearer` or `?token=`.
async fn visitor(state: &AppState, channel: &WebchatChannel, headers: &HeaderMap, query_token: Option<&str>) -> Result<Session, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .or(query_token)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "missing_token", "send the visitor's session token"))?;
    channel
        .session(&state.store, token)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "the session token is not valid: start a new session"))
}

#[utoipa::path(post, path = "/webchat/{channel_id}/sessions", tag = "webchat", params(ChannelPath), request_body = SessionRequest,
    responses(
        (status = 200, description = "The visitor's session: the one the token names, or a new one", body = SessionResponse),
        (status = 400, description = "A signed identifier that is no email address or phone number (`identity_invalid`)", body = ErrorBody),
        (status = 403, description = "`identifier` without `identifier_hash` (`identity_hash_missing`), a wrong hash (`identity_forged`), an identifier where the instance has no `widget_secret` (`identity_not_configured`), or an origin not on the allowlist", body = ErrorBody),
        (status = 404, description = "No such web chat channel", body = ErrorBody),
        (status = 429, description = "Too many requests from this address", body = ErrorBody),
        JsonBodyErrors, Unavailable))]
pub async fn create_session(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<ChannelPath>, PathRejection>,
    rules::JsonBody(request): rules::JsonBody<SessionRequest>,
) -> Result<Json<SessionResponse>, ApiError> {
    let Path(ChannelPath { channel_id }) = path?;
    let channel = channel(&state, &channel_id, peer)?;
    let now = crate::clock::now_ms();
    let kept = match request.token.as_deref() {
        Some(token) => channel.session(&state.store, token).await?,
        None => None,
    };
    let name = request.name.map(|name| name.trim().chars().take(200).collect::<String>()).filter(|name| !name.is_empty());
    let session = match request.identifier.as_deref().map(str::trim).filter(|id| !id.is_empty()) {
        Some(identifier) => {
            let identity = channel.verify_identifier(identifier, request.identifier_hash.as_deref()).map_err(|error| {
                tracing::info!(channel = channel.id, code = error.code(), "web chat identity refused");
                // A missing proof is refused like a wrong one; only an identifier the site did
                // sign but that is no email or phone is the site's malformed request.
                let status = match error {
                    IdentityError::Invalid => StatusCode::BAD_REQUEST,
                    IdentityError::HashMissing | IdentityError::Forged | IdentityError::NotConfigured => StatusCode::FORBIDDEN,
                };
                ApiError::new(status, error.code(), error.to_string())
            })?;
            Session::identified(&channel.id, identity, name, now)
        }
        // The page no longer vouches for anyone: an identified token is not enough by itself,
        // or a shared computer would keep the last user's chat after they logged out.
        None => match kept.filter(|session| session.identifier.is_none()) {
            Some(session) => Session { issued_ms: now, ..session },
            None => Session::anonymous(&channel.id, now).map_err(|_| ApiError::unavailable("no_randomness", "cannot make a session now"))?,
        },
    };
    // A language tag: letters, digits and `-`, as BCP 47 has them; anything else is dropped.
    let locale = request.locale.filter(|tag| !tag.is_empty() && tag.len() <= 35 && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let session = Session { locale: locale.or(session.locale), ..session };
    let email = state.store.visitor_email(&channel.id, &session.visitor_id).await?;
    let settings = WidgetSettings {
        online: state.store.agents_online().await?,
        reply_time: channel.config.reply_time.clone(),
        max_message_chars: channel.config.max_message_chars,
        max_upload_bytes: upload_cap(&state, &channel),
        upload_types: channel.config.upload_types.clone(),
    };
    let key = channel.signing_key(&state.store).await?;
    Ok(Json(SessionResponse { token: session.token(key), identified: session.identifier.is_some(), visitor_id: session.visitor_id, email, settings }))
}

fn upload_cap(state: &AppState, channel: &WebchatChannel) -> usize {
    channel.config.max_upload_bytes.min(state.media.max_file_bytes())
}

#[utoipa::path(get, path = "/webchat/{channel_id}/messages", tag = "webchat", params(ChannelPath, TokenQuery),
    responses(
        (status = 200, description = "The visitor's messages on this channel and the replies that reached them", body = History),
        (status = 400, description = "A query parameter that does not parse", body = ErrorBody),
        (status = 401, description = "Missing or invalid session token", body = ErrorBody),
        (status = 404, description = "No such web chat channel", body = ErrorBody),
        (status = 429, description = "Too many requests from this address", body = ErrorBody),
        Unavailable))]
pub async fn history(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<ChannelPath>, PathRejection>,
    query: Result<Query<TokenQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<History>, ApiError> {
    let Path(ChannelPath { channel_id }) = path?;
    let Query(query) = query?;
    let channel = channel(&state, &channel_id, peer)?;
    let session = visitor(&state, &channel, &headers, query.token.as_deref()).await?;
    // Read the position first: anything committed after it reaches the socket, so nothing
    // falls between the history and the stream (a message in both is the same `id`).
    let cursor = state.store.latest_live_event_id().await?;
    let messages = state.store.visitor_messages(&channel.id, &session.visitor_id, HISTORY_LIMIT).await?;
    let messages = messages.iter().filter_map(|message| VisitorMessage::of(message, &channel.id, &session.visitor_id)).collect();
    Ok(Json(History { messages, cursor }))
}

#[utoipa::path(post, path = "/webchat/{channel_id}/uploads", tag = "webchat", params(ChannelPath, UploadQuery),
    request_body(content = Vec<u8>, description = "The file's bytes, with its `Content-Type` (the served document lists the types the channels take)", content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Kept in the media store; name it in a message", body = Upload),
        (status = 400, description = "A query parameter that does not parse", body = ErrorBody),
        (status = 401, description = "Missing or invalid session token", body = ErrorBody),
        (status = 404, description = "No such web chat channel", body = ErrorBody),
        (status = 413, description = "Over the instance's upload size limit", body = ErrorBody),
        (status = 415, description = "A type visitors may not upload", body = ErrorBody),
        (status = 429, description = "Too many requests from this address", body = ErrorBody),
        Unavailable))]
pub async fn upload(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<ChannelPath>, PathRejection>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Upload>), ApiError> {
    let Path(ChannelPath { channel_id }) = path?;
    let Query(query) = query?;
    let channel = channel(&state, &channel_id, peer)?;
    visitor(&state, &channel, &headers, query.token.as_deref()).await?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let mime_type = channel.upload_type(content_type).map_err(|refused| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "upload_type_not_allowed",
            format!("files of type `{refused}` cannot be sent here; allowed: {}", channel.config.upload_types.join(", ")),
        )
    })?;
    let cap = upload_cap(&state, &channel);
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large", format!("the file is larger than {} KB", cap / 1024));
    let body = body.map_err(|rejection| if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large() } else { ApiError::from(axum::extract::rejection::JsonRejection::BytesRejection(rejection)) })?;
    if body.len() > cap {
        return Err(too_large());
    }
    let size = body.len();
    let sha256 = state.media.put(body).await.map_err(|error| ApiError::unavailable("media_unavailable", format!("keeping the file failed: {error}")))?;
    let filename = crate::webchat::clean_filename(query.filename);
    Ok((StatusCode::CREATED, Json(Upload { upload: sha256, filename, mime_type, size })))
}

#[utoipa::path(get, path = "/webchat/{channel_id}/media/{sha256}", tag = "webchat", params(MediaPath, TokenQuery),
    responses(
        (status = 200, description = "The file, if one of the visitor's messages names it", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "`sha256` is not a SHA-256, or a query parameter that does not parse", body = ErrorBody),
        (status = 401, description = "Missing or invalid session token", body = ErrorBody),
        (status = 404, description = "No such channel, or no message of the visitor names this file", body = ErrorBody),
        (status = 429, description = "Too many requests from this address", body = ErrorBody),
        Unavailable))]
pub async fn media(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<MediaPath>, PathRejection>,
    query: Result<Query<TokenQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(MediaPath { channel_id, sha256 }) = path?;
    let Query(query) = query?;
    let channel = channel(&state, &channel_id, peer)?;
    if !crate::media::is_sha256(&sha256) {
        return Err(ApiError::bad_request("invalid_path", "`sha256` must be 64 lowercase hex digits"));
    }
    let session = visitor(&state, &channel, &headers, query.token.as_deref()).await?;
    let stored = state.store.visitor_media(&channel.id, &session.visitor_id, &sha256).await?;
    super::media::serve_stored(&state.media, &sha256, stored, || ApiError::not_found("not_found", "no such file in this chat")).await
}

/// `GET /api/v1/webchat/{channel_id}/socket?token=&after=`: the widget's WebSocket (the protocol
/// is in `docs/channels/webchat.md`). Not in the OpenAPI document, which cannot describe a
/// socket: a plain GET is answered `426` (JSON), an origin off the allowlist `403` (by [`cors`]),
/// an invalid token is closed with code 4401 after the upgrade.
pub async fn socket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<ChannelPath>, PathRejection>,
    query: Result<Query<SocketQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Path(ChannelPath { channel_id }) = path?;
    let Query(query) = query?;
    let channel = channel(&state, &channel_id, peer)?;
    let upgrade = upgrade.map_err(|_| ApiError::new(StatusCode::UPGRADE_REQUIRED, "websocket_required", "connect with a WebSocket"))?;
    let session = match query.token.as_deref() {
        Some(token) => channel.session(&state.store, token).await?,
        None => None,
    };
    let context = crate::webchat::socket::Context {
        store: state.store.clone(),
        media: state.media.clone(),
        live: state.live.clone(),
        channel,
        peer,
        shutdown: state.shutdown.clone(),
        max_lifetime: std::time::Duration::from_secs(state.server.live_stream_max_secs),
    };
    Ok(upgrade
        .max_message_size(crate::webchat::socket::MAX_FRAME_BYTES)
        .on_upgrade(move |socket| crate::webchat::socket::serve(socket, context, session, query.after)))
}

/// The origin allowlist and CORS, for every `/api/v1/webchat/{channel_id}/…` request: a page
/// whose origin the instance does not allow is refused (`403`), preflights are answered here,
/// and allowed origins get `Access-Control-Allow-Origin`. Requests without `Origin` (not from a
/// browser page) pass: the allowlist keeps other sites' pages out, not other programs. It runs
/// on every request, so it holds only the web chat channels, not the whole state, and any
/// other path goes straight on.
pub async fn cors(State(webchat): State<Arc<crate::webchat::Webchat>>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let Some(rest) = request.uri().path().strip_prefix(PREFIX) else { return next.run(request).await };
    let channel_id = rest.split('/').next().unwrap_or_default().to_string();
    let Some(origin) = request.headers().get(header::ORIGIN).and_then(|value| value.to_str().ok()).map(str::to_string) else {
        return next.run(request).await;
    };
    let Some(channel) = webchat.get(&channel_id).cloned() else { return next.run(request).await };
    let host = request.headers().get(header::HOST).and_then(|value| value.to_str().ok());
    if !channel.allows_origin(&origin, host) {
        tracing::debug!(channel = channel.id, origin, "web chat request from an origin not on the allowlist");
        return ApiError::new(StatusCode::FORBIDDEN, "origin_not_allowed", format!("pages from {origin} may not use this chat")).into_response();
    }
    let allow_origin = HeaderValue::from_str(&origin).unwrap_or(HeaderValue::from_static("null"));
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        return response;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after"));
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}
