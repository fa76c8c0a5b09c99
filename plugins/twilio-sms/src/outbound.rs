//! Switchboard outbound messages → Twilio Programmable Messaging requests, and Twilio's
//! answers → receipts or [`SendError`]s.
//!
//! Everything here is pure: no host imports are called, so it runs (and is tested) natively.
//!
//! API reference: <https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource>
//! and <https://www.twilio.com/docs/api/errors>.

use serde::Deserialize;
use switchboard_sdk::prelude::*;

/// Used when the `api_base` config value is not set.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// "Too Many Requests": the account's API concurrency or rate limit.
const RATE_LIMIT_CODE: i64 = 20429;
/// The recipient replied STOP to this sender (or Messaging Service).
const OPTED_OUT_CODE: i64 = 21610;
/// Invalid 'To' number (21211), not reachable via SMS (21612), not a mobile number (21614).
const INVALID_RECIPIENT_CODES: [i64; 3] = [21211, 21612, 21614];
/// Authentication failed: wrong account SID or auth token.
const AUTHENTICATION_CODE: i64 = 20003;

/// Who the message is sent from: a phone number (`From`) or a Messaging Service, which picks
/// the number itself (`MessagingServiceSid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    From(String),
    MessagingService(String),
}

/// `{api_base}/2010-04-01/Accounts/{account_sid}/Messages.json`; `api_base` defaults to
/// [`DEFAULT_API_BASE`] and loses any trailing slash.
pub fn messages_url(api_base: Option<&str>, account_sid: &str) -> String {
    let base = switchboard_sdk::http::api_base(api_base, DEFAULT_API_BASE);
    format!("{base}/2010-04-01/Accounts/{}/Messages.json", account_sid.trim())
}

/// The `To` of a send: the recipient's phone number (E.164, as the host stores it), else the
/// party id (the `From` we received, also E.164).
pub fn recipient_address(recipient: &Party) -> Option<String> {
    let phone = recipient.phone.as_deref().map(str::trim).filter(|phone| !phone.is_empty());
    let id = Some(recipient.id.trim()).filter(|id| !id.is_empty());
    phone.or(id).map(str::to_owned)
}

/// The form parameters of a Create Message request for `message`, in order.
///
/// Text becomes `Body`; media becomes `MediaUrl` (with the caption as `Body`). `status_callback`,
/// when configured, asks Twilio to report delivery progress there. Templates are not an SMS
/// concept: they are refused as [`SendErrorKind::Unsupported`], as is empty content.
pub fn build_form(message: &OutboundMessage, sender: &Sender, status_callback: Option<&str>) -> Result<Vec<(String, String)>, SendError> {
    let to = recipient_address(&message.recipient).ok_or_else(|| {
        SendError::new(SendErrorKind::InvalidRecipient, "recipient has neither a phone number nor an id", false)
    })?;
    let mut form = vec![("To".to_string(), to)];
    match sender {
        Sender::From(from) => form.push(("From".into(), from.clone())),
        Sender::MessagingService(sid) => form.push(("MessagingServiceSid".into(), sid.clone())),
    }
    match &message.content {
        OutboundContent::Text(text) => {
            if text.trim().is_empty() {
                return Err(SendError::new(SendErrorKind::InvalidRequest, "text message body is empty", false));
            }
            form.push(("Body".into(), text.clone()));
        }
        OutboundContent::Media(media) => {
            if media.url.trim().is_empty() {
                return Err(SendError::new(SendErrorKind::InvalidRequest, "media URL is empty", false));
            }
            if let Some(caption) = media.caption.as_deref().filter(|caption| !caption.trim().is_empty()) {
                form.push(("Body".into(), caption.to_owned()));
            }
            form.push(("MediaUrl".into(), media.url.clone()));
        }
        OutboundContent::Template(_) => {
            return Err(SendError::new(SendErrorKind::Unsupported, "Twilio SMS has no templates; send text instead", false));
        }
    }
    if let Some(url) = status_callback.map(str::trim).filter(|url| !url.is_empty()) {
        form.push(("StatusCallback".into(), url.to_owned()));
    }
    Ok(form)
}

