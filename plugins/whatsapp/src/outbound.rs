//! Switchboard outbound messages → WhatsApp Cloud API requests, and the API's answers →
//! receipts or [`SendError`]s.
//!
//! Everything here is pure: no host imports are called, so it runs (and is tested) natively.
//!
//! API reference: <https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages>
//! and <https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes>.

use serde_json::{Map, Value, json};
use switchboard_sdk::meta::classify_graph_send_error;
use switchboard_sdk::prelude::*;

/// The Graph API base used when the `api_base` config value is not set.
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com/v21.0";

/// Graph and WhatsApp codes that mean "slow down": application / business-account / Cloud API
/// throughput, spam and pair rate limits.
const RATE_LIMIT_CODES: [i64; 5] = [4, 80007, 130429, 131048, 131056];
/// Codes for temporary problems on Meta's side.
const UNAVAILABLE_CODES: [i64; 4] = [1, 2, 131000, 131016];
/// More than 24 hours since the customer last wrote: only a template may be sent.
const WINDOW_CLOSED_CODE: i64 = 131047;
/// Recipient cannot receive: not a WhatsApp user (131026), not in the test allow-list (131030).
const INVALID_RECIPIENT_CODES: [i64; 2] = [131026, 131030];
/// The recipient stopped marketing messages from this business.
const OPTED_OUT_CODE: i64 = 131050;
/// Invalid parameter.
const INVALID_PARAMETER_CODE: i64 = 100;
/// Access token expired or invalid.
const ACCESS_TOKEN_CODE: i64 = 190;

/// `{api_base}/{phone_number_id}/messages`; `api_base` defaults to [`DEFAULT_API_BASE`] and
/// loses any trailing slash.
pub fn messages_url(api_base: Option<&str>, phone_number_id: &str) -> String {
    let base = switchboard_sdk::http::api_base(api_base, DEFAULT_API_BASE);
    format!("{base}/{}/messages", phone_number_id.trim())
}

/// The `to` of a send: the recipient's `wa_id` (the party id WhatsApp's webhooks gave), else
/// their phone digits without `+`. The `wa_id` comes first because it can differ from the
/// E.164 number the host keys contacts by (Mexico's `521…`, Brazil's numbers without the ninth
/// digit), and it is the address WhatsApp knows the account by.
pub fn recipient_address(recipient: &Party) -> Option<String> {
    let id = recipient.id.trim();
    let id = id.strip_prefix('+').unwrap_or(id);
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        return Some(id.to_owned());
    }
    let digits: String = recipient
        .phone
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if !digits.is_empty() {
        return Some(digits);
    }
    (!id.is_empty()).then(|| id.to_owned())
}

/// The JSON body of a Cloud API `POST /{phone_number_id}/messages` for `message`.
///
/// Content the API would refuse anyway (empty text, template name or media URL; no recipient)
/// is refused here as a non-retryable error, without calling the API.
pub fn build_send_body(message: &OutboundMessage) -> Result<Value, SendError> {
    let to = recipient_address(&message.recipient).ok_or_else(|| {
        SendError::new(SendErrorKind::InvalidRecipient, "recipient has neither a phone number nor an id", false)
    })?;
    let mut body = Map::new();
    body.insert("messaging_product".into(), json!("whatsapp"));
    body.insert("recipient_type".into(), json!("individual"));
    body.insert("to".into(), json!(to));
    if let Some(reply_to) = message.reply_to.as_deref().filter(|id| !id.is_empty()) {
        body.insert("context".into(), json!({ "message_id": reply_to }));
    }
    match &message.content {
        OutboundContent::Text(text) => {
            if text.trim().is_empty() {
                return Err(invalid_request("text message body is empty"));
            }
            body.insert("type".into(), json!("text"));
            body.insert("text".into(), json!({ "preview_url": false, "body": text }));
        }
        OutboundContent::Template(template) => {
            if template.name.trim().is_empty() {
                return Err(invalid_request("template name is empty"));
            }
            let mut object = Map::new();
            object.insert("name".into(), json!(template.name));
            object.insert("language".into(), json!({ "code": template.language }));
            if !template.parameters.is_empty() {
                let parameters: Vec<Value> =
                    template.parameters.iter().map(|text| json!({ "type": "text", "text": text })).collect();
                object.insert("components".into(), json!([{ "type": "body", "parameters": parameters }]));
            }
            body.insert("type".into(), json!("template"));
            body.insert("template".into(), Value::Object(object));
        }
        OutboundContent::Media(media) => {
            if media.url.trim().is_empty() {
                return Err(invalid_request("media URL is empty"));
            }
            let kind = match media.kind {
                MediaKind::Image => "image",
                MediaKind::Audio => "audio",
                MediaKind::Video => "video",
                MediaKind::Document | MediaKind::File => "document",
                MediaKind::Sticker => "sticker",
            };
            let mut object = Map::new();
            object.insert("link".into(), json!(media.url));
            // The Cloud API takes no caption for audio and stickers.
            if let Some(caption) = media.caption.as_deref().filter(|c| !c.is_empty())
                && !matches!(kind, "audio" | "sticker")
            {
                object.insert("caption".into(), json!(caption));
            }
            if let Some(filename) = media.filename.as_deref().filter(|f| !f.is_empty())
                && kind == "document"
            {
                object.insert("filename".into(), json!(filename));
            }
            body.insert("type".into(), json!(kind));
            body.insert(kind.into(), Value::Object(object));
        }
    }
    Ok(Value::Object(body))
}

