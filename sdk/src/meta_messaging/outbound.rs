//! Switchboard outbound messages → Send API requests (Messenger and Instagram), and the API's
//! answers → receipts or [`SendError`]s.
//!
//! Everything here is pure: no host imports are called, so it runs (and is tested) natively.
//!
//! API references: <https://developers.facebook.com/docs/messenger-platform/reference/send-api>,
//! <https://developers.facebook.com/docs/messenger-platform/error-codes>,
//! <https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message>.

use super::Platform;
use crate::bindings::switchboard::channel::types::{
    DeliveryStatus, MediaKind, OutboundContent, OutboundMessage, SendError, SendErrorKind, SendReceipt,
};
use crate::meta::{GraphError, classify_graph_send_error};
use serde_json::{Map, Value, json};

/// The Graph API base used when the `api_base` config value is not set.
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com/v21.0";

/// Throttling: application (4), user (17) and Page (32) request limits, "calls to this API
/// have exceeded the rate limit" (613), and the business-use-case limits of Instagram (80002)
/// and Messenger (80006).
pub const RATE_LIMIT_CODES: [i64; 6] = [4, 17, 32, 613, 80002, 80006];
/// Temporary problems on Meta's side: unknown error (1), service unavailable (2), temporary
/// send message failure (1200).
pub const UNAVAILABLE_CODES: [i64; 3] = [1, 2, 1200];
/// Subcodes of "this message is sent outside of allowed window" (the 24-hour standard
/// messaging window, or 7 days with the `HUMAN_AGENT` tag): Messenger's current and older
/// ones, and Instagram's.
pub const WINDOW_CLOSED_SUBCODES: [i64; 3] = [2018278, 2018065, 2534022];
/// Subcodes of `(#100) No matching user found`, on Messenger and on Instagram.
pub const NO_MATCHING_USER_SUBCODES: [i64; 2] = [2018001, 2534014];
/// "This person isn't available right now": blocked the Page, deactivated, or unreachable.
pub const PERSON_UNAVAILABLE_CODE: i64 = 551;
/// Invalid parameter.
pub const INVALID_PARAMETER_CODE: i64 = 100;
/// Permission errors: app lacks permission (10), permissions error (200), missing
/// `pages_messaging` (230).
pub const PERMISSION_CODES: [i64; 3] = [10, 200, 230];
/// Access token expired, revoked or invalid.
pub const ACCESS_TOKEN_CODE: i64 = 190;

/// `{api_base}/{account_id}/messages`; `api_base` defaults to [`DEFAULT_API_BASE`] and loses
/// any trailing slash.
pub fn messages_url(api_base: Option<&str>, account_id: &str) -> String {
    let base = crate::http::api_base(api_base, DEFAULT_API_BASE);
    format!("{base}/{}/messages", account_id.trim())
}

/// The JSON body of a Send API `POST /{id}/messages` for `message`:
///
/// - `recipient.id` is the customer's page- or Instagram-scoped id (the party id);
/// - with `messaging_tag` (e.g. `HUMAN_AGENT`) `"messaging_type": "MESSAGE_TAG"` and the tag;
///   otherwise, where the platform wants one, `"messaging_type": "RESPONSE"`;
/// - text as `message.text`; media as `message.attachment` of type `image` (stickers too),
///   `audio`, `video` or `file` (documents and other files) by URL. The Send API has no media
///   captions or file names, so those are not sent (the caller logs the dropped caption);
/// - templates are not supported: a non-retryable `unsupported` error.
///
/// Content the API would refuse anyway (no recipient, empty text or URL) is refused here as a
/// non-retryable error, without calling the API.
pub fn build_send_body(platform: &Platform, message: &OutboundMessage, messaging_tag: Option<&str>) -> Result<Value, SendError> {
    let recipient = message.recipient.id.trim();
    if recipient.is_empty() {
        return Err(SendError::new(SendErrorKind::InvalidRecipient, "recipient has no page- or Instagram-scoped id", false));
    }
    let mut body = Map::new();
    body.insert("recipient".into(), json!({ "id": recipient }));
    match messaging_tag.map(str::trim).filter(|tag| !tag.is_empty()) {
        Some(tag) => {
            body.insert("messaging_type".into(), json!("MESSAGE_TAG"));
            body.insert("tag".into(), json!(tag));
        }
        None if platform.messaging_type => {
            body.insert("messaging_type".into(), json!("RESPONSE"));
        }
        None => {}
    }
    let content = match &message.content {
        OutboundContent::Text(text) => {
            if text.trim().is_empty() {
                return Err(SendError::new(SendErrorKind::InvalidRequest, "text message body is empty", false));
            }
            json!({ "text": text })
        }
        OutboundContent::Media(media) => {
            if media.url.trim().is_empty() {
                return Err(SendError::new(SendErrorKind::InvalidRequest, "media URL is empty", false));
            }
            let mut payload = Map::new();
            payload.insert("url".into(), json!(media.url.trim()));
            if platform.reusable_attachments {
                payload.insert("is_reusable".into(), json!(true));
            }
            json!({ "attachment": { "type": attachment_type(media.kind), "payload": payload } })
        }
        OutboundContent::Template(_) => {
            return Err(SendError::new(
                SendErrorKind::Unsupported,
                format!("{} has no pre-approved templates; send text or media", platform.name),
                false,
            ));
        }
    };
    body.insert("message".into(), content);
    Ok(Value::Object(body))
}

