//! Conventions shared by Meta's webhooks (WhatsApp Cloud API, Messenger, Instagram): the
//! `hub.challenge` subscription handshake, the `X-Hub-Signature-256` body signature, Graph API
//! error bodies and their classification into [`SendError`]s. Kept here once so the three
//! plugins cannot drift apart. Messenger and Instagram share much more (the whole
//! `entry[].messaging[]` mapping and the Send API): see [`crate::meta_messaging`].

use crate::bindings::exports::switchboard::channel::setup::{Problem, ProblemKind};
use crate::bindings::switchboard::channel::types::{
    HttpResponse, IncomingRequest, Rejection, SendError, SendErrorKind, Verdict,
};
use crate::request::{header, query};
use crate::signature::verify_hmac_sha256_hex;

/// Verify a Meta webhook against this channel instance's settings: the handshake against the
/// `verify_token` secret (or, failing that, the `verify_token` config value), the signature
/// under the `app_secret` secret. A missing setting refuses the request (`403` for the
/// handshake, `401` for a `POST`) rather than accepting it unchecked.
///
/// Calls the host's `config` imports, so it only runs inside a plugin.
pub fn verify_configured(request: &IncomingRequest) -> Verdict {
    use crate::bindings::switchboard::channel::config;
    match request.method.as_str() {
        "GET" => {
            let token = config::secret("verify_token")
                .filter(|token| !token.is_empty())
                .or_else(|| config::get("verify_token").filter(|token| !token.is_empty()));
            match token {
                Some(token) => verify_webhook(request, &token, ""),
                None => Verdict::Reject(Rejection::forbidden("verify_token is not configured")),
            }
        }
        "POST" => match crate::required_secret("app_secret") {
            Ok(app_secret) => verify_webhook(request, "", &app_secret),
            Err(_) => Verdict::Reject(Rejection::unauthorized("app_secret is not configured")),
        },
        // Refused as a method Meta does not use.
        _ => verify_webhook(request, "", ""),
    }
}

/// Verify a Meta webhook request.
///
/// - `GET` is the subscription handshake: with `hub.mode=subscribe` and a `hub.verify_token`
///   equal to `verify_token`, answer `200` echoing `hub.challenge`; otherwise `403`.
/// - `POST` must carry `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body under the
///   app secret>`; otherwise `401`.
pub fn verify_webhook(request: &IncomingRequest, verify_token: &str, app_secret: &str) -> Verdict {
    match request.method.as_str() {
        "GET" => subscription_handshake(request, verify_token),
        "POST" => match check_signature(request, app_secret) {
            Ok(()) => Verdict::Accept,
            Err(rejection) => Verdict::Reject(rejection),
        },
        other => Verdict::Reject(Rejection::bad_request(format!("method {other} is not used by Meta webhooks"))),
    }
}

/// Answer Meta's `GET` subscription handshake.
pub fn subscription_handshake(request: &IncomingRequest, verify_token: &str) -> Verdict {
    let mode = query(request, "hub.mode");
    let token = query(request, "hub.verify_token").unwrap_or_default();
    let Some(challenge) = query(request, "hub.challenge") else {
        return Verdict::Reject(Rejection::forbidden("hub.challenge is missing"));
    };
    if mode != Some("subscribe") {
        return Verdict::Reject(Rejection::forbidden("hub.mode must be `subscribe`"));
    }
    if verify_token.is_empty() || !crate::signature::constant_time_eq(token.as_bytes(), verify_token.as_bytes()) {
        return Verdict::Reject(Rejection::forbidden("hub.verify_token does not match"));
    }
    Verdict::Respond(HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: challenge.as_bytes().to_vec(),
    })
}

/// Check `X-Hub-Signature-256` over the raw body.
pub fn check_signature(request: &IncomingRequest, app_secret: &str) -> Result<(), Rejection> {
    let Some(value) = header(request, "x-hub-signature-256") else {
        return Err(Rejection::unauthorized("X-Hub-Signature-256 header is missing"));
    };
    let Some(hex) = value.trim().strip_prefix("sha256=") else {
        return Err(Rejection::unauthorized("X-Hub-Signature-256 must start with `sha256=`"));
    };
    if verify_hmac_sha256_hex(app_secret.as_bytes(), &request.body, hex) {
        Ok(())
    } else {
        Err(Rejection::unauthorized("X-Hub-Signature-256 does not match the body"))
    }
}

/// An error object from the Graph API (`{"error": {...}}`).
#[derive(Debug, serde::Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

#[derive(serde::Deserialize)]
struct GraphErrorEnvelope {
    error: GraphError,
}

/// Parse a Graph API error body, if it is one.
pub fn graph_error(body: &[u8]) -> Option<GraphError> {
    serde_json::from_slice::<GraphErrorEnvelope>(body).ok().map(|envelope| envelope.error)
}

/// The Graph error in a non-2xx answer's `body` (when it is one), its code, and its message:
/// Graph's own words, or "`provider` answered HTTP `status`".
fn graph_failure(status: u16, body: &[u8], provider: &str) -> (Option<GraphError>, Option<i64>, String) {
    let graph = graph_error(body);
    let code = graph.as_ref().and_then(|error| error.code);
    let message = graph
        .as_ref()
        .map(|error| error.message.trim().to_owned())
        .filter(|message| !message.is_empty())
        .unwrap_or_else(|| format!("{provider} answered HTTP {status}"));
    (graph, code, message)
}

/// Graph's code for an invalid or expired access token.
const ACCESS_TOKEN_CODE: i64 = 190;
/// Graph's codes for a request naming an object that does not exist or cannot be read:
/// invalid parameter (100) and unknown path components (803).
const NO_SUCH_OBJECT_CODES: [i64; 2] = [100, 803];

