//! Twilio Messaging webhooks → Switchboard events.
//!
//! Twilio calls one URL for two things, both `application/x-www-form-urlencoded`:
//!
//! - an **incoming message** (the number's or Messaging Service's "A message comes in" URL):
//!   `MessageSid`, `AccountSid`, `From`, `To`, `Body`, `NumMedia`, `MediaUrl{N}`,
//!   `MediaContentType{N}`, `NumSegments`, geographic `From*` fields, and `OptOutType` when
//!   Advanced Opt-Out recognised a keyword
//!   (<https://www.twilio.com/docs/messaging/guides/webhook-request>);
//! - a **status callback** for a message we sent: `MessageSid`, `MessageStatus`, `To`, `From`,
//!   `ErrorCode` (and sometimes `ErrorMessage`) on failure, never a `Body`
//!   (<https://www.twilio.com/docs/messaging/guides/track-outbound-message-status>).
//!
//! Both are answered with an empty TwiML document, so Twilio sends no automatic reply.
//!
//! Everything here is pure: no host imports are called, so it runs (and is tested) natively.

use serde_json::{Map, json};
use switchboard_sdk::prelude::*;

/// The empty TwiML answer: "received, send nothing back".
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

/// Keywords after which Twilio stops delivering our messages to the sender (error 21610 on
/// send). STOP…QUIT are Twilio's defaults; OPTOUT and REVOKE are added by Advanced Opt-Out.
pub const OPT_OUT_KEYWORDS: [&str; 8] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"];
/// Keywords that lift an opt-out. START, YES and UNSTOP are Twilio's defaults; OPTIN is
/// Advanced Opt-Out's.
pub const OPT_IN_KEYWORDS: [&str; 4] = ["START", "YES", "UNSTOP", "OPTIN"];

/// Failure codes of a status callback after which sending again later may succeed:
/// 30001 queue overflow, 30003 unreachable handset (powered off, out of coverage),
/// 30008 unknown carrier error, 30017 carrier network congestion, 30022 US A2P 10DLC
/// throughput exceeded. Everything else (30004 blocked, 30005 unknown handset, 30006
/// landline, 30007 filtered, 30034 unregistered 10DLC, …) is final.
pub const RETRYABLE_ERROR_CODES: [&str; 5] = ["30001", "30003", "30008", "30017", "30022"];

/// What one webhook maps to.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub events: Vec<Event>,
    /// Why nothing was stored for a request that was still fine (for debug logging).
    pub note: Option<String>,
}

/// The HTTP answer Twilio gets for every accepted webhook: empty TwiML, `text/xml`.
pub fn twiml_response() -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "text/xml; charset=utf-8".into())],
        body: EMPTY_TWIML.as_bytes().to_vec(),
    }
}

/// Map a decoded form body to events.
///
/// - An incoming message becomes a message event, followed by a consent event when the body is
///   an opt-out or opt-in keyword (or Twilio's `OptOutType` says so).
/// - A status callback becomes a status event; statuses we do not track (`receiving`,
///   `partially_delivered`, …) produce no event.
/// - A body without `MessageSid`, or an incoming message without `From`, is a `bad-request`.
pub fn map_form(params: &[(String, String)], now_ms: u64) -> Result<Mapped, Rejection> {
    let get = |name: &str| param(params, name);
    let Some(message_sid) = get("MessageSid") else {
        return Err(Rejection::bad_request("not a Twilio Messaging webhook: `MessageSid` is missing"));
    };
    if !looks_like_sid(message_sid) {
        return Err(Rejection::bad_request("`MessageSid` is not a Twilio message SID"));
    }
    let status = get("MessageStatus").or_else(|| get("SmsStatus")).unwrap_or("");
    let is_incoming = get("Body").is_some() || get("NumMedia").is_some() || matches!(status, "received" | "receiving");
    if is_incoming {
        map_incoming(params, message_sid, now_ms)
    } else if !status.is_empty() {
        Ok(map_status(params, message_sid, status, now_ms))
    } else {
        Err(Rejection::bad_request("neither an incoming message (`Body`) nor a status callback (`MessageStatus`)"))
    }
}

