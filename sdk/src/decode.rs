//! Decoding webhook bodies into typed values, with errors that become `400` rejections.

use crate::bindings::switchboard::channel::types::Rejection;
use serde::de::DeserializeOwned;

/// Decode a JSON body. A malformed body becomes a `bad-request` rejection naming where it broke.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    serde_json::from_slice(body).map_err(|error| Rejection::bad_request(format!("malformed JSON body: {error}")))
}

/// Decode an `application/x-www-form-urlencoded` body into `(key, value)` pairs, in order.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::switchboard::channel::types::RejectionKind;

    #[derive(serde::Deserialize, Debug)]
    struct Payload {
        object: String,
    }

    #[test]
    fn json_decodes_and_rejects() {
        let payload: Payload = json(br#"{"object":"whatsapp_business_account"}"#).unwrap();
        assert_eq!(payload.object, "whatsapp_business_account");
        let error = json::<Payload>(b"{\"object\":").unwrap_err();
        assert_eq!(error.kind, RejectionKind::BadRequest);
        assert!(error.message.contains("malformed JSON"), "{}", error.message);
    }

    #[test]
    fn form_decodes_percent_and_plus() {
        let pairs = form(b"Body=Hello+there%21&From=%2B14155550100");
        assert_eq!(pairs, vec![("Body".into(), "Hello there!".into()), ("From".into(), "+14155550100".into())]);
    }
}