/// A connection check's non-2xx Graph API answer as a [`Problem`]: a bad token (`190`, or
/// HTTP `401`) is `unauthorized`; an id the token cannot read (`100`, `803`) is
/// `misconfigured`, naming `what` (e.g. "phone_number_id"); the rest by HTTP status. The
/// Graph message and code are kept.
pub fn graph_check_problem(status: u16, body: &[u8], what: &str) -> Problem {
    let (_, code, message) = graph_failure(status, body, "the Graph API");
    let mut problem = match code {
        Some(ACCESS_TOKEN_CODE) => Problem::new(ProblemKind::Unauthorized, message),
        Some(code) if NO_SUCH_OBJECT_CODES.contains(&code) => {
            Problem::misconfigured(format!("{message} (check `{what}`: the token cannot read that id)"))
        }
        _ => Problem::from_status(status, message),
    };
    if let Some(code) = code {
        problem = problem.with_code(code.to_string());
    }
    problem
}

/// Classify a non-2xx Graph API answer to a send.
///
/// `by_code` is the provider's own table: given the Graph error (when the body is one), it
/// returns the kind and retryability, or `None` to fall through. Then, by HTTP status: `429`
/// rate-limited and `5xx` unavailable (both retryable), `401` unauthorized; anything else goes
/// to [`SendError::from_status`]. A rate-limited error carries `Retry-After` (seconds). The
/// error's `code` is the Graph code when there is one, its message the Graph message (or
/// "`provider` answered HTTP `status`").
pub fn classify_graph_send_error(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    provider: &str,
    by_code: impl FnOnce(&GraphError) -> Option<(SendErrorKind, bool)>,
) -> SendError {
    let (graph, code, message) = graph_failure(status, body, provider);
    let by_status = || match status {
        429 => Some((SendErrorKind::RateLimited, true)),
        500..=599 => Some((SendErrorKind::Unavailable, true)),
        401 => Some((SendErrorKind::Unauthorized, false)),
        _ => None,
    };
    let mut error = match graph.as_ref().and_then(by_code).or_else(by_status) {
        Some((kind, retryable)) => SendError::new(kind, message, retryable),
        None => SendError::from_status(status, message),
    };
    if error.kind == SendErrorKind::RateLimited {
        let response = HttpResponse { status, headers: headers.to_vec(), body: Vec::new() };
        error = error.with_retry_after_ms(crate::http::retry_after_ms(&response));
    }
    if let Some(code) = code {
        error = error.with_code(code.to_string());
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_check_problems_name_the_cause() {
        let token = br#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}"#;
        let problem = graph_check_problem(401, token, "phone_number_id");
        assert_eq!((problem.kind, problem.code.as_deref()), (ProblemKind::Unauthorized, Some("190")));
        assert_eq!(problem.message, "Invalid OAuth access token.");
        let missing = br#"{"error":{"message":"Unsupported get request.","code":100}}"#;
        let problem = graph_check_problem(400, missing, "phone_number_id");
        assert_eq!(problem.kind, ProblemKind::Misconfigured);
        assert!(problem.message.contains("phone_number_id"), "{}", problem.message);
        assert_eq!(graph_check_problem(503, b"oops", "x").kind, ProblemKind::Unreachable);
        assert_eq!(graph_check_problem(503, b"oops", "x").message, "the Graph API answered HTTP 503");
    }

    #[test]
    fn graph_error_parses() {
        let body = br#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"fbtrace_id":"Az"}}"#;
        let error = graph_error(body).unwrap();
        assert_eq!(error.code, Some(131047));
        assert!(graph_error(b"{}").is_none());
    }

    fn graph_body(code: i64, message: &str) -> Vec<u8> {
        format!(r#"{{"error":{{"message":"{message}","type":"OAuthException","code":{code},"fbtrace_id":"Az"}}}}"#).into_bytes()
    }

    #[test]
    fn classification_uses_the_table_then_the_status() {
        let table = |error: &GraphError| (error.code == Some(7)).then_some((SendErrorKind::WindowClosed, false));

        let by_table = classify_graph_send_error(400, &[], &graph_body(7, " Seven "), "P", table);
        assert_eq!((by_table.kind, by_table.retryable), (SendErrorKind::WindowClosed, false));
        assert_eq!(by_table.code.as_deref(), Some("7"));
        assert_eq!(by_table.message, "Seven");

        // The table is consulted only for Graph error bodies; statuses decide the rest.
        let throttled = classify_graph_send_error(429, &[("Retry-After".into(), "3".into())], b"busy", "Prov", table);
        assert_eq!((throttled.kind, throttled.retryable, throttled.retry_after_ms), (SendErrorKind::RateLimited, true, Some(3000)));
        assert_eq!(throttled.code, None);
        assert_eq!(throttled.message, "Prov answered HTTP 429");

        let outage = classify_graph_send_error(503, &[("retry-after".into(), "3".into())], &graph_body(8, "x"), "P", table);
        assert_eq!((outage.kind, outage.retryable, outage.retry_after_ms), (SendErrorKind::Unavailable, true, None));
        assert_eq!(outage.code.as_deref(), Some("8"));

        let unauthorized = classify_graph_send_error(401, &[], b"", "P", table);
        assert_eq!((unauthorized.kind, unauthorized.retryable), (SendErrorKind::Unauthorized, false));

        let other = classify_graph_send_error(400, &[], &graph_body(9, "bad"), "P", table);
        assert_eq!((other.kind, other.retryable), (SendErrorKind::InvalidRequest, false));
    }
}
