//! `GET`/`POST /webhooks/{channel_id}`: provider webhooks in, 2xx out only once stored.
//!
//! This is a transport: find the channel → read the body (under the channel's size cap and
//! the server's body deadline) → the inbound pipeline ([`crate::inbound`]: plugin `verify` and
//! `parse`, identities, group-commit store) → turn its outcome into an HTTP answer. The channel
//! is looked up before a byte of the body is read, so a request for an unknown channel, or
//! one over the channel's cap by its `Content-Length`, costs no buffering. Every refusal is a
//! JSON 4xx. When something on our side fails (a plugin trap, the database), the answer is `503` with
//! `Retry-After`, so the provider redelivers and nothing it believes delivered is lost.

use super::error::{ApiError, ErrorBody};
use super::listener::read_body;
use super::{AppState, RequestId};
use crate::inbound::{self, InboundError, Received};
use crate::plugins::activity::WebhookResult;
use crate::plugins::{ChannelPlugin, PluginResponse, RejectionKind, WebhookRequest};
use crate::telemetry;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

#[utoipa::path(
    post,
    path = "/webhooks/{channel_id}",
    tag = "webhooks",
    params(("channel_id" = String, Path, description = "The channel instance's id in config.toml")),
    request_body(content = RawPayload, description = "The provider's payload, exactly as sent", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Verified and durably stored; the body is the provider's expected answer (TwiML for Twilio) or a JSON summary",
            content((serde_json::Value = "application/json"), (String = "text/xml"))),
        (status = 400, description = "Malformed payload, or nothing in it could be read", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature", body = ErrorBody),
        (status = 404, description = "Unknown channel", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 413, description = "Body over the channel's size cap", body = ErrorBody),
        (status = 503, description = "Temporarily unable to store; the provider should retry", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds to wait"))),
    )
)]
pub async fn receive(
    state: State<AppState>,
    request_id: Extension<RequestId>,
    channel_id: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    webhook(state, request_id, channel_id, method, uri, headers, body).await
}

/// A webhook body as the OpenAPI document describes it: bytes, whatever the provider sends.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct RawPayload(Vec<u8>);

/// The provider's subscription handshake (Meta's `hub.challenge`), answered by the plugin.
#[utoipa::path(
    get,
    path = "/webhooks/{channel_id}",
    tag = "webhooks",
    params(
        ("channel_id" = String, Path, description = "The channel instance's id in config.toml"),
        ("hub.mode" = Option<String>, Query, description = "Meta: `subscribe`"),
        ("hub.verify_token" = Option<String>, Query, description = "Meta: the channel's `verify_token`"),
        ("hub.challenge" = Option<String>, Query, description = "Meta: echoed back when the token matches"),
    ),
    responses(
        (status = 200, description = "Handshake answered: the challenge, as text", content_type = "text/plain", body = String),
        (status = 400, description = "The request could not be read", body = ErrorBody),
        (status = 403, description = "Handshake token mismatch, or a channel whose provider has no GET handshake", body = ErrorBody),
        (status = 404, description = "Unknown channel", body = ErrorBody),
        (status = 408, description = "A request body did not arrive in time", body = ErrorBody),
        (status = 413, description = "A request body over the channel's size cap", body = ErrorBody),
        (status = 503, description = "The plugin failed; retry later", body = ErrorBody),
    )
)]
pub async fn handshake(
    state: State<AppState>,
    request_id: Extension<RequestId>,
    channel_id: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    webhook(state, request_id, channel_id, method, uri, headers, body).await
}