/// Message SIDs are `SM…` (SMS), `MM…` (MMS) or `SM`/`MM` plus 32 hex digits; accept any
/// two-letter prefix and alphanumerics, so new resource types keep working.
fn looks_like_sid(sid: &str) -> bool {
    sid.len() >= 10 && sid.len() <= 64 && sid.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn map_incoming(params: &[(String, String)], message_sid: &str, now_ms: u64) -> Result<Mapped, Rejection> {
    let get = |name: &str| param(params, name);
    let from = get("From")
        .map(str::trim)
        .filter(|from| !from.is_empty())
        .ok_or_else(|| Rejection::bad_request("incoming message without `From`"))?;
    let num_media = match get("NumMedia").map(str::trim).filter(|n| !n.is_empty()) {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 10)
            .ok_or_else(|| Rejection::bad_request("`NumMedia` is not a number from 0 to 10"))?,
    };
    let mut attachments = Vec::with_capacity(num_media);
    for index in 0..num_media {
        let Some(url) = get(&format!("MediaUrl{index}")).filter(|url| !url.is_empty()) else {
            return Err(Rejection::bad_request(format!("`NumMedia` is {num_media} but `MediaUrl{index}` is missing")));
        };
        let mime_type = get(&format!("MediaContentType{index}")).filter(|m| !m.is_empty()).map(str::to_owned);
        attachments.push(Attachment {
            kind: media_kind(mime_type.as_deref()),
            reference: url.to_owned(),
            url: Some(url.to_owned()),
            mime_type,
            filename: None,
            caption: None,
            sha256: None,
        });
    }
    let text = get("Body").filter(|body| !body.is_empty()).map(str::to_owned);
    // `media_kind` gives image, audio, video or document, so the kind is one of those too.
    let kind = attachments.first().map_or(MessageKind::Text, |first| switchboard_sdk::content::message_kind_of(first.kind));
    let sender = Party { id: from.to_owned(), phone: Some(from.to_owned()), email: None, display_name: None, username: None };

    let mut extra = Map::new();
    for (param_name, key) in [
        ("NumSegments", "num_segments"),
        ("MessagingServiceSid", "messaging_service_sid"),
        ("FromCountry", "from_country"),
        ("FromState", "from_state"),
        ("FromCity", "from_city"),
        ("FromZip", "from_zip"),
        ("OptOutType", "opt_out_type"),
    ] {
        if let Some(value) = get(param_name).filter(|v| !v.is_empty()) {
            extra.insert(key.into(), json!(value));
        }
    }

    let consent = consent_change(get("OptOutType"), get("Body"));
    let mut events = vec![Event::Message(InboundMessage {
        external_id: message_sid.to_owned(),
        sender: sender.clone(),
        recipient: get("To").filter(|to| !to.is_empty()).map(str::to_owned),
        kind,
        text,
        attachments,
        reply_to: None,
        // Twilio's webhook carries no send time; the moment we receive it is the closest.
        timestamp_ms: now_ms,
        echo: false,
        extra_json: switchboard_sdk::content::extra_json(extra),
    })];
    if let Some((opted_in, keyword)) = consent {
        events.push(Event::Consent(ConsentUpdate { party: sender, opted_in, keyword }));
    }
    Ok(Mapped { events, note: None })
}

/// Whether an incoming message changes consent: Twilio's `OptOutType` (`STOP`, `START`;
/// `HELP` changes nothing) when present, else the whole trimmed body matched against the
/// keyword lists, ignoring case. Returns `(opted_in, keyword)`.
pub fn consent_change(opt_out_type: Option<&str>, body: Option<&str>) -> Option<(bool, String)> {
    if let Some(kind) = opt_out_type.map(str::trim).filter(|t| !t.is_empty()) {
        let keyword = body.map(|b| b.trim().to_uppercase()).filter(|b| !b.is_empty()).unwrap_or_else(|| kind.to_uppercase());
        return match kind.to_ascii_uppercase().as_str() {
            "STOP" => Some((false, keyword)),
            "START" => Some((true, keyword)),
            _ => None,
        };
    }
    let word = body?.trim().to_uppercase();
    if OPT_OUT_KEYWORDS.contains(&word.as_str()) {
        Some((false, word))
    } else if OPT_IN_KEYWORDS.contains(&word.as_str()) {
        Some((true, word))
    } else {
        None
    }
}

/// The attachment kind for a media content type.
pub fn media_kind(mime_type: Option<&str>) -> MediaKind {
    let mime = mime_type.unwrap_or("").trim().to_ascii_lowercase();
    match mime.split('/').next().unwrap_or("") {
        "image" => MediaKind::Image,
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        _ => MediaKind::Document,
    }
}

