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

/// Decode an `application/x-www-form-urlencoded` body into `(key, value)` pairs with each
/// value's bytes as sent, in order. For fields that carry bytes in no particular charset (a
/// whole mail, such as Mailgun's `body-mime`), which [`form`] would turn into U+FFFD where they
/// are not UTF-8. Keys are decoded like [`form`]'s.
pub fn form_bytes(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let decode = |bytes: &[u8]| -> Vec<u8> {
        let spaced: Vec<u8> = bytes.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        percent_encoding::percent_decode(&spaced).collect()
    };
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            (String::from_utf8_lossy(&decode(key)).into_owned(), decode(value))
        })
        .collect()
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

    #[test]
    fn form_bytes_keeps_bytes_that_are_not_utf8() {
        let pairs = form_bytes(b"body-mime=Ol%E1+%3D%0D%0A&flag&=empty&a=%F0%9F%91%8B");
        assert_eq!(
            pairs,
            vec![
                ("body-mime".to_string(), b"Ol\xe1 =\r\n".to_vec()),
                ("flag".to_string(), Vec::new()),
                (String::new(), b"empty".to_vec()),
                ("a".to_string(), "👋".as_bytes().to_vec()),
            ]
        );
        // The same pairs as `form` wherever the values are UTF-8.
        let body = b"Body=Hello+there%21&From=%2B14155550100";
        let text: Vec<(String, String)> =
            form_bytes(body).into_iter().map(|(k, v)| (k, String::from_utf8(v).unwrap_or_default())).collect();
        assert_eq!(text, form(body));
    }
}
