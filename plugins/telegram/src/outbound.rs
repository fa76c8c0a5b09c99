//! Switchboard outbound messages → Telegram Bot API calls, and the API's answers → receipts
//! or [`SendError`]s.
//!
//! Everything here is pure: no host imports are called, so it runs (and is tested) natively.
//!
//! API reference: <https://core.telegram.org/bots/api#available-methods> (sendMessage,
//! sendPhoto, sendDocument, sendAudio, sendVideo, sendSticker) and
//! <https://core.telegram.org/bots/api#making-requests> (the `{"ok": false, ...}` error shape).

use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchboard_sdk::prelude::*;

/// Used when the `api_base` config value is not set.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";

/// One Bot API call: the method name and its JSON parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    pub method: &'static str,
    pub body: Value,
}

/// `{api_base}/bot{token}/{method}`; `api_base` defaults to [`DEFAULT_API_BASE`] and loses any
/// trailing slash. The URL carries the bot token: never log it.
pub fn method_url(api_base: Option<&str>, bot_token: &str, method: &str) -> String {
    let base = switchboard_sdk::http::api_base(api_base, DEFAULT_API_BASE);
    format!("{base}/bot{}/{method}", bot_token.trim())
}

/// The bot's own id: the part of the token before `:` (`123456789:AA…`).
pub fn bot_id(bot_token: &str) -> Option<&str> {
    let (id, _) = bot_token.trim().split_once(':')?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// `chat_id` as Telegram takes it: an integer, or a string such as `@channelusername`.
pub fn chat_id(recipient: &Party) -> Option<Value> {
    let id = recipient.id.trim();
    if id.is_empty() {
        return None;
    }
    Some(id.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(id.to_owned())))
}

/// The Telegram `message_id` in one of our external ids: `"{chat}:{message}"` (also an edit's
/// `"{chat}:{message}:edit:{date}"`), or a bare message id.
pub fn reply_message_id(reply_to: &str) -> Option<i64> {
    let mut parts = reply_to.trim().split(':');
    let first = parts.next()?;
    match parts.next() {
        Some(message) => message.parse().ok(),
        None => first.parse().ok(),
    }
}

/// The Bot API call for `message`: `sendMessage` for text; `sendPhoto`, `sendDocument`,
/// `sendAudio`, `sendVideo` or `sendSticker` for media by URL (with the caption). A `reply_to`
/// becomes `reply_parameters` (sent even if the original was deleted). Templates are not a
/// Telegram concept and are refused as [`SendErrorKind::Unsupported`].
pub fn build_call(message: &OutboundMessage) -> Result<ApiCall, SendError> {
    let chat_id = chat_id(&message.recipient)
        .ok_or_else(|| SendError::new(SendErrorKind::InvalidRecipient, "recipient has no chat id", false))?;
    let mut body = Map::new();
    body.insert("chat_id".into(), chat_id);
    let method = match &message.content {
        OutboundContent::Text(text) => {
            if text.trim().is_empty() {
                return Err(SendError::new(SendErrorKind::InvalidRequest, "text message body is empty", false));
            }
            body.insert("text".into(), json!(text));
            "sendMessage"
        }
        OutboundContent::Media(media) => {
            if media.url.trim().is_empty() {
                return Err(SendError::new(SendErrorKind::InvalidRequest, "media URL is empty", false));
            }
            let (method, field) = match media.kind {
                MediaKind::Image => ("sendPhoto", "photo"),
                MediaKind::Audio => ("sendAudio", "audio"),
                MediaKind::Video => ("sendVideo", "video"),
                MediaKind::Sticker => ("sendSticker", "sticker"),
                MediaKind::Document | MediaKind::File => ("sendDocument", "document"),
            };
            body.insert(field.into(), json!(media.url));
            if let Some(caption) = media.caption.as_deref().filter(|c| !c.trim().is_empty())
                && method != "sendSticker"
            {
                body.insert("caption".into(), json!(caption));
            }
            method
        }
        OutboundContent::Template(_) => {
            return Err(SendError::new(SendErrorKind::Unsupported, "Telegram has no templates; send text instead", false));
        }
    };
    if let Some(reply_id) = message.reply_to.as_deref().and_then(reply_message_id) {
        body.insert("reply_parameters".into(), json!({"message_id": reply_id, "allow_sending_without_reply": true}));
    }
    Ok(ApiCall { method, body: Value::Object(body) })
}

/// The Bot API envelope: `{"ok": true, "result": …}` or
/// `{"ok": false, "error_code": 429, "description": "…", "parameters": {"retry_after": 5}}`.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub ok: bool,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<ResponseParameters>,
}

