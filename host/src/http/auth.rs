//! Bearer-token authentication for `/api/v1`.
//!
//! The bootstrap admin token comes from `SWITCHBOARD_ADMIN_TOKEN`, sent as
//! `Authorization: Bearer <token>` (the scheme in any case, as RFC 7235 says). Tokens in URLs
//! end up in proxy logs and browser history, so `?access_token=` is accepted on the live
//! stream only ([`StreamAgent`]), where browsers' `EventSource` cannot set headers.

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

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// The token of an `Authorization: Bearer …` header, if the request has one.
fn bearer_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| unauthorized("the Authorization header is not text"))?;
    match value.trim_start().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(Some(token.trim())),
        _ => Err(unauthorized("the Authorization header must be `Bearer <token>`")),
    }
}

/// Check `given` against the configured token.
fn authenticate(given: &str, state: &AppState) -> Result<Agent, ApiError> {
    let Some(expected) = &state.admin_token else {
        return Err(unauthorized("no API token is configured on this server (set SWITCHBOARD_ADMIN_TOKEN)"));
    };
    // Compare digests: equal length, constant time, and no length leak.
    let matches: bool = Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(expected.expose().as_bytes())).into();
    if matches {
        Ok(Agent { name: "admin".into() })
    } else {
        Err(unauthorized("invalid bearer token"))
    }
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match bearer_token(parts)? {
            Some(token) => authenticate(token, state),
            None => Err(unauthorized("missing bearer token (send `Authorization: Bearer <token>`)")),
        }
    }
}

/// The caller of the live stream: a bearer token, or else `?access_token=`.
#[derive(Debug, Clone)]
pub struct StreamAgent(pub Agent);

impl FromRequestParts<AppState> for StreamAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer_token(parts)? {
            return authenticate(token, state).map(Self);
        }
        let from_query = parts.uri.query().and_then(|query| {
            form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == "access_token").map(|(_, value)| value.into_owned())
        });
        match from_query {
            Some(token) => authenticate(token.trim(), state).map(Self),
            None => Err(unauthorized("missing bearer token (send `Authorization: Bearer <token>` or `?access_token=`)")),
        }
    }
}