fn map_status(params: &[(String, String)], message_sid: &str, status: &str, now_ms: u64) -> Mapped {
    let get = |name: &str| param(params, name);
    let delivery = match status {
        "accepted" | "scheduled" | "queued" | "sending" => DeliveryStatus::Queued,
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "undelivered" | "failed" | "canceled" => DeliveryStatus::Failed,
        other => {
            return Mapped { events: Vec::new(), note: Some(format!("status `{}` is not tracked", truncate(other, 32))) };
        }
    };
    let error_code = get("ErrorCode").map(str::trim).filter(|code| !code.is_empty() && *code != "0");
    let error = match (delivery, error_code) {
        (_, Some(code)) => Some(provider_error(code, get("ErrorMessage"))),
        (DeliveryStatus::Failed, None) => Some(ProviderError {
            code: if status == "canceled" { "canceled".into() } else { "unknown".into() },
            message: format!("Twilio reported the message as {status} without an error code"),
            retryable: false,
        }),
        _ => None,
    };
    Mapped {
        events: vec![Event::Status(StatusUpdate {
            external_id: message_sid.to_owned(),
            status: delivery,
            timestamp_ms: now_ms,
            recipient: get("To").filter(|to| !to.is_empty()).map(str::to_owned),
            error,
        })],
        note: None,
    }
}

/// A status callback's error: the code, Twilio's `ErrorMessage` or our summary of the code,
/// and whether sending again later may succeed ([`RETRYABLE_ERROR_CODES`]).
pub fn provider_error(code: &str, message: Option<&str>) -> ProviderError {
    let message = message
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .or_else(|| describe_error(code).map(str::to_owned))
        .unwrap_or_else(|| format!("Twilio error {code}"));
    ProviderError { code: code.to_owned(), message, retryable: RETRYABLE_ERROR_CODES.contains(&code) }
}

/// Twilio's titles for the delivery errors seen most
/// (<https://www.twilio.com/docs/api/errors>).
pub fn describe_error(code: &str) -> Option<&'static str> {
    Some(match code {
        "30001" => "Queue overflow",
        "30002" => "Account suspended",
        "30003" => "Unreachable destination handset",
        "30004" => "Message blocked",
        "30005" => "Unknown destination handset",
        "30006" => "Landline or unreachable carrier",
        "30007" => "Message filtered",
        "30008" => "Unknown error",
        "30010" => "Message price exceeds max price",
        "30017" => "Carrier network congestion",
        "30022" => "US A2P 10DLC - Rate limits exceeded",
        "30034" => "US A2P 10DLC - Message from an unregistered number",
        "21610" => "Attempt to send to unsubscribed recipient",
        _ => return None,
    })
}