/// The Send API attachment type for a media kind.
pub fn attachment_type(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image | MediaKind::Sticker => "image",
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
        MediaKind::Document | MediaKind::File => "file",
    }
}

/// Turn the Send API's answer into a receipt (2xx with `message_id`) or an error.
pub fn interpret_send_response(platform: &Platform, status: u16, headers: &[(String, String)], body: &[u8]) -> Result<SendReceipt, SendError> {
    if !(200..300).contains(&status) {
        return Err(classify_send_error(platform, status, headers, body));
    }
    let external_id = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| value.get("message_id")?.as_str().map(str::to_owned))
        .filter(|id| !id.trim().is_empty());
    match external_id {
        Some(external_id) => Ok(SendReceipt { external_id, status: DeliveryStatus::Sent }),
        // Possibly sent: not retried, so the customer does not get it twice.
        None => Err(SendError::new(
            SendErrorKind::Other,
            format!("{} answered HTTP {status} without a message_id", platform.name),
            false,
        )),
    }
}

/// Classify a non-2xx Send API answer by its Graph error code and subcode, then by HTTP status:
///
/// - `429`, or codes 4, 17, 32, 613, 80002, 80006: rate-limited, retryable, with `Retry-After`;
/// - `5xx`, or codes 1, 2, 1200: unavailable, retryable;
/// - outside the messaging window (subcodes 2018278, 2018065, 2534022, or code 10 / 200
///   saying "outside of allowed window"): window-closed;
/// - code 551, or code 100 "No matching user found" (subcodes 2018001, 2534014): invalid
///   recipient;
/// - 190 (token) and 10, 200, 230 (permissions): unauthorized;
/// - anything else: [`SendError::from_status`] (a `400` is an invalid request).
///
/// Only rate limits and outages are retryable. `code` is the Graph code.
pub fn classify_send_error(platform: &Platform, status: u16, headers: &[(String, String)], body: &[u8]) -> SendError {
    classify_graph_send_error(status, headers, body, &format!("{} Send API", platform.name), classify_code)
}

