//! Accessors for the webhook request the host hands to `verify` and `parse`.

use crate::bindings::switchboard::channel::types::IncomingRequest;

/// The first value of header `name`, compared case-insensitively.
pub fn header<'a>(request: &'a IncomingRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// The first value of query parameter `name`.
pub fn query<'a>(request: &'a IncomingRequest, name: &str) -> Option<&'a str> {
    request
        .query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> IncomingRequest {
        IncomingRequest {
            method: "GET".into(),
            url: "https://example.test/webhooks/wa?hub.mode=subscribe".into(),
            query: vec![("hub.mode".into(), "subscribe".into())],
            headers: vec![("x-hub-signature-256".into(), "sha256=ab".into())],
            body: Vec::new(),
        }
    }

    #[test]
    fn header_lookup_ignores_case() {
        assert_eq!(header(&request(), "X-Hub-Signature-256"), Some("sha256=ab"));
        assert_eq!(header(&request(), "content-type"), None);
    }

    #[test]
    fn query_lookup_is_exact() {
        assert_eq!(query(&request(), "hub.mode"), Some("subscribe"));
        assert_eq!(query(&request(), "HUB.MODE"), None);
    }
}
