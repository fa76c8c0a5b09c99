//! Conventions shared by Meta's webhooks (WhatsApp Cloud API, Messenger, Instagram): the
//! `hub.challenge` subscription handshake and the `X-Hub-Signature-256` body signature.
//! Kept here once so the three plugins cannot drift apart.

use crate::bindings::switchboard::channel::types::{HttpResponse, IncomingRequest, Rejection, Verdict};
use crate::request::{header, query};
use crate::signature::verify_hmac_sha256_hex;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_error_parses() {
        let body = br#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"fbtrace_id":"Az"}}"#;
        let error = graph_error(body).unwrap();
        assert_eq!(error.code, Some(131047));
        assert!(graph_error(b"{}").is_none());
    }
}