#[derive(Debug, Deserialize)]
pub struct ResponseParameters {
    #[serde(default)]
    pub retry_after: Option<u64>,
    #[serde(default)]
    pub migrate_to_chat_id: Option<i64>,
}

/// Turn the Bot API's answer into a receipt (`ok` with `result.message_id`) or an error. The
/// external id is `"{chat_id}:{message_id}"`, like inbound messages; status `sent`.
pub fn interpret_send_response(status: u16, headers: &[(String, String)], body: &[u8]) -> Result<SendReceipt, SendError> {
    let envelope = serde_json::from_slice::<Envelope>(body).ok();
    let ok = envelope.as_ref().is_some_and(|envelope| envelope.ok);
    if !(200..300).contains(&status) || !ok {
        return Err(classify_send_error(status, headers, body));
    }
    let result = envelope.and_then(|envelope| envelope.result).unwrap_or(Value::Null);
    let message_id = result.get("message_id").and_then(Value::as_i64);
    let chat_id = result.get("chat").and_then(|chat| chat.get("id")).and_then(Value::as_i64);
    match (chat_id, message_id) {
        (Some(chat_id), Some(message_id)) => {
            Ok(SendReceipt { external_id: format!("{chat_id}:{message_id}"), status: DeliveryStatus::Sent })
        }
        _ => Err(SendError::new(SendErrorKind::Other, "Telegram answered ok without result.message_id and chat.id", false)),
    }
}

