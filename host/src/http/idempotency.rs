//! The `Idempotency-Key` request header (IETF draft `draft-ietf-httpapi-idempotency-key-header`):
//! a client that retries a POST after a dropped connection sends the same key and gets the
//! first request's result instead of a second message. Keys are stored per caller
//! ([`crate::store::idempotency`]).

use super::error::ApiError;
use crate::auth::Principal;
use crate::store::idempotency::IdempotencyKey;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

/// The response header set when the answer is a replay of the first request's.
pub const REPLAYED: &str = "idempotent-replayed";

/// The longest key accepted (a UUID is 36; Stripe allows 255).
const MAX_KEY_LEN: usize = 255;

/// The header, as the OpenAPI document declares it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyHeader {
    /// A key of your choice (a UUID, say; 1–255 visible ASCII characters) that makes a retried
    /// POST safe: the same key with the same request within 24 hours answers with the message
    /// the first request queued (header `Idempotent-Replayed: true`) and queues nothing new;
    /// the same key with a different request is `409 idempotency_key_reused`.
    #[param(rename = "Idempotency-Key", nullable = false, pattern = "^[!-~]{1,255}$", min_length = 1, max_length = 255)]
    idempotency_key: Option<String>,
}

/// The key a request carried, if any, checked for shape.
pub struct ClientKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let key = value
            .to_str()
            .ok()
            .filter(|key| (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::bad_request("invalid_idempotency_key", format!("`Idempotency-Key` must be 1–{MAX_KEY_LEN} visible ASCII characters"))
            })?;
        Ok(Self(Some(key.to_string())))
    }
}

impl ClientKey {
    /// The stored form of the key: the caller's own, with a digest of `request` (every part
    /// of the request that decides what is sent, in a fixed order).
    pub fn for_request(&self, caller: &Principal, request: &[&str]) -> Option<IdempotencyKey> {
        let key = self.0.as_ref()?;
        let scope = match caller.agent_id() {
            Some(id) => format!("agent:{id}"),
            None => "admin".to_string(),
        };
        let mut digest = Sha256::new();
        for part in request {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
        Some(IdempotencyKey { scope, key: key.clone(), request_hash: hex::encode(digest.finalize()) })
    }
}

/// The error for a key reused with a different request: `409`, the key's stored state conflicts
/// with the request. (The IETF draft suggests `422`; `409` is what generic clients and API
/// checkers treat as "valid request, conflicting state", which is what this is.)
pub fn reused(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "idempotency_key_reused", message)
}

pub fn replayed_header() -> (&'static str, HeaderValue) {
    (REPLAYED, HeaderValue::from_static("true"))
}
