//! The one error shape every endpoint answers with: `{"error": {"code", "message"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for `Retry-After` on 503.
    pub retry_after: Option<u32>,
    /// Answer with `Connection: close`: the request's body was not read to its end, so the
    /// connection cannot carry another request (and the client must not reuse it).
    pub close: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// `401` for operations that need a bearer token.
#[derive(utoipa::IntoResponses)]
#[response(status = 401, description = "Missing or invalid bearer token")]
pub struct Unauthorized(#[allow(dead_code)] ErrorBody);

/// The refusals of every operation that takes a JSON body, before the handler sees it.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum JsonBodyErrors {
    /// The body is too large.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not `application/json`.
    #[response(status = 415)]
    NotJson(ErrorBody),
    /// Unknown fields or wrong types.
    #[response(status = 422)]
    WrongShape(ErrorBody),
}

/// `403` for operations that need the admin role.
#[derive(utoipa::IntoResponses)]
#[response(status = 403, description = "The caller's role does not allow this")]
pub struct Forbidden(#[allow(dead_code)] ErrorBody);

/// `503` for operations that read or write the database.
#[derive(utoipa::IntoResponses)]
#[response(status = 503, description = "The database is unreachable; retry after `Retry-After` seconds",
    headers(("retry-after" = u32, description = "Seconds to wait")))]
pub struct Unavailable(#[allow(dead_code)] ErrorBody);

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `bad_signature`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None, close: false }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// Try again later: the provider will redeliver, so nothing is lost.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self { retry_after: Some(5), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message } };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.close {
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match error {
            StoreError::NotFound(what) => Self::not_found("not_found", format!("{what} not found")),
            StoreError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            StoreError::Taken(message) => Self::new(StatusCode::CONFLICT, "taken", message),
            // Opted out is unreachable to the client (the code stays `unreachable`); the
            // handler audits the refused send.
            StoreError::Unreachable(message) | StoreError::OptedOut(message) => Self::new(StatusCode::CONFLICT, "unreachable", message),
            StoreError::Invalid(message) => Self::bad_request("invalid_request", message),
            StoreError::InvalidReference(message) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference", message),
            StoreError::InvalidCursor(cursor) => Self::bad_request("invalid_cursor", format!("invalid cursor `{cursor}`")),
            other => {
                tracing::error!(error = %other, "storage error");
                Self::unavailable("storage_unavailable", "storage is unavailable; try again later")
            }
        }
    }
}

/// Body-reading failures: too large (`413`), too slow (`408`), or a broken connection (`400`).
impl From<super::listener::BodyError> for ApiError {
    fn from(error: super::listener::BodyError) -> Self {
        use super::listener::BodyError;
        let error = match error {
            BodyError::TooLarge { limit } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the request body is larger than {limit} bytes"))
            }
            BodyError::TimedOut => Self::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", "the request body did not arrive in time"),
            BodyError::Unreadable(message) => Self::bad_request("unreadable_body", message),
        };
        Self { close: true, ..error }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection;
        match rejection {
            // Reading the body failed: the same answers as for webhooks (413, 408, 400).
            JsonRejection::BytesRejection(rejection) => {
                let timed_out = std::iter::successors(std::error::Error::source(&rejection), |e| e.source())
                    .any(|e| e.is::<super::listener::DeadlineExceeded>());
                if timed_out {
                    super::listener::BodyError::TimedOut.into()
                } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Self { close: true, ..Self::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", rejection.body_text()) }
                } else {
                    Self { close: true, ..Self::bad_request("unreadable_body", rejection.body_text()) }
                }
            }
            JsonRejection::MissingJsonContentType(rejection) => {
                Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", rejection.body_text())
            }
            other => {
                let status = other.status();
                // 422 (valid JSON of the wrong shape) stays 422; a syntax error is 400.
                let code = if status == StatusCode::UNPROCESSABLE_ENTITY { "invalid_body" } else { "invalid_json" };
                Self::new(status, code, other.body_text())
            }
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request("invalid_query", rejection.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Self::bad_request("invalid_path", rejection.body_text())
    }
}