#[allow(clippy::too_many_arguments)]
async fn webhook(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    channel_id: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let Path(channel_id) = channel_id?;
    let Some(channel) = state.channels.get(&channel_id).cloned() else {
        // Not labelled by the unknown id: arbitrary paths must not create metric series.
        metrics::counter!(telemetry::WEBHOOKS_REJECTED, "channel" => "", "reason" => "unknown_channel").increment(1);
        return Err(ApiError::not_found("unknown_channel", format!("no channel `{channel_id}` is configured")));
    };
    if state.webchat.get(&channel_id).is_some() {
        // The website widget's channel: visitors reach it through /api/v1/webchat, never here.
        metrics::counter!(telemetry::WEBHOOKS_REJECTED, "channel" => channel_id.clone(), "reason" => "no_webhooks").increment(1);
        return Err(ApiError::not_found("no_webhooks", format!("channel `{channel_id}` is the website chat: it takes no webhooks")));
    }
    metrics::counter!(telemetry::WEBHOOKS_RECEIVED, "channel" => channel_id.clone()).increment(1);
    let result = handle(&state, &channel_id, &channel, &request_id, method, uri, headers, body).await;
    match &result {
        Ok(_) => metrics::histogram!(telemetry::INGEST_LATENCY, "channel" => channel_id.clone()).record(started.elapsed()),
        Err(error) => {
            metrics::counter!(telemetry::WEBHOOKS_REJECTED, "channel" => channel_id.clone(), "reason" => error.code).increment(1)
        }
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    state: &AppState,
    channel_id: &str,
    channel: &ChannelPlugin,
    request_id: &RequestId,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = channel.max_body_bytes.unwrap_or(state.server.max_body_bytes);
    let content_length = headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
    let body: Bytes = match read_body(body, content_length, limit).await {
        Ok(body) => body,
        Err(error) => {
            // Refused before the pipeline (too big, too slow): still the channel's traffic.
            channel.activity.record_webhook(crate::clock::now_ms(), WebhookResult::Refused);
            return Err(error.into());
        }
    };
    let path_and_query = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or(uri.path());
    let request = WebhookRequest {
        method: method.as_str().to_string(),
        url: format!("{}{}", state.server.public_url.trim_end_matches('/'), path_and_query),
        query: uri
            .query()
            .map(|query| form_urlencoded::parse(query.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
        headers: headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
            .collect(),
        body: body.to_vec(),
    };
    match inbound::receive(&state.store, channel, &request_id.0, request, body).await {
        Ok(Received::Answered(response)) => Ok(plugin_response(response)),
        Ok(Received::Stored { events, report, response }) => Ok(match response {
            Some(response) => plugin_response(response),
            None => Json(serde_json::json!({
                "status": "stored",
                "events": events,
                "new_messages": report.new_messages,
                "duplicates": report.duplicates,
            }))
            .into_response(),
        }),
        Err(InboundError::Refused(rejection)) => {
            let status = match rejection.kind {
                RejectionKind::Unauthorized => StatusCode::UNAUTHORIZED,
                RejectionKind::Forbidden => StatusCode::FORBIDDEN,
                RejectionKind::BadRequest => StatusCode::BAD_REQUEST,
            };
            Err(ApiError::new(status, inbound::rejection_code(rejection.kind), rejection.message))
        }
        Err(InboundError::Plugin(_)) => {
            Err(ApiError::unavailable("plugin_failed", format!("channel `{channel_id}` could not process the webhook; retry later")))
        }
        Err(InboundError::Store(error)) => Err(error.into()),
        // Only the mail and chat pipelines keep media or ask for their interfaces.
        Err(InboundError::Media(error)) => Err(ApiError::unavailable("media_unavailable", format!("storing media failed: {error}; retry later"))),
        Err(InboundError::NotAMailChannel(channel) | InboundError::NotAChatChannel(channel)) => {
            Err(ApiError::new(StatusCode::CONFLICT, "not_supported", format!("channel `{channel}` takes no such messages")))
        }
    }
}

/// The plugin's own answer (a handshake echo, TwiML). Headers that do not parse are dropped.
fn plugin_response(response: PluginResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    let mut out = (status, response.body).into_response();
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            out.headers_mut().insert(name, value);
        }
    }
    out
}