fn invalid_request(message: &str) -> SendError {
    SendError::new(SendErrorKind::InvalidRequest, message, false)
}

/// Turn the Cloud API's answer into a receipt (2xx with `messages[0].id`) or an error.
pub fn interpret_send_response(status: u16, headers: &[(String, String)], body: &[u8]) -> Result<SendReceipt, SendError> {
    if !(200..300).contains(&status) {
        return Err(classify_send_error(status, headers, body));
    }
    let external_id = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| value.get("messages")?.get(0)?.get("id")?.as_str().map(str::to_owned))
        .filter(|id| !id.is_empty());
    match external_id {
        Some(external_id) => Ok(SendReceipt { external_id, status: DeliveryStatus::Sent }),
        None => Err(SendError::new(
            SendErrorKind::Other,
            format!("WhatsApp answered HTTP {status} without a message id"),
            false,
        )),
    }
}

/// Classify a non-2xx Cloud API answer by its Graph error code, then by HTTP status.
///
/// - `429`, or codes 4, 80007, 130429, 131048, 131056: rate-limited, retryable, with `Retry-After`;
/// - `5xx`, or codes 1, 2, 131000, 131016: unavailable, retryable;
/// - 131047: the 24-hour window is closed; 131026, 131030: invalid recipient; 131050: opted out;
///   100 mentioning the recipient: invalid request; 190 or `401`: unauthorized (all final);
/// - anything else: [`SendError::from_status`].
///
/// `code` is the Graph code when there is one; `message` the Graph message.
pub fn classify_send_error(status: u16, headers: &[(String, String)], body: &[u8]) -> SendError {
    classify_graph_send_error(status, headers, body, "WhatsApp Cloud API", |error| match error.code? {
        c if RATE_LIMIT_CODES.contains(&c) => Some((SendErrorKind::RateLimited, true)),
        c if UNAVAILABLE_CODES.contains(&c) => Some((SendErrorKind::Unavailable, true)),
        WINDOW_CLOSED_CODE => Some((SendErrorKind::WindowClosed, false)),
        c if INVALID_RECIPIENT_CODES.contains(&c) => Some((SendErrorKind::InvalidRecipient, false)),
        OPTED_OUT_CODE => Some((SendErrorKind::OptedOut, false)),
        INVALID_PARAMETER_CODE if error.message.to_ascii_lowercase().contains("recipient") => {
            Some((SendErrorKind::InvalidRequest, false))
        }
        ACCESS_TOKEN_CODE => Some((SendErrorKind::Unauthorized, false)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(id: &str, phone: Option<&str>) -> Party {
        Party { id: id.into(), phone: phone.map(Into::into), email: None, display_name: None, username: None }
    }

    fn outbound(content: OutboundContent, reply_to: Option<&str>) -> OutboundMessage {
        OutboundMessage {
            message_id: "01J0000000000000000000000".into(),
            recipient: party("16505551234", Some("+16505551234")),
            content,
            reply_to: reply_to.map(Into::into),
        }
    }

    fn media(kind: MediaKind, caption: Option<&str>, filename: Option<&str>) -> OutboundContent {
        OutboundContent::Media(OutboundMedia {
            kind,
            url: "https://cdn.example.com/files/a.bin".into(),
            caption: caption.map(Into::into),
            filename: filename.map(Into::into),
            mime_type: None,
        })
    }

    fn graph_body(code: i64, message: &str) -> Vec<u8> {
        json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn url_building() {
        assert_eq!(messages_url(None, "106540352242922"), "https://graph.facebook.com/v21.0/106540352242922/messages");
        assert_eq!(messages_url(Some(""), "1"), "https://graph.facebook.com/v21.0/1/messages");
        assert_eq!(messages_url(Some("http://127.0.0.1:9000/v21.0/"), "1"), "http://127.0.0.1:9000/v21.0/1/messages");
    }

    #[test]
    fn recipient_is_phone_digits_else_id() {
        assert_eq!(recipient_address(&party("x", Some("+1 650-555-1234"))).as_deref(), Some("16505551234"));
        assert_eq!(recipient_address(&party("16505551234", None)).as_deref(), Some("16505551234"));
        assert_eq!(recipient_address(&party("", None)), None);
        // The wa_id wins over the E.164 phone the host derived from it.
        assert_eq!(recipient_address(&party("5215512345678", Some("+525512345678"))).as_deref(), Some("5215512345678"));
        let error = build_send_body(&OutboundMessage { recipient: party("", None), ..outbound(OutboundContent::Text("hi".into()), None) })
            .unwrap_err();
        assert_eq!(error.kind, SendErrorKind::InvalidRecipient);
        assert!(!error.retryable);
    }

    #[test]
    fn text_body() {
        let body = build_send_body(&outbound(OutboundContent::Text("Olá 👋".into()), None)).unwrap();
        assert_eq!(
            body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "16505551234",
                "type": "text",
                "text": {"preview_url": false, "body": "Olá 👋"}
            })
        );
        let reply = build_send_body(&outbound(OutboundContent::Text("yes".into()), Some("wamid.ABC"))).unwrap();
        assert_eq!(reply["context"], json!({"message_id": "wamid.ABC"}));
        let empty = build_send_body(&outbound(OutboundContent::Text("  ".into()), None)).unwrap_err();
        assert_eq!(empty.kind, SendErrorKind::InvalidRequest);
    }

    #[test]
    fn template_body() {
        let template = |parameters: Vec<String>| {
            OutboundContent::Template(Template { name: "order_update".into(), language: "pt_BR".into(), parameters })
        };
        let body = build_send_body(&outbound(template(vec!["José".into(), "#12345".into()]), None)).unwrap();
        assert_eq!(body["type"], json!("template"));
        assert_eq!(
            body["template"],
            json!({
                "name": "order_update",
                "language": {"code": "pt_BR"},
                "components": [{"type": "body", "parameters": [
                    {"type": "text", "text": "José"},
                    {"type": "text", "text": "#12345"}
                ]}]
            })
        );
        let bare = build_send_body(&outbound(template(vec![]), None)).unwrap();
        assert_eq!(bare["template"], json!({"name": "order_update", "language": {"code": "pt_BR"}}));
    }

    #[test]
    fn media_bodies() {
        let image = build_send_body(&outbound(media(MediaKind::Image, Some("Recibo"), Some("ignored.jpg")), None)).unwrap();
        assert_eq!(image["type"], json!("image"));
        assert_eq!(image["image"], json!({"link": "https://cdn.example.com/files/a.bin", "caption": "Recibo"}));

        let file = build_send_body(&outbound(media(MediaKind::File, Some("Fatura"), Some("fatura.pdf")), None)).unwrap();
        assert_eq!(file["type"], json!("document"));
        assert_eq!(
            file["document"],
            json!({"link": "https://cdn.example.com/files/a.bin", "caption": "Fatura", "filename": "fatura.pdf"})
        );

        for (kind, name) in [(MediaKind::Audio, "audio"), (MediaKind::Sticker, "sticker"), (MediaKind::Video, "video")] {
            let body = build_send_body(&outbound(media(kind, None, None), Some("wamid.Q"))).unwrap();
            assert_eq!(body["type"], json!(name));
            assert_eq!(body[name], json!({"link": "https://cdn.example.com/files/a.bin"}));
            assert_eq!(body["context"]["message_id"], json!("wamid.Q"));
        }
        let audio = build_send_body(&outbound(media(MediaKind::Audio, Some("no captions on audio"), None), None)).unwrap();
        assert!(audio["audio"].get("caption").is_none());
    }

    #[test]
    fn success_needs_a_message_id() {
        let ok = br#"{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],"messages":[{"id":"wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA","message_status":"accepted"}]}"#;
        let receipt = interpret_send_response(200, &[], ok).unwrap();
        assert_eq!(receipt.external_id, "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA");
        assert_eq!(receipt.status, DeliveryStatus::Sent);

        for body in [&b"{}"[..], b"not json", br#"{"messages":[]}"#, br#"{"messages":[{"id":""}]}"#] {
            let error = interpret_send_response(200, &[], body).unwrap_err();
            assert_eq!(error.kind, SendErrorKind::Other);
            assert!(!error.retryable);
        }
    }

    #[test]
    fn error_classification() {
        let cases: [(u16, i64, &str, SendErrorKind, bool); 17] = [
            (400, 4, "(#4) Application request limit reached", SendErrorKind::RateLimited, true),
            (400, 80007, "(#80007) Rate limit issues", SendErrorKind::RateLimited, true),
            (400, 130429, "(#130429) Rate limit hit", SendErrorKind::RateLimited, true),
            (400, 131048, "(#131048) Spam rate limit hit", SendErrorKind::RateLimited, true),
            (400, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit", SendErrorKind::RateLimited, true),
            (500, 1, "An unknown error occurred", SendErrorKind::Unavailable, true),
            (503, 2, "Service temporarily unavailable", SendErrorKind::Unavailable, true),
            (500, 131000, "Something went wrong", SendErrorKind::Unavailable, true),
            (503, 131016, "Service unavailable", SendErrorKind::Unavailable, true),
            (400, 131047, "(#131047) Re-engagement message", SendErrorKind::WindowClosed, false),
            (400, 131026, "(#131026) Message Undeliverable", SendErrorKind::InvalidRecipient, false),
            (400, 131030, "(#131030) Recipient phone number not in allowed list", SendErrorKind::InvalidRecipient, false),
            (400, 100, "(#100) Invalid parameter: recipient is not a valid WhatsApp user", SendErrorKind::InvalidRequest, false),
            (400, 100, "(#100) Invalid parameter", SendErrorKind::InvalidRequest, false),
            (401, 190, "Error validating access token: Session has expired", SendErrorKind::Unauthorized, false),
            (400, 190, "Invalid OAuth access token", SendErrorKind::Unauthorized, false),
            (400, 131050, "(#131050) Unable to deliver: user stopped marketing messages", SendErrorKind::OptedOut, false),
        ];
        for (status, code, message, kind, retryable) in cases {
            let error = classify_send_error(status, &[], &graph_body(code, message));
            assert_eq!((error.kind, error.retryable), (kind, retryable), "HTTP {status} code {code}");
            assert_eq!(error.code.as_deref(), Some(code.to_string().as_str()));
            assert_eq!(error.message, message);
        }
    }

    #[test]
    fn http_status_fallbacks_and_retry_after() {
        let headers = vec![("retry-after".to_string(), "30".to_string())];
        let throttled = classify_send_error(429, &headers, b"<html>Too Many Requests</html>");
        assert_eq!((throttled.kind, throttled.retryable), (SendErrorKind::RateLimited, true));
        assert_eq!(throttled.retry_after_ms, Some(30_000));
        assert_eq!(throttled.code, None);
        assert!(throttled.message.contains("429"));

        let by_code = classify_send_error(400, &[("Retry-After".into(), "5".into())], &graph_body(131056, "pair rate limit"));
        assert_eq!(by_code.retry_after_ms, Some(5_000));
        let without_header = classify_send_error(400, &[], &graph_body(130429, "Rate limit hit"));
        assert_eq!(without_header.retry_after_ms, None);

        let outage = classify_send_error(502, &[], b"Bad Gateway");
        assert_eq!((outage.kind, outage.retryable), (SendErrorKind::Unavailable, true));

        let unauthorized = classify_send_error(401, &[], b"");
        assert_eq!((unauthorized.kind, unauthorized.retryable), (SendErrorKind::Unauthorized, false));

        let other = classify_send_error(400, &[], &graph_body(131009, "(#131009) Parameter value is not valid"));
        assert_eq!((other.kind, other.retryable), (SendErrorKind::InvalidRequest, false));
        assert_eq!(other.code.as_deref(), Some("131009"));

        let forbidden = classify_send_error(403, &[], &graph_body(200, "(#200) Permissions error"));
        assert_eq!((forbidden.kind, forbidden.retryable), (SendErrorKind::Unauthorized, false));

        let via_interpret = interpret_send_response(400, &[], &graph_body(131047, "Re-engagement message")).unwrap_err();
        assert_eq!(via_interpret.kind, SendErrorKind::WindowClosed);
    }
}