/// Classify a failed Bot API answer by `error_code` (the HTTP status when absent) and
/// `description`:
///
/// - 429: rate-limited, retryable, after `parameters.retry_after` seconds (else `Retry-After`);
/// - 5xx: unavailable, retryable;
/// - 401: unauthorized (wrong bot token);
/// - 403 "bot was blocked by the user": opted out; other 403s (user deactivated, bot kicked
///   from the group, bot cannot initiate the conversation): invalid recipient;
/// - 400 "chat not found", "user not found", "PEER_ID_INVALID", or a group that migrated to a
///   supergroup: invalid recipient; other 400s: invalid request;
///
/// all final except 429 and 5xx. `code` is the `error_code`.
pub fn classify_send_error(status: u16, headers: &[(String, String)], body: &[u8]) -> SendError {
    let envelope = serde_json::from_slice::<Envelope>(body).ok();
    let code = envelope.as_ref().and_then(|envelope| envelope.error_code);
    let effective = code.and_then(|code| u16::try_from(code).ok()).filter(|code| (400..600).contains(code)).unwrap_or(status);
    let description = envelope
        .as_ref()
        .and_then(|envelope| envelope.description.as_deref())
        .map(str::trim)
        .filter(|description| !description.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Telegram answered HTTP {status}"));
    let lower = description.to_ascii_lowercase();
    let parameters = envelope.as_ref().and_then(|envelope| envelope.parameters.as_ref());

    let (kind, retryable) = match effective {
        429 => (SendErrorKind::RateLimited, true),
        500..=599 => (SendErrorKind::Unavailable, true),
        401 => (SendErrorKind::Unauthorized, false),
        403 if lower.contains("blocked by the user") => (SendErrorKind::OptedOut, false),
        403 => (SendErrorKind::InvalidRecipient, false),
        400 if lower.contains("chat not found")
            || lower.contains("user not found")
            || lower.contains("peer_id_invalid")
            || parameters.is_some_and(|p| p.migrate_to_chat_id.is_some()) =>
        {
            (SendErrorKind::InvalidRecipient, false)
        }
        400 => (SendErrorKind::InvalidRequest, false),
        _ if status < 300 => (SendErrorKind::Other, false),
        _ => {
            let error = SendError::from_status(effective, description.clone());
            (error.kind, error.retryable)
        }
    };
    let message = match parameters.and_then(|p| p.migrate_to_chat_id) {
        Some(new_id) => format!("{description} (the group is now supergroup {new_id})"),
        None => description,
    };
    let mut error = SendError::new(kind, message, retryable);
    if kind == SendErrorKind::RateLimited {
        let from_body = parameters.and_then(|p| p.retry_after).map(|seconds| seconds.saturating_mul(1000));
        let from_header = || {
            switchboard_sdk::http::retry_after_ms(&HttpResponse { status, headers: headers.to_vec(), body: Vec::new() })
        };
        error = error.with_retry_after_ms(from_body.or_else(from_header));
    }
    if let Some(code) = code {
        error = error.with_code(code.to_string());
    }
    error
}

/// Remove every occurrence of `secret` from `text` (transport errors may quote the request
/// URL, which holds the bot token).
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() { text.to_owned() } else { text.replace(secret, "<bot_token>") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(id: &str) -> Party {
        Party { id: id.into(), phone: None, email: None, display_name: Some("Анна".into()), username: None }
    }

    fn outbound(content: OutboundContent, reply_to: Option<&str>) -> OutboundMessage {
        OutboundMessage { message_id: "7".into(), recipient: party("284619037"), content, reply_to: reply_to.map(Into::into) }
    }

    fn media(kind: MediaKind, caption: Option<&str>) -> OutboundContent {
        OutboundContent::Media(OutboundMedia {
            kind,
            url: "https://cdn.example.com/f.bin".into(),
            caption: caption.map(Into::into),
            filename: None,
            mime_type: None,
        })
    }

    fn error_body(code: i64, description: &str, parameters: Option<Value>) -> Vec<u8> {
        let mut body = json!({"ok": false, "error_code": code, "description": description});
        if let Some(parameters) = parameters {
            body["parameters"] = parameters;
        }
        body.to_string().into_bytes()
    }

    #[test]
    fn urls_and_ids() {
        let token = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        assert_eq!(
            method_url(None, token, "sendMessage"),
            "https://api.telegram.org/bot7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage"
        );
        assert_eq!(method_url(Some("http://127.0.0.1:8081/"), "1:x", "sendPhoto"), "http://127.0.0.1:8081/bot1:x/sendPhoto");
        assert_eq!(bot_id(token), Some("7012345678"));
        assert_eq!(bot_id("nonsense"), None);
        assert_eq!(bot_id(":abc"), None);
        assert_eq!(chat_id(&party("-1001234567890")), Some(json!(-1001234567890_i64)));
        assert_eq!(chat_id(&party("@loja_canal")), Some(json!("@loja_canal")));
        assert_eq!(chat_id(&party(" ")), None);
        assert_eq!(reply_message_id("284619037:1288"), Some(1288));
        assert_eq!(reply_message_id("-1001234567890:9:edit:1750000000"), Some(9));
        assert_eq!(reply_message_id("1288"), Some(1288));
        assert_eq!(reply_message_id("wamid.X"), None);
        assert_eq!(reply_message_id("1:x"), None);
    }

    #[test]
    fn text_call() {
        let call = build_call(&outbound(OutboundContent::Text("Добрый день! Заказ уже в пути 🚚".into()), None)).unwrap();
        assert_eq!(call.method, "sendMessage");
        assert_eq!(call.body, json!({"chat_id": 284619037, "text": "Добрый день! Заказ уже в пути 🚚"}));

        let reply = build_call(&outbound(OutboundContent::Text("sim".into()), Some("284619037:1288"))).unwrap();
        assert_eq!(reply.body["reply_parameters"], json!({"message_id": 1288, "allow_sending_without_reply": true}));
        let unrelated = build_call(&outbound(OutboundContent::Text("sim".into()), Some("garbage"))).unwrap();
        assert!(unrelated.body.get("reply_parameters").is_none());

        let empty = build_call(&outbound(OutboundContent::Text("  ".into()), None)).unwrap_err();
        assert_eq!((empty.kind, empty.retryable), (SendErrorKind::InvalidRequest, false));
        let nobody = build_call(&OutboundMessage { recipient: party(""), ..outbound(OutboundContent::Text("x".into()), None) }).unwrap_err();
        assert_eq!(nobody.kind, SendErrorKind::InvalidRecipient);
    }

    #[test]
    fn media_calls() {
        let cases = [
            (MediaKind::Image, "sendPhoto", "photo"),
            (MediaKind::Document, "sendDocument", "document"),
            (MediaKind::File, "sendDocument", "document"),
            (MediaKind::Audio, "sendAudio", "audio"),
            (MediaKind::Video, "sendVideo", "video"),
        ];
        for (kind, method, field) in cases {
            let call = build_call(&outbound(media(kind, Some("Чек 🧾")), Some("284619037:5"))).unwrap();
            assert_eq!(call.method, method);
            assert_eq!(call.body[field], json!("https://cdn.example.com/f.bin"));
            assert_eq!(call.body["caption"], json!("Чек 🧾"));
            assert_eq!(call.body["reply_parameters"]["message_id"], json!(5));
        }
        let sticker = build_call(&outbound(media(MediaKind::Sticker, Some("no captions")), None)).unwrap();
        assert_eq!(sticker.method, "sendSticker");
        assert!(sticker.body.get("caption").is_none());

        let template = OutboundContent::Template(Template { name: "t".into(), language: "ru".into(), parameters: vec![] });
        let error = build_call(&outbound(template, None)).unwrap_err();
        assert_eq!((error.kind, error.retryable), (SendErrorKind::Unsupported, false));
    }

    #[test]
    fn success_receipt() {
        let body = json!({
            "ok": true,
            "result": {
                "message_id": 1301,
                "from": {"id": 7012345678_i64, "is_bot": true, "first_name": "Loja Suporte", "username": "loja_suporte_bot"},
                "chat": {"id": 284619037, "first_name": "Анна", "last_name": "Кузнецова", "username": "anna_kuz", "type": "private"},
                "date": 1750003600,
                "text": "Добрый день! Заказ уже в пути 🚚"
            }
        });
        let receipt = interpret_send_response(200, &[], body.to_string().as_bytes()).unwrap();
        assert_eq!(receipt.external_id, "284619037:1301");
        assert_eq!(receipt.status, DeliveryStatus::Sent);

        for body in [&br#"{"ok":true,"result":true}"#[..], br#"{"ok":true,"result":{"message_id":1}}"#, b"{}", b"<html>"] {
            let error = interpret_send_response(200, &[], body).unwrap_err();
            assert_eq!(error.kind, SendErrorKind::Other, "{}", String::from_utf8_lossy(body));
            assert!(!error.retryable);
        }
    }

    #[test]
    fn error_classification() {
        let limited = classify_send_error(
            429,
            &[],
            &error_body(429, "Too Many Requests: retry after 5", Some(json!({"retry_after": 5}))),
        );
        assert_eq!((limited.kind, limited.retryable, limited.retry_after_ms), (SendErrorKind::RateLimited, true, Some(5000)));
        assert_eq!(limited.code.as_deref(), Some("429"));
        assert_eq!(limited.message, "Too Many Requests: retry after 5");
        let header_only = classify_send_error(429, &[("retry-after".into(), "2".into())], b"");
        assert_eq!(header_only.retry_after_ms, Some(2000));

        let cases = [
            (500, "Internal Server Error", SendErrorKind::Unavailable, true),
            (502, "Bad Gateway", SendErrorKind::Unavailable, true),
            (401, "Unauthorized", SendErrorKind::Unauthorized, false),
            (403, "Forbidden: bot was blocked by the user", SendErrorKind::OptedOut, false),
            (403, "Forbidden: user is deactivated", SendErrorKind::InvalidRecipient, false),
            (403, "Forbidden: bot was kicked from the group chat", SendErrorKind::InvalidRecipient, false),
            (403, "Forbidden: bot can't initiate conversation with a user", SendErrorKind::InvalidRecipient, false),
            (400, "Bad Request: chat not found", SendErrorKind::InvalidRecipient, false),
            (400, "Bad Request: PEER_ID_INVALID", SendErrorKind::InvalidRecipient, false),
            (400, "Bad Request: message is too long", SendErrorKind::InvalidRequest, false),
            (400, "Bad Request: wrong file identifier/HTTP URL specified", SendErrorKind::InvalidRequest, false),
            (404, "Not Found", SendErrorKind::InvalidRequest, false),
        ];
        for (code, description, kind, retryable) in cases {
            let error = classify_send_error(code as u16, &[], &error_body(code, description, None));
            assert_eq!((error.kind, error.retryable), (kind, retryable), "{code} {description}");
            assert_eq!(error.code.as_deref(), Some(code.to_string().as_str()));
            assert_eq!(error.message, description);
        }

        let migrated = classify_send_error(
            400,
            &[],
            &error_body(400, "Bad Request: group chat was upgraded to a supergroup chat", Some(json!({"migrate_to_chat_id": -1001234567890_i64}))),
        );
        assert_eq!(migrated.kind, SendErrorKind::InvalidRecipient);
        assert!(migrated.message.contains("-1001234567890"));

        // `ok: false` inside an HTTP 200 is still a failure.
        let error = interpret_send_response(200, &[], &error_body(400, "Bad Request: chat not found", None)).unwrap_err();
        assert_eq!(error.kind, SendErrorKind::InvalidRecipient);
        // No JSON: by HTTP status.
        let gateway = classify_send_error(504, &[], b"<html>Gateway Time-out</html>");
        assert_eq!((gateway.kind, gateway.retryable, gateway.code), (SendErrorKind::Unavailable, true, None));
    }

    #[test]
    fn redaction() {
        let token = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        let text = format!("connection failed: error sending request for url (https://api.telegram.org/bot{token}/sendMessage)");
        let redacted = redact(&text, token);
        assert!(!redacted.contains(token));
        assert!(redacted.contains("bot<bot_token>/sendMessage"));
        assert_eq!(redact("x", ""), "x");
    }
}
