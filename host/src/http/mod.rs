//! HTTP: provider webhooks in, the REST API and live stream out, health checks.

mod agents;
mod api;
mod auth;
mod canned;
mod delivery;
mod channels;
mod error;
mod events;
mod health;
mod idempotency;
mod inbox;
mod listener;
mod media;
mod merges;
mod openapi;
mod plugins;
mod presence;
mod routing;
mod rules;
mod saved_views;
mod templates;
mod webchat;
mod webhooks;
mod workflow;

pub use error::ApiError;
pub use health::MetricsAccess;
pub use listener::serve;
pub use openapi::document as openapi_document;

use crate::config::{Secret, ServerConfig};
use crate::outbox::OutboxSignal;
use crate::plugins::Channels;
use crate::realtime::LiveFeed;
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Attachments kept by content hash (email), served by `GET /conversations/{id}/media/{sha256}`.
    pub media: crate::media::MediaStore,
    pub channels: Arc<Channels>,
    pub live: LiveFeed,
    pub outbox: OutboxSignal,
    /// Each channel's delivery settings (its window, for the reply API) and pacing.
    pub lanes: Arc<crate::outbox::pacing::Lanes>,
    /// Wakes the routing stage when agents' capacity may have changed.
    pub routing: crate::routing::RoutingSignal,
    /// The routing chain, for the admin API.
    pub policies: Arc<crate::routing::Policies>,
    pub server: Arc<ServerConfig>,
    pub admin_token: Option<Arc<Secret>>,
    /// Turns true when the gateway shuts down; long-lived responses (live streams) end then.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub metrics: health::MetricsAccess,
    /// Whether `/metrics` is served by this router (not when `metrics.listen` moves it).
    pub metrics_here: bool,
    pub auth: Arc<crate::config::AuthConfig>,
    /// Failed logins per client address.
    pub login_limiter: Arc<crate::auth::limiter::LoginLimiter>,
    /// Presence timings.
    pub workflow: Arc<crate::config::WorkflowConfig>,
    /// The time presence heartbeats are stamped with (the sweep reads the same clock).
    pub clock: Arc<dyn crate::clock::Clock>,
    /// The web chat channels: sessions, limits, the widget's socket.
    pub webchat: Arc<crate::webchat::Webchat>,
}

/// The router of the separate metrics listener (`metrics.listen`): `/metrics` only.
pub fn metrics_router(access: health::MetricsAccess) -> Router {
    Router::new()
        .route("/metrics", get(health::metrics))
        .fallback(|| async { ApiError::not_found("not_found", "only /metrics is served here") })
        .with_state(access)
}

/// The id that follows one request through logs (from `x-request-id`, or assigned here).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub fn router(state: AppState) -> Router {
    let max_body = state.server.max_body_bytes;
    let body_timeout = std::time::Duration::from_millis(state.server.body_read_timeout_ms);
    let (routes, document) = openapi::routes(state.metrics_here).split_for_parts();
    let channel_ids: Vec<String> = state.channels.iter().map(|(id, _)| id.clone()).collect();
    // Rendered once: the document only changes with the configuration.
    let webchat = state.webchat.upload_types();
    let document = openapi::finish(document, &channel_ids, &webchat);
    let roles = Arc::new(auth::RouteAuth::from_document(&document));
    let document = bytes::Bytes::from(document.to_string());
    routes
        // Runs after routing, for every documented route: the role each one declared.
        .route_layer(axum::middleware::from_fn_with_state((state.clone(), roles), auth::enforce))
        .route(
            "/api/v1/openapi.json",
            get(move || std::future::ready(([(axum::http::header::CONTENT_TYPE, "application/json")], document.clone()))),
        )
        // The web chat widget's socket: a WebSocket, which the document cannot describe.
        .route("/api/v1/webchat/{channel_id}/socket", get(webchat::socket))
        .route("/api/v1/{*rest}", axum::routing::any(|| async { ApiError::not_found("no_such_endpoint", "no such API endpoint") }))
        // The agent inbox (not part of the API document: it is a client of the API).
        .route("/", get(inbox::index))
        .route("/assets/{*path}", get(inbox::asset))
        // The web chat widget and its demo (not API: a script and a page for browsers).
        .route("/widget/v1.js", get(crate::webchat::assets::widget))
        .route("/demo/webchat", get(crate::webchat::assets::demo))
        .fallback(|| async { ApiError::not_found("not_found", "no such page") })
        .method_not_allowed_fallback(|| async { ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed here") })
        .layer(axum::middleware::from_fn_with_state(state.webchat.clone(), webchat::cors))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(move |request, next| listener::with_body_deadline(body_timeout, request, next)))
        .layer(axum::middleware::from_fn(attach_request_id))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<axum::body::Body>| {
            let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
            // The path is logged, never the query (it may carry tokens) or the body.
            tracing::info_span!("request", method = %request.method(), path = request.uri().path(), request_id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(SequentialRequestId::default()))
        .with_state(state)
}

/// Make the request id available to handlers as an extension.
async fn attach_request_id(mut request: Request<axum::body::Body>, next: axum::middleware::Next) -> axum::response::Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    request.extensions_mut().insert(RequestId(id));
    next.run(request).await
}

/// Request ids unique within this process run: a per-process prefix plus a counter (cheaper
/// than a UUID and just as useful for following one request through the logs).
#[derive(Clone, Default)]
struct SequentialRequestId {
    counter: Arc<AtomicU64>,
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<tower_http::request_id::RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let value = format!("{:x}-{n}", std::process::id());
        HeaderValue::from_str(&value).ok().map(tower_http::request_id::RequestId::new)
    }
}
