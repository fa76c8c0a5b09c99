//! `/healthz` (the process is up) and `/readyz` (it can take traffic: the database answers).

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is alive", body = Value)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain"),
        (status = 401, description = "`metrics.token` is set and the request does not carry it", body = super::error::ErrorBody)),
    security((), ("metrics" = [])))]
pub async fn metrics(
    State(access): State<MetricsAccess>,
    headers: axum::http::HeaderMap,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), super::ApiError> {
    if let Some(expected) = &access.token {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let matches = given.is_some_and(|token| {
            use sha2::Digest;
            use subtle::ConstantTimeEq;
            bool::from(sha2::Sha256::digest(token).ct_eq(&sha2::Sha256::digest(expected.expose())))
        });
        if !matches {
            return Err(super::ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "/metrics needs the metrics bearer token"));
        }
    }
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::telemetry::handle().render()))
}

/// Who may read `/metrics`.
#[derive(Clone, Default)]
pub struct MetricsAccess {
    pub token: Option<std::sync::Arc<crate::config::Secret>>,
}

impl axum::extract::FromRef<AppState> for MetricsAccess {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic", body = Value),
        (status = 503, description = "The database does not answer", body = Value)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "channels": state.channels.iter().count(),
                "database": state.store.backend().name(),
                // Whether this node runs the cluster-wide background work (always, on SQLite).
                "leader": state.store.leadership().is_leader(),
            })),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "reason": "database",
                    "error": { "code": "database_unavailable", "message": "the database does not answer" },
                })),
            )
        }
    }
}
