//! Bearer-token authentication for `/api/v1`.
//!
//! The bootstrap admin token comes from `SWITCHBOARD_ADMIN_TOKEN`. Browsers' `EventSource`
//! cannot set headers, so the live stream also accepts `?access_token=`.

use super::error::ApiError;
use super::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Agent {
    pub name: String,
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        let Some(expected) = &state.admin_token else {
            return Err(unauthorized("no API token is configured on this server (set SWITCHBOARD_ADMIN_TOKEN)"));
        };
        let from_header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let from_query = || {
            parts.uri.query().and_then(|query| {
                form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == "access_token").map(|(_, value)| value.into_owned())
            })
        };
        let given = match from_header {
            Some(token) => token.trim().to_string(),
            None => from_query().ok_or_else(|| unauthorized("missing bearer token"))?,
        };
        // Compare digests: equal length, constant time, and no length leak.
        let matches: bool = Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(expected.expose().as_bytes())).into();
        if matches {
            Ok(Agent { name: "admin".into() })
        } else {
            Err(unauthorized("invalid bearer token"))
        }
    }
}
