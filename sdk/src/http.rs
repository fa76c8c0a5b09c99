//! Outbound HTTP through the host, and the mapping of provider HTTP failures to
//! [`SendError`]s the outbox can act on.

use crate::bindings::switchboard::channel::outbound_http::{self, Error as HttpError, Request};
use crate::bindings::switchboard::channel::types::{HttpResponse, SendError, SendErrorKind, SendReceipt};

/// A configured API base URL (`api_base` in a channel's config), trimmed and without a
/// trailing slash; `default` when it is not set or blank. Every plugin builds its provider URLs
/// on this.
pub fn api_base<'a>(configured: Option<&'a str>, default: &'a str) -> &'a str {
    configured.map(str::trim).filter(|base| !base.is_empty()).unwrap_or(default).trim_end_matches('/')
}

/// `POST` a JSON body with extra headers; transport failures become retryable [`SendError`]s.
pub fn post_json(url: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> Result<HttpResponse, SendError> {
    let mut all_headers = vec![("content-type".to_string(), "application/json".to_string())];
    all_headers.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    send(Request {
        method: "POST".into(),
        url: url.into(),
        headers: all_headers,
        body: serde_json::to_vec(body).unwrap_or_default(),
        timeout_ms: None,
    })
}

/// Send a request; transport failures become [`SendError`]s (retryable unless denied or invalid).
pub fn send(request: Request) -> Result<HttpResponse, SendError> {
    outbound_http::send(&request).map_err(transport_error)
}

fn transport_error(error: HttpError) -> SendError {
    match error {
        HttpError::Denied(host) => SendError::new(
            SendErrorKind::Unauthorized,
            format!("outbound host `{host}` is not in this channel's allowed_hosts"),
            false,
        ),
        HttpError::Timeout => SendError::new(SendErrorKind::Unavailable, "provider did not answer in time", true),
        HttpError::Connection(detail) => SendError::new(SendErrorKind::Unavailable, format!("connection failed: {detail}"), true),
        HttpError::InvalidRequest(detail) => SendError::new(SendErrorKind::InvalidRequest, detail, false),
    }
}

/// Log a send's outcome at debug level (ids and error class only, never the message body).
pub fn log_send_outcome(message_id: &str, result: &Result<SendReceipt, SendError>) {
    let line = match result {
        Ok(receipt) => format!("message {message_id} accepted as {}", receipt.external_id),
        Err(error) => format!(
            "message {message_id} failed: {:?} code {} retryable {}: {}",
            error.kind,
            error.code.as_deref().unwrap_or("-"),
            error.retryable,
            error.message
        ),
    };
    crate::log::debug(line);
}

/// A response header, compared case-insensitively.
pub fn response_header<'a>(response: &'a HttpResponse, name: &str) -> Option<&'a str> {
    response.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

/// `Retry-After` in milliseconds, when given as seconds.
pub fn retry_after_ms(response: &HttpResponse) -> Option<u64> {
    response_header(response, "retry-after")?.trim().parse::<u64>().ok().map(|secs| secs * 1000)
}

impl SendError {
    pub fn new(kind: SendErrorKind, message: impl Into<String>, retryable: bool) -> Self {
        Self { kind, code: None, message: message.into(), retryable, retry_after_ms: None }
    }

    /// Classify a non-2xx provider answer by HTTP status alone: 429 and 5xx are retryable,
    /// other 4xx are not. Plugins refine this with provider error codes.
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let (kind, retryable) = match status {
            429 => (SendErrorKind::RateLimited, true),
            500..=599 => (SendErrorKind::Unavailable, true),
            408 => (SendErrorKind::Unavailable, true),
            401 | 403 => (SendErrorKind::Unauthorized, false),
            404 | 400 | 422 => (SendErrorKind::InvalidRequest, false),
            _ => (SendErrorKind::Other, false),
        };
        Self::new(kind, message, retryable)
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_retry_after_ms(mut self, retry_after_ms: Option<u64>) -> Self {
        self.retry_after_ms = retry_after_ms;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_defaults_and_loses_spaces_and_trailing_slashes() {
        assert_eq!(api_base(None, "https://d.example"), "https://d.example");
        assert_eq!(api_base(Some("  "), "https://d.example"), "https://d.example");
        assert_eq!(api_base(Some(" http://127.0.0.1:9/v21.0/ "), "https://d.example"), "http://127.0.0.1:9/v21.0");
    }

    #[test]
    fn status_classification() {
        let cases = [
            (429, SendErrorKind::RateLimited, true),
            (503, SendErrorKind::Unavailable, true),
            (500, SendErrorKind::Unavailable, true),
            (401, SendErrorKind::Unauthorized, false),
            (400, SendErrorKind::InvalidRequest, false),
        ];
        for (status, kind, retryable) in cases {
            let error = SendError::from_status(status, "x");
            assert_eq!((error.kind, error.retryable), (kind, retryable), "status {status}");
        }
    }

    #[test]
    fn retry_after_seconds() {
        let response = HttpResponse { status: 429, headers: vec![("Retry-After".into(), "7".into())], body: vec![] };
        assert_eq!(retry_after_ms(&response), Some(7000));
    }
}
