//! Authentication and the role each route needs, enforced in one place.
//!
//! Every documented route declares its role in the OpenAPI document (`x-switchboard-role`:
//! `public`, `agent` or `admin`; see `openapi::routes`). [`RouteAuth`] reads those declarations
//! back from the document, and [`enforce`], a layer over every route, looks up the matched
//! route, authenticates the caller and refuses with `401` (no or a bad token) or `403` (the
//! wrong role) before any handler runs. Handlers take the caller as a [`Principal`] argument.
//!
//! Credentials: `Authorization: Bearer <token>` (the scheme in any case, as RFC 7235 says), with
//! `SWITCHBOARD_ADMIN_TOKEN` as the bootstrap credential, or an agent's session or personal API
//! token. Tokens in URLs end up in proxy logs and browser history, so `?access_token=` is
//! accepted only where a route declares `x-switchboard-query-token` (the live stream, as
//! browsers' `EventSource` cannot set headers).

use super::error::ApiError;
use super::AppState;
use crate::auth::{Principal, Role};
use axum::extract::{FromRequestParts, MatchedPath, State};
use axum::http::request::Parts;
use axum::http::{Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The OpenAPI extension naming an operation's role.
pub const ROLE_EXTENSION: &str = "x-switchboard-role";
/// The OpenAPI extension allowing `?access_token=` on an operation.
pub const QUERY_TOKEN_EXTENSION: &str = "x-switchboard-query-token";

/// What a route needs, as its OpenAPI operation declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// `None`: public.
    pub role: Option<Role>,
    pub query_token: bool,
}

/// Every documented route's [`Requirement`], by method and path template.
#[derive(Debug, Default)]
pub struct RouteAuth {
    routes: HashMap<(Method, String), Requirement>,
}

impl RouteAuth {
    /// Read the declarations from the served document.
    pub fn from_document(document: &Value) -> Self {
        let mut routes = HashMap::new();
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
                let role = match operation[ROLE_EXTENSION].as_str() {
                    Some("public") => None,
                    Some(role) => Role::parse(role),
                    // Undeclared routes are closed, not open.
                    None => Some(Role::Admin),
                };
                let query_token = operation[QUERY_TOKEN_EXTENSION].as_bool().unwrap_or(false);
                routes.insert((method, path.clone()), Requirement { role, query_token });
            }
        }
        Self { routes }
    }

    fn requirement(&self, method: &Method, path: &str) -> Option<Requirement> {
        // HEAD is answered by the GET route.
        let method = if method == Method::HEAD { &Method::GET } else { method };
        self.routes.get(&(method.clone(), path.to_string())).copied()
    }
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

/// Who holds `given`: the bootstrap token, or an agent's valid token.
async fn authenticate(given: &str, state: &AppState) -> Result<Principal, ApiError> {
    if let Some(expected) = &state.admin_token {
        // Compare digests: equal length, constant time, and no length leak.
        let matches: bool = Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(expected.expose().as_bytes())).into();
        if matches {
            return Ok(Principal::Bootstrap);
        }
    }
    let principal = state.store.principal_for_token(&crate::auth::token::digest(given)).await?;
    principal.ok_or_else(|| unauthorized("invalid or expired bearer token"))
}

/// The layer over every route: authenticate and check the matched route's declared role.
pub async fn enforce(
    State((state, routes)): State<(AppState, Arc<RouteAuth>)>,
    request: Request<axum::body::Body>,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let path = parts.extensions.get::<MatchedPath>().map(|matched| matched.as_str().to_string());
    let requirement = match path {
        Some(path) => routes.requirement(&parts.method, &path),
        None => None,
    };
    // Routes outside the document (its own `openapi.json`, fallbacks) are public.
    let Some(Requirement { role: Some(required), query_token }) = requirement else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    let from_query = || {
        parts.uri.query().and_then(|query| {
            form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == "access_token").map(|(_, value)| value.trim().to_string())
        })
    };
    let principal = match bearer_token(&parts)? {
        Some(token) => authenticate(token, &state).await?,
        None => match from_query().filter(|_| query_token) {
            Some(token) => authenticate(&token, &state).await?,
            None if state.admin_token.is_none() && state.store.agent_count().await? == 0 => {
                return Err(unauthorized("no credentials exist yet: set SWITCHBOARD_ADMIN_TOKEN, or run `switchboard agents create`"));
            }
            None => return Err(unauthorized("missing bearer token (send `Authorization: Bearer <token>`)")),
        },
    };
    if !principal.has(required) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("this needs the {} role", required.as_str())));
    }
    parts.extensions.insert(principal);
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// The caller, as [`enforce`] authenticated them.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| unauthorized("this route needs a bearer token"))
    }
}