#[derive(Debug, Deserialize)]
struct CreatedMessage {
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// Twilio's REST error body: `{"code": 21211, "message": "...", "more_info": "...", "status": 400}`.
#[derive(Debug, Deserialize)]
pub struct TwilioError {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub more_info: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
}

/// Parse a Twilio error body, if it is one.
pub fn twilio_error(body: &[u8]) -> Option<TwilioError> {
    serde_json::from_slice::<TwilioError>(body).ok().filter(|error| error.code.is_some() || error.message.is_some())
}

/// Turn Twilio's answer into a receipt (2xx with a `sid`) or an error.
///
/// The receipt is `queued` unless Twilio already says `sent`: Twilio answers `201` as soon as
/// it has queued the message; status callbacks report the rest.
pub fn interpret_send_response(status: u16, headers: &[(String, String)], body: &[u8]) -> Result<SendReceipt, SendError> {
    if !(200..300).contains(&status) {
        return Err(classify_send_error(status, headers, body));
    }
    let created = serde_json::from_slice::<CreatedMessage>(body).ok();
    let sid = created.as_ref().and_then(|created| created.sid.clone()).filter(|sid| !sid.is_empty());
    let Some(external_id) = sid else {
        return Err(SendError::new(SendErrorKind::Other, format!("Twilio answered HTTP {status} without a message sid"), false));
    };
    let delivery = match created.and_then(|created| created.status).as_deref() {
        Some("sent") => DeliveryStatus::Sent,
        Some("delivered") => DeliveryStatus::Delivered,
        _ => DeliveryStatus::Queued,
    };
    Ok(SendReceipt { external_id, status: delivery })
}

/// Classify a non-2xx Twilio answer by its error code, then by HTTP status.
///
/// - `429`, or code 20429: rate-limited, retryable, with `Retry-After` when given;
/// - `5xx`: unavailable, retryable;
/// - 21610: the recipient opted out (replied STOP); 21211, 21612, 21614: invalid recipient;
///   20003 or `401`: unauthorized (all final);
/// - anything else: [`SendError::from_status`].
pub fn classify_send_error(status: u16, headers: &[(String, String)], body: &[u8]) -> SendError {
    let parsed = twilio_error(body);
    let code = parsed.as_ref().and_then(|error| error.code);
    let message = parsed
        .as_ref()
        .and_then(|error| error.message.as_deref())
        .map(str::trim)
        .filter(|message| !message.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Twilio answered HTTP {status}"));
    let by_code = code.and_then(|code| match code {
        RATE_LIMIT_CODE => Some((SendErrorKind::RateLimited, true)),
        OPTED_OUT_CODE => Some((SendErrorKind::OptedOut, false)),
        c if INVALID_RECIPIENT_CODES.contains(&c) => Some((SendErrorKind::InvalidRecipient, false)),
        AUTHENTICATION_CODE => Some((SendErrorKind::Unauthorized, false)),
        _ => None,
    });
    let by_status = || match status {
        429 => Some((SendErrorKind::RateLimited, true)),
        500..=599 => Some((SendErrorKind::Unavailable, true)),
        401 => Some((SendErrorKind::Unauthorized, false)),
        _ => None,
    };
    let mut error = match by_code.or_else(by_status) {
        Some((kind, retryable)) => SendError::new(kind, message, retryable),
        None => SendError::from_status(status, message),
    };
    if error.kind == SendErrorKind::RateLimited {
        let response = HttpResponse { status, headers: headers.to_vec(), body: Vec::new() };
        error = error.with_retry_after_ms(switchboard_sdk::http::retry_after_ms(&response));
    }
    if let Some(code) = code {
        error = error.with_code(code.to_string());
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn party(id: &str, phone: Option<&str>) -> Party {
        Party { id: id.into(), phone: phone.map(Into::into), email: None, display_name: None, username: None }
    }

    fn outbound(content: OutboundContent) -> OutboundMessage {
        OutboundMessage {
            message_id: "42".into(),
            recipient: party("+14155550142", Some("+14155550142")),
            content,
            reply_to: None,
        }
    }

    fn form_of(message: &OutboundMessage, sender: &Sender, callback: Option<&str>) -> Vec<(String, String)> {
        build_form(message, sender, callback).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn error_body(code: i64, message: &str, status: u16) -> Vec<u8> {
        json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn url_building() {
        assert_eq!(
            messages_url(None, "AC1f0e8ae6ade43cb3c0ce4525424e404f"),
            "https://api.twilio.com/2010-04-01/Accounts/AC1f0e8ae6ade43cb3c0ce4525424e404f/Messages.json"
        );
        assert_eq!(messages_url(Some(" "), "AC1"), "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json");
        assert_eq!(messages_url(Some("http://127.0.0.1:9000/"), "AC1"), "http://127.0.0.1:9000/2010-04-01/Accounts/AC1/Messages.json");
    }

    #[test]
    fn text_form() {
        let sender = Sender::From("+15005550006".into());
        let form = form_of(&outbound(OutboundContent::Text("Oi! Já verifiquei 📦".into())), &sender, None);
        assert_eq!(form, pairs(&[("To", "+14155550142"), ("From", "+15005550006"), ("Body", "Oi! Já verifiquei 📦")]));

        let service = Sender::MessagingService("MG9752274e9e519418a7406176694466fa".into());
        let form = form_of(&outbound(OutboundContent::Text("hi".into())), &service, Some("https://switchboard.example/webhooks/sms"));
        assert_eq!(
            form,
            pairs(&[
                ("To", "+14155550142"),
                ("MessagingServiceSid", "MG9752274e9e519418a7406176694466fa"),
                ("Body", "hi"),
                ("StatusCallback", "https://switchboard.example/webhooks/sms"),
            ])
        );
    }

    #[test]
    fn recipient_is_phone_else_id() {
        assert_eq!(recipient_address(&party("+14155550142", None)).as_deref(), Some("+14155550142"));
        assert_eq!(recipient_address(&party("x", Some("+14155550199"))).as_deref(), Some("+14155550199"));
        assert_eq!(recipient_address(&party(" ", None)), None);
        let message = OutboundMessage { recipient: party("", None), ..outbound(OutboundContent::Text("hi".into())) };
        let error = build_form(&message, &Sender::From("+15005550006".into()), None).unwrap_err();
        assert_eq!((error.kind, error.retryable), (SendErrorKind::InvalidRecipient, false));
    }

    #[test]
    fn media_form_and_unsupported_content() {
        let sender = Sender::From("+15005550006".into());
        let media = |caption: Option<&str>| {
            OutboundContent::Media(OutboundMedia {
                kind: MediaKind::Image,
                url: "https://cdn.example.com/receipt.jpg".into(),
                caption: caption.map(Into::into),
                filename: None,
                mime_type: Some("image/jpeg".into()),
            })
        };
        assert_eq!(
            form_of(&outbound(media(Some("Seu recibo 🧾"))), &sender, None),
            pairs(&[
                ("To", "+14155550142"),
                ("From", "+15005550006"),
                ("Body", "Seu recibo 🧾"),
                ("MediaUrl", "https://cdn.example.com/receipt.jpg"),
            ])
        );
        let bare = form_of(&outbound(media(None)), &sender, None);
        assert!(!bare.iter().any(|(k, _)| k == "Body"));

        let template = OutboundContent::Template(Template { name: "x".into(), language: "en".into(), parameters: vec![] });
        let error = build_form(&outbound(template), &sender, None).unwrap_err();
        assert_eq!((error.kind, error.retryable), (SendErrorKind::Unsupported, false));
        let error = build_form(&outbound(OutboundContent::Text(" \n".into())), &sender, None).unwrap_err();
        assert_eq!((error.kind, error.retryable), (SendErrorKind::InvalidRequest, false));
    }

    #[test]
    fn created_message_is_a_queued_receipt() {
        let body = json!({
            "account_sid": "AC1f0e8ae6ade43cb3c0ce4525424e404f",
            "api_version": "2010-04-01",
            "body": "Oi! Já verifiquei 📦",
            "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
            "direction": "outbound-api",
            "error_code": null,
            "from": "+15005550006",
            "num_media": "0",
            "num_segments": "1",
            "sid": "SM5f4e3d2c1b0a99887766554433221100",
            "status": "queued",
            "to": "+14155550142",
            "uri": "/2010-04-01/Accounts/AC1f0e8ae6ade43cb3c0ce4525424e404f/Messages/SM5f4e3d2c1b0a99887766554433221100.json"
        })
        .to_string();
        let receipt = interpret_send_response(201, &[], body.as_bytes()).unwrap();
        assert_eq!(receipt.external_id, "SM5f4e3d2c1b0a99887766554433221100");
        assert_eq!(receipt.status, DeliveryStatus::Queued);
        let accepted = interpret_send_response(201, &[], br#"{"sid":"SM1","status":"accepted"}"#).unwrap();
        assert_eq!(accepted.status, DeliveryStatus::Queued);

        for body in [&b"{}"[..], b"nope", br#"{"sid":""}"#] {
            let error = interpret_send_response(201, &[], body).unwrap_err();
            assert_eq!(error.kind, SendErrorKind::Other);
            assert!(!error.retryable);
        }
    }

    #[test]
    fn error_classification() {
        let retry_after = vec![("Retry-After".to_string(), "3".to_string())];
        type Case<'a> = (u16, i64, &'a [(String, String)], SendErrorKind, bool);
        let cases: [Case; 10] = [
            (429, 20429, &retry_after, SendErrorKind::RateLimited, true),
            (400, 20429, &[], SendErrorKind::RateLimited, true),
            (500, 20500, &[], SendErrorKind::Unavailable, true),
            (503, 20503, &[], SendErrorKind::Unavailable, true),
            (400, 21610, &[], SendErrorKind::OptedOut, false),
            (400, 21211, &[], SendErrorKind::InvalidRecipient, false),
            (400, 21614, &[], SendErrorKind::InvalidRecipient, false),
            (401, 20003, &[], SendErrorKind::Unauthorized, false),
            (400, 21602, &[], SendErrorKind::InvalidRequest, false),
            (404, 20404, &[], SendErrorKind::InvalidRequest, false),
        ];
        for (status, code, headers, kind, retryable) in cases {
            let error = classify_send_error(status, headers, &error_body(code, "m", status));
            assert_eq!((error.kind, error.retryable), (kind, retryable), "{status} {code}");
            assert_eq!(error.code.as_deref(), Some(code.to_string().as_str()));
        }
        let limited = classify_send_error(429, &retry_after, &error_body(20429, "Too Many Requests", 429));
        assert_eq!(limited.retry_after_ms, Some(3000));
        assert_eq!(limited.message, "Too Many Requests");

        let opted_out = classify_send_error(
            400,
            &[],
            &error_body(21610, "Attempt to send to unsubscribed recipient", 400),
        );
        assert_eq!(opted_out.message, "Attempt to send to unsubscribed recipient");

        // No JSON at all: by HTTP status.
        let gateway = classify_send_error(502, &[], b"<html>Bad Gateway</html>");
        assert_eq!((gateway.kind, gateway.retryable, gateway.code), (SendErrorKind::Unavailable, true, None));
        assert_eq!(gateway.message, "Twilio answered HTTP 502");
        let unauthorized = classify_send_error(401, &[], b"");
        assert_eq!(unauthorized.kind, SendErrorKind::Unauthorized);
        let plain_429 = classify_send_error(429, &[], b"");
        assert_eq!((plain_429.kind, plain_429.retry_after_ms), (SendErrorKind::RateLimited, None));
    }
}
