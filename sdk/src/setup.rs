//! The admin-facing side of a channel (`switchboard:channel/setup`, new in 0.2.0): the setup
//! guide shown on the channel page, and a connection check that calls the provider with the
//! configured credentials.
//!
//! Implement [`Setup`] for your plugin type. Both methods have defaults (no steps, and a
//! check that says there is none), so `impl Setup for MyPlugin {}` is enough to start; the
//! helpers below turn a provider's answer into a [`Problem`] the same way for every channel.

use crate::bindings::exports::switchboard::channel::setup::{ChannelGuide, Connected, Problem, ProblemKind, Setting};
use crate::bindings::switchboard::channel::outbound_http::{self, Error as HttpError, Request};
use crate::bindings::switchboard::channel::types::HttpResponse;

/// What a plugin tells an admin. Hand-written over the generated `setup` bindings so that
/// every method can have a default.
pub trait Setup {
    /// The steps to connect the provider and the settings the plugin reads.
    fn guide() -> ChannelGuide {
        ChannelGuide { steps: Vec::new(), settings: Vec::new(), docs_url: None }
    }

    /// Call the provider with the configured credentials, sending nothing to any customer.
    fn check_connection() -> Result<Connected, Problem> {
        Err(Problem::new(ProblemKind::Other, "this plugin has no connection check"))
    }
}

impl Setting {
    /// A `[config]` entry.
    pub fn config(key: &str, description: &str, required: bool) -> Self {
        Self { key: key.into(), description: description.into(), required, secret: false }
    }

    /// A `[secrets]` entry.
    pub fn secret(key: &str, description: &str, required: bool) -> Self {
        Self { key: key.into(), description: description.into(), required, secret: true }
    }
}

impl Problem {
    pub fn new(kind: ProblemKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), code: None }
    }

    /// A required setting is missing (the message from [`crate::required_config`] or
    /// [`crate::required_secret`] names it).
    pub fn misconfigured(message: impl Into<String>) -> Self {
        Self::new(ProblemKind::Misconfigured, message)
    }

    /// A non-2xx provider answer, classified by HTTP status: `401`/`403` are the credentials,
    /// `429` and `5xx` the provider being unavailable, anything else `other`. `message` is the
    /// provider's own wording when it gave one.
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let kind = match status {
            401 | 403 => ProblemKind::Unauthorized,
            429 | 500..=599 => ProblemKind::Unreachable,
            _ => ProblemKind::Other,
        };
        Self::new(kind, message)
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

/// `GET` `url` with `headers`; transport failures become [`Problem`]s (`denied` when the host
/// is not in `allowed_hosts`, `unreachable` on timeouts and broken connections).
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, Problem> {
    let request = Request {
        method: "GET".into(),
        url: url.into(),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: Vec::new(),
        timeout_ms: None,
    };
    outbound_http::send(&request).map_err(transport_problem)
}

/// A transport failure as a [`Problem`]. Plugins whose URLs hold a credential must redact
/// the message themselves, as they do for sends.
pub fn transport_problem(error: HttpError) -> Problem {
    match error {
        HttpError::Denied(host) => {
            Problem::new(ProblemKind::Denied, format!("outbound host `{host}` is not in this channel's allowed_hosts"))
        }
        HttpError::Timeout => Problem::new(ProblemKind::Unreachable, "the provider did not answer in time"),
        HttpError::Connection(detail) => Problem::new(ProblemKind::Unreachable, format!("could not reach the provider: {detail}")),
        HttpError::InvalidRequest(detail) => Problem::misconfigured(format!("the request could not be built: {detail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_problem_kinds() {
        assert_eq!(Problem::from_status(401, "x").kind, ProblemKind::Unauthorized);
        assert_eq!(Problem::from_status(403, "x").kind, ProblemKind::Unauthorized);
        assert_eq!(Problem::from_status(429, "x").kind, ProblemKind::Unreachable);
        assert_eq!(Problem::from_status(503, "x").kind, ProblemKind::Unreachable);
        assert_eq!(Problem::from_status(404, "x").kind, ProblemKind::Other);
    }

    #[test]
    fn transport_failures_are_classified() {
        assert_eq!(transport_problem(HttpError::Denied("evil.test".into())).kind, ProblemKind::Denied);
        assert_eq!(transport_problem(HttpError::Timeout).kind, ProblemKind::Unreachable);
        assert_eq!(transport_problem(HttpError::Connection("refused".into())).kind, ProblemKind::Unreachable);
        assert_eq!(transport_problem(HttpError::InvalidRequest("bad".into())).kind, ProblemKind::Misconfigured);
    }
}
