//! Outbound HTTP on a plugin's behalf, for every world: the allowlist check, the timeout, the
//! response size cap. Each world's `outbound-http` import converts its own WIT records to
//! these and back, so the policy lives here once.

use super::allowed_hosts::AllowedHosts;
use std::time::Duration;

/// Largest response body a plugin's outbound request may read.
const MAX_OUTBOUND_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Who may reach what: one plugin instance's network grant.
#[derive(Debug, Clone)]
pub struct Network {
    pub allowed_hosts: AllowedHosts,
    pub http: reqwest::Client,
    /// The longest a request may take; a plugin may ask for less.
    pub timeout: Duration,
}

pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: Option<u32>,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The error cases every world's `outbound-http.error` variant has.
pub enum Error {
    Denied(String),
    Timeout,
    Connection(String),
    InvalidRequest(String),
}

/// Perform `request`, if its host is allowed. `owner` names the plugin instance in the log
/// line of a denied request (`channel` or `policy`, and its id).
pub async fn send(network: &Network, owner: (&str, &str), request: Request) -> Result<Response, Error> {
    let url = reqwest::Url::parse(&request.url).map_err(|e| Error::InvalidRequest(format!("bad URL: {e}")))?;
    if !network.allowed_hosts.allows(&url) {
        let host = url.host_str().unwrap_or_default().to_string();
        let target = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        tracing::warn!(owner = owner.0, id = owner.1, target, "outbound request denied");
        return Err(Error::Denied(target));
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| Error::InvalidRequest(format!("bad method `{}`", request.method)))?;
    let timeout = request.timeout_ms.map(|ms| Duration::from_millis(ms.into()).min(network.timeout)).unwrap_or(network.timeout);
    let mut builder = network.http.request(method, url).timeout(timeout).body(request.body);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let mut response = builder.send().await.map_err(classify)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_OUTBOUND_RESPONSE_BYTES {
            return Err(Error::Connection(format!("response body exceeds {MAX_OUTBOUND_RESPONSE_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response { status, headers, body })
}

/// The URL is left out of error messages: it can carry credentials (Telegram puts the bot
/// token in the path), and plugins may store or log these messages.
fn classify(error: reqwest::Error) -> Error {
    if error.is_timeout() {
        Error::Timeout
    } else if error.is_builder() {
        Error::InvalidRequest(error.without_url().to_string())
    } else {
        Error::Connection(error.without_url().to_string())
    }
}