/// The first value of form parameter `name` (exact, case-sensitive as Twilio sends them).
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::decode::form;
    use switchboard_sdk::testing::extra;

    const INBOUND: &str = include_str!("../../../tests/fixtures/twilio/inbound_sms.form");
    const MMS: &str = include_str!("../../../tests/fixtures/twilio/inbound_mms.form");
    const STOP: &str = include_str!("../../../tests/fixtures/twilio/inbound_stop.form");
    const STATUS_DELIVERED: &str = include_str!("../../../tests/fixtures/twilio/status_delivered.form");
    const STATUS_UNDELIVERED: &str = include_str!("../../../tests/fixtures/twilio/status_undelivered.form");

    const NOW: u64 = 1_750_000_000_000;

    fn map(body: &str) -> Mapped {
        map_form(&form(body.trim().as_bytes()), NOW).expect("maps")
    }

    fn message(mapped: &Mapped) -> &InboundMessage {
        match &mapped.events[0] {
            Event::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn status(mapped: &Mapped) -> &StatusUpdate {
        match &mapped.events[0] {
            Event::Status(status) => status,
            other => panic!("expected a status, got {other:?}"),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn inbound_sms_fixture() {
        let mapped = map(INBOUND);
        assert_eq!(mapped.events.len(), 1);
        let message = message(&mapped);
        assert_eq!(message.external_id, "SM1f0e8ae6ade43cb3c0ce4525424e404f");
        assert_eq!(message.kind, MessageKind::Text);
        assert_eq!(message.text.as_deref(), Some("Olá! Meu pedido #4521 ainda não chegou 📦🙁"));
        assert_eq!(message.sender.id, "+14155550142");
        assert_eq!(message.sender.phone.as_deref(), Some("+14155550142"));
        assert_eq!(message.sender.display_name, None);
        assert_eq!(message.recipient.as_deref(), Some("+15005550006"));
        assert_eq!(message.timestamp_ms, NOW);
        assert!(message.attachments.is_empty());
        assert!(!message.echo);
        let extra = extra(message);
        assert_eq!(extra["num_segments"], json!("1"));
        assert_eq!(extra["from_city"], json!("SAN FRANCISCO"));
        assert_eq!(extra["from_country"], json!("US"));
    }

    #[test]
    fn inbound_mms_fixture_keeps_every_media() {
        let mapped = map(MMS);
        let message = message(&mapped);
        assert_eq!(message.external_id, "MM8c3a1f55b2e94d0c9a7e6b5d4c3b2a19");
        assert_eq!(message.kind, MessageKind::Image);
        assert_eq!(message.text.as_deref(), Some("Foto do produto danificado 📷"));
        assert_eq!(message.attachments.len(), 2);
        let image = &message.attachments[0];
        assert_eq!(image.kind, MediaKind::Image);
        assert_eq!(image.mime_type.as_deref(), Some("image/jpeg"));
        let url = "https://api.twilio.com/2010-04-01/Accounts/AC1f0e8ae6ade43cb3c0ce4525424e404f/Messages/MM8c3a1f55b2e94d0c9a7e6b5d4c3b2a19/Media/ME0a1b2c3d4e5f60718293a4b5c6d7e8f9";
        assert_eq!(image.url.as_deref(), Some(url));
        assert_eq!(image.reference, url);
        let pdf = &message.attachments[1];
        assert_eq!(pdf.kind, MediaKind::Document);
        assert_eq!(pdf.mime_type.as_deref(), Some("application/pdf"));
        assert_ne!(pdf.reference, image.reference);
    }

    #[test]
    fn media_only_and_media_kinds() {
        let mapped = map_form(
            &pairs(&[
                ("MessageSid", "MM00000000000000000000000000000001"),
                ("From", "+14155550142"),
                ("To", "+15005550006"),
                ("Body", ""),
                ("NumMedia", "1"),
                ("MediaUrl0", "https://api.twilio.com/media/1"),
                ("MediaContentType0", "audio/amr"),
            ]),
            NOW,
        )
        .unwrap();
        let message = message(&mapped);
        assert_eq!(message.kind, MessageKind::Audio);
        assert_eq!(message.text, None);
        assert_eq!(media_kind(Some("video/mp4")), MediaKind::Video);
        assert_eq!(media_kind(Some("IMAGE/PNG")), MediaKind::Image);
        assert_eq!(media_kind(Some("text/vcard")), MediaKind::Document);
        assert_eq!(media_kind(None), MediaKind::Document);
    }

    #[test]
    fn stop_fixture_stores_the_message_and_opts_out() {
        let mapped = map(STOP);
        assert_eq!(mapped.events.len(), 2);
        assert_eq!(message(&mapped).text.as_deref(), Some(" Stop "));
        match &mapped.events[1] {
            Event::Consent(consent) => {
                assert!(!consent.opted_in);
                assert_eq!(consent.keyword, "STOP");
                assert_eq!(consent.party.id, "+14155550142");
                assert_eq!(consent.party.phone.as_deref(), Some("+14155550142"));
            }
            other => panic!("expected consent, got {other:?}"),
        }
    }

    #[test]
    fn keywords_match_the_whole_trimmed_body_ignoring_case() {
        for word in ["STOP", "stop", "StopAll", "unsubscribe", "cancel", "END", "quit", "optout", "Revoke", "\tSTOP\n"] {
            assert_eq!(consent_change(None, Some(word)).map(|c| c.0), Some(false), "{word:?}");
        }
        for word in ["START", "yes", "Unstop", "optin"] {
            assert_eq!(consent_change(None, Some(word)).map(|c| c.0), Some(true), "{word:?}");
        }
        for body in ["STOP please", "please stop", "stopp", "HELP", "INFO", "", "🛑"] {
            assert_eq!(consent_change(None, Some(body)), None, "{body:?}");
        }
        assert_eq!(consent_change(None, None), None);
        // Advanced Opt-Out names the kind of keyword, including custom and localised ones.
        assert_eq!(consent_change(Some("STOP"), Some("ARRET")), Some((false, "ARRET".into())));
        assert_eq!(consent_change(Some("START"), Some("go")), Some((true, "GO".into())));
        assert_eq!(consent_change(Some("HELP"), Some("STOP")), None);
    }

    #[test]
    fn status_fixtures() {
        let delivered = map(STATUS_DELIVERED);
        let update = status(&delivered);
        assert_eq!(update.external_id, "SM5f4e3d2c1b0a99887766554433221100");
        assert_eq!(update.status, DeliveryStatus::Delivered);
        assert_eq!(update.recipient.as_deref(), Some("+14155550142"));
        assert_eq!(update.timestamp_ms, NOW);
        assert!(update.error.is_none());

        let undelivered = map(STATUS_UNDELIVERED);
        let update = status(&undelivered);
        assert_eq!(update.status, DeliveryStatus::Failed);
        let error = update.error.clone().unwrap();
        assert_eq!(error.code, "30003");
        assert_eq!(error.message, "Unreachable destination handset");
        assert!(error.retryable);
    }

    #[test]
    fn every_status_value() {
        let cases = [
            ("accepted", Some(DeliveryStatus::Queued)),
            ("scheduled", Some(DeliveryStatus::Queued)),
            ("queued", Some(DeliveryStatus::Queued)),
            ("sending", Some(DeliveryStatus::Queued)),
            ("sent", Some(DeliveryStatus::Sent)),
            ("delivered", Some(DeliveryStatus::Delivered)),
            ("read", Some(DeliveryStatus::Read)),
            ("undelivered", Some(DeliveryStatus::Failed)),
            ("failed", Some(DeliveryStatus::Failed)),
            ("canceled", Some(DeliveryStatus::Failed)),
            ("partially_delivered", None),
        ];
        for (value, expected) in cases {
            let params = pairs(&[
                ("MessageSid", "SM5f4e3d2c1b0a99887766554433221100"),
                ("MessageStatus", value),
                ("SmsStatus", value),
                ("To", "+14155550142"),
                ("From", "+15005550006"),
            ]);
            let mapped = map_form(&params, NOW).unwrap();
            match expected {
                Some(expected) => {
                    assert_eq!(status(&mapped).status, expected, "{value}");
                    assert_eq!(status(&mapped).error.is_some(), expected == DeliveryStatus::Failed, "{value}");
                }
                None => {
                    assert!(mapped.events.is_empty());
                    assert!(mapped.note.is_some());
                }
            }
        }
    }

    #[test]
    fn error_codes_and_messages() {
        let failed = |extra: &[(&str, &str)]| {
            let mut params = pairs(&[("MessageSid", "SM5f4e3d2c1b0a99887766554433221100"), ("MessageStatus", "failed")]);
            params.extend(pairs(extra));
            status(&map_form(&params, NOW).unwrap()).error.clone().unwrap()
        };
        let error = failed(&[("ErrorCode", "30007"), ("ErrorMessage", "Carrier filtered the message")]);
        assert_eq!((error.code.as_str(), error.message.as_str(), error.retryable), ("30007", "Carrier filtered the message", false));
        assert_eq!(failed(&[("ErrorCode", "30001")]).message, "Queue overflow");
        assert!(failed(&[("ErrorCode", "30001")]).retryable);
        assert_eq!(failed(&[("ErrorCode", "39999")]).message, "Twilio error 39999");
        assert_eq!(failed(&[]).code, "unknown");
        for code in ["30002", "30004", "30005", "30006", "30007", "30034", "21610"] {
            assert!(!provider_error(code, None).retryable, "{code}");
        }
        for code in RETRYABLE_ERROR_CODES {
            assert!(provider_error(code, None).retryable, "{code}");
        }
    }

    #[test]
    fn twiml_answer() {
        let response = twiml_response();
        assert_eq!(response.status, 200);
        assert_eq!(String::from_utf8(response.body).unwrap(), r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#);
        assert!(response.headers[0].1.starts_with("text/xml"));
    }

    #[test]
    fn rejections() {
        let reject = |params: &[(&str, &str)]| map_form(&pairs(params), NOW).unwrap_err();
        for params in [
            &[][..],
            &[("Body", "hi"), ("From", "+14155550142")][..],
            &[("MessageSid", "SM1"), ("Body", "short sid")][..],
            &[("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"), ("Body", "no from")][..],
            &[("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"), ("From", "+1415"), ("To", "+1500")][..],
            &[("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"), ("From", "+14155550142"), ("Body", ""), ("NumMedia", "two")][..],
            &[("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"), ("From", "+14155550142"), ("Body", ""), ("NumMedia", "1")][..],
        ] {
            assert_eq!(reject(params).kind, RejectionKind::BadRequest, "{params:?}");
        }
        // A JSON body decoded as a form has no MessageSid.
        let json = form(br#"{"MessageSid":"SM1f0e8ae6ade43cb3c0ce4525424e404f"}"#);
        assert_eq!(map_form(&json, NOW).unwrap_err().kind, RejectionKind::BadRequest);
    }
}