fn classify_code(error: &GraphError) -> Option<(SendErrorKind, bool)> {
    let code = error.code?;
    let subcode = error.error_subcode;
    let message = error.message.to_ascii_lowercase();
    let in_subcodes = |subcodes: &[i64]| subcode.is_some_and(|subcode| subcodes.contains(&subcode));
    if in_subcodes(&WINDOW_CLOSED_SUBCODES) || (matches!(code, 10 | 200) && message.contains("outside of allowed window")) {
        return Some((SendErrorKind::WindowClosed, false));
    }
    match code {
        c if RATE_LIMIT_CODES.contains(&c) => Some((SendErrorKind::RateLimited, true)),
        c if UNAVAILABLE_CODES.contains(&c) => Some((SendErrorKind::Unavailable, true)),
        PERSON_UNAVAILABLE_CODE => Some((SendErrorKind::InvalidRecipient, false)),
        INVALID_PARAMETER_CODE if in_subcodes(&NO_MATCHING_USER_SUBCODES) || message.contains("no matching user") => {
            Some((SendErrorKind::InvalidRecipient, false))
        }
        ACCESS_TOKEN_CODE => Some((SendErrorKind::Unauthorized, false)),
        c if PERMISSION_CODES.contains(&c) => Some((SendErrorKind::Unauthorized, false)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::switchboard::channel::types::{OutboundMedia, Party, Template};
    use crate::meta_messaging::{INSTAGRAM, MESSENGER};

    const PSID: &str = "6839371836123456";

    fn outbound(content: OutboundContent) -> OutboundMessage {
        OutboundMessage {
            message_id: "42".into(),
            recipient: Party { id: PSID.into(), phone: None, email: None, display_name: None, username: None },
            content,
            reply_to: None,
        }
    }

    fn media(kind: MediaKind, caption: Option<&str>) -> OutboundContent {
        OutboundContent::Media(OutboundMedia {
            kind,
            url: "https://cdn.example.com/files/recibo.pdf".into(),
            caption: caption.map(Into::into),
            filename: Some("recibo.pdf".into()),
            mime_type: Some("application/pdf".into()),
        })
    }

    fn graph_body(code: i64, subcode: Option<i64>, message: &str) -> Vec<u8> {
        let mut error = json!({"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"});
        if let Some(subcode) = subcode {
            error["error_subcode"] = json!(subcode);
        }
        json!({ "error": error }).to_string().into_bytes()
    }

    #[test]
    fn url_building() {
        assert_eq!(messages_url(None, "104325212345678"), "https://graph.facebook.com/v21.0/104325212345678/messages");
        assert_eq!(messages_url(Some(" "), "1"), "https://graph.facebook.com/v21.0/1/messages");
        assert_eq!(messages_url(Some("http://127.0.0.1:9000/v21.0/"), "17841400000000000"), "http://127.0.0.1:9000/v21.0/17841400000000000/messages");
    }

    #[test]
    fn text_bodies_per_platform_and_tag() {
        let text = outbound(OutboundContent::Text("Claro, José! 📦".into()));
        assert_eq!(
            build_send_body(&MESSENGER, &text, None).unwrap(),
            json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "Claro, José! 📦"}})
        );
        assert_eq!(
            build_send_body(&MESSENGER, &text, Some("HUMAN_AGENT")).unwrap(),
            json!({"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT", "message": {"text": "Claro, José! 📦"}})
        );
        assert_eq!(build_send_body(&MESSENGER, &text, Some("  ")).unwrap()["messaging_type"], json!("RESPONSE"));
        assert_eq!(
            build_send_body(&INSTAGRAM, &text, None).unwrap(),
            json!({"recipient": {"id": PSID}, "message": {"text": "Claro, José! 📦"}})
        );
        assert_eq!(build_send_body(&INSTAGRAM, &text, Some("HUMAN_AGENT")).unwrap()["tag"], json!("HUMAN_AGENT"));
    }

    #[test]
    fn media_bodies() {
        for (kind, name) in [
            (MediaKind::Image, "image"),
            (MediaKind::Sticker, "image"),
            (MediaKind::Audio, "audio"),
            (MediaKind::Video, "video"),
            (MediaKind::Document, "file"),
            (MediaKind::File, "file"),
        ] {
            let body = build_send_body(&MESSENGER, &outbound(media(kind, Some("Recibo"))), None).unwrap();
            assert_eq!(
                body["message"],
                json!({"attachment": {"type": name, "payload": {"url": "https://cdn.example.com/files/recibo.pdf", "is_reusable": true}}}),
                "{kind:?}"
            );
            let instagram = build_send_body(&INSTAGRAM, &outbound(media(kind, None)), None).unwrap();
            assert_eq!(instagram["message"]["attachment"]["payload"], json!({"url": "https://cdn.example.com/files/recibo.pdf"}));
        }
    }

    #[test]
    fn refused_before_calling_the_api() {
        let mut nobody = outbound(OutboundContent::Text("hi".into()));
        nobody.recipient.id = " ".into();
        let error = build_send_body(&MESSENGER, &nobody, None).unwrap_err();
        assert_eq!((error.kind, error.retryable), (SendErrorKind::InvalidRecipient, false));
        let error = build_send_body(&MESSENGER, &outbound(OutboundContent::Text(" \n".into())), None).unwrap_err();
        assert_eq!((error.kind, error.retryable), (SendErrorKind::InvalidRequest, false));
        let template = OutboundContent::Template(Template { name: "t".into(), language: "en".into(), parameters: vec![] });
        let error = build_send_body(&INSTAGRAM, &outbound(template), None).unwrap_err();
        assert_eq!((error.kind, error.retryable), (SendErrorKind::Unsupported, false));
        assert!(error.message.contains("Instagram"));
    }

    #[test]
    fn success_needs_a_message_id() {
        let ok = br#"{"recipient_id":"6839371836123456","message_id":"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"}"#;
        let receipt = interpret_send_response(&MESSENGER, 200, &[], ok).unwrap();
        assert_eq!(receipt.external_id, "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P");
        assert_eq!(receipt.status, DeliveryStatus::Sent);
        for body in [&b"{}"[..], b"not json", br#"{"message_id":""}"#, br#"{"message_id":7}"#] {
            let error = interpret_send_response(&INSTAGRAM, 200, &[], body).unwrap_err();
            assert_eq!((error.kind, error.retryable), (SendErrorKind::Other, false));
            assert!(error.message.contains("Instagram"));
        }
    }

    #[test]
    fn error_classification() {
        use SendErrorKind::*;
        let cases = [
            (400, 4, None, "(#4) Application request limit reached", RateLimited, true),
            (400, 17, None, "(#17) User request limit reached", RateLimited, true),
            (400, 32, None, "(#32) Page request limit reached", RateLimited, true),
            (400, 613, None, "(#613) Calls to this api have exceeded the rate limit.", RateLimited, true),
            (400, 80006, None, "There have been too many messages sent to this Page", RateLimited, true),
            (500, 1, None, "An unknown error occurred", Unavailable, true),
            (400, 2, None, "An unexpected error has occurred. Please retry your request later.", Unavailable, true),
            (400, 1200, None, "Temporary send message failure. Please try again later", Unavailable, true),
            (400, 10, Some(2018278), "(#10) This message is sent outside of allowed window.", WindowClosed, false),
            (400, 10, Some(2534022), "This message is sent outside of allowed window.", WindowClosed, false),
            (400, 10, None, "(#10) This message is sent outside of allowed window. Learn more", WindowClosed, false),
            (403, 200, None, "(#200) This message is sent outside of allowed window", WindowClosed, false),
            (400, 100, Some(2018001), "(#100) No matching user found", InvalidRecipient, false),
            (400, 100, Some(2534014), "No matching user found", InvalidRecipient, false),
            (400, 551, Some(1545041), "(#551) This person isn't available right now.", InvalidRecipient, false),
            (401, 190, None, "Error validating access token: Session has expired", Unauthorized, false),
            (400, 190, Some(460), "Invalid OAuth access token.", Unauthorized, false),
            (400, 10, None, "(#10) Application does not have permission for this action", Unauthorized, false),
            (400, 230, None, "(#230) Requires pages_messaging permission to manage the object", Unauthorized, false),
            (400, 100, None, "(#100) Param recipient[id] must be a valid ID string", InvalidRequest, false),
        ];
        for (status, code, subcode, message, kind, retryable) in cases {
            let error = classify_send_error(&MESSENGER, status, &[], &graph_body(code, subcode, message));
            assert_eq!((error.kind, error.retryable), (kind, retryable), "HTTP {status} code {code} subcode {subcode:?}");
            assert_eq!(error.code.as_deref(), Some(code.to_string().as_str()));
            assert_eq!(error.message, message);
        }
    }

    #[test]
    fn statuses_retry_after_and_non_graph_bodies() {
        let headers = vec![("Retry-After".to_string(), "12".to_string())];
        let throttled = classify_send_error(&MESSENGER, 429, &headers, b"<html>Too Many Requests</html>");
        assert_eq!((throttled.kind, throttled.retryable, throttled.retry_after_ms), (SendErrorKind::RateLimited, true, Some(12_000)));
        assert_eq!(throttled.code, None);
        assert_eq!(throttled.message, "Messenger Send API answered HTTP 429");

        let by_code = classify_send_error(&INSTAGRAM, 400, &headers, &graph_body(613, None, "rate"));
        assert_eq!(by_code.retry_after_ms, Some(12_000));
        let without_header = classify_send_error(&INSTAGRAM, 400, &[], &graph_body(613, None, "rate"));
        assert_eq!(without_header.retry_after_ms, None);

        for status in [500, 502, 503, 504] {
            let outage = classify_send_error(&MESSENGER, status, &[], b"Bad Gateway");
            assert_eq!((outage.kind, outage.retryable), (SendErrorKind::Unavailable, true), "{status}");
        }
        let window_on_500 = classify_send_error(&MESSENGER, 500, &[], &graph_body(10, Some(2018278), "outside"));
        assert_eq!(window_on_500.kind, SendErrorKind::WindowClosed, "the code decides before the status");

        let unknown = classify_send_error(&MESSENGER, 400, &[], &graph_body(1_234_567, None, "something new"));
        assert_eq!((unknown.kind, unknown.retryable), (SendErrorKind::InvalidRequest, false));
        let unauthorized = classify_send_error(&MESSENGER, 401, &[], b"");
        assert_eq!((unauthorized.kind, unauthorized.retryable), (SendErrorKind::Unauthorized, false));

        let via_interpret = interpret_send_response(&MESSENGER, 400, &[], &graph_body(10, Some(2018278), "outside")).unwrap_err();
        assert_eq!(via_interpret.kind, SendErrorKind::WindowClosed);
        assert_eq!(via_interpret.code.as_deref(), Some("10"));
    }
}
