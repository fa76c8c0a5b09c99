//! The shared Messenger/Instagram mapping, run on Messenger payloads and answers written from
//! Meta's documentation (tests/fixtures/messenger). Everything here is pure and runs natively.

use super::Messenger;
use serde_json::json;
use switchboard_sdk::meta_messaging::inbound::{Mapped, parse_body};
use switchboard_sdk::meta_messaging::outbound::{build_send_body, interpret_send_response, messages_url};
use switchboard_sdk::meta_messaging::{INSTAGRAM, MESSENGER};
use switchboard_sdk::prelude::*;
use switchboard_sdk::testing::{assert_same, extra, messages};

const TEXT: &str = include_str!("../../../tests/fixtures/messenger/text.json");
const MEDIA: &str = include_str!("../../../tests/fixtures/messenger/media.json");
const MULTI: &str = include_str!("../../../tests/fixtures/messenger/multi.json");
const ECHO: &str = include_str!("../../../tests/fixtures/messenger/echo.json");
const DELIVERY: &str = include_str!("../../../tests/fixtures/messenger/delivery.json");
const READ: &str = include_str!("../../../tests/fixtures/messenger/read.json");
const INSTAGRAM_TEXT: &str = include_str!("../../../tests/fixtures/instagram/text.json");

const NOW: u64 = 1_760_000_000_000;
const PAGE_ID: &str = "104325212345678";
const PSID: &str = "6839371836123456";
const MID: &str = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P";
const SENT_MID: &str = "m_1457764197618:41d102a3e1ae206a38";

fn map(body: &str) -> Mapped {
    parse_body(&MESSENGER, body.as_bytes(), None, NOW).expect("payload maps")
}

fn fill(fixture: &str, mid: &str, watermark: u64) -> String {
    fixture.replace("{{MID}}", mid).replace("{{WATERMARK}}", &watermark.to_string())
}

#[test]
fn metadata_declares_what_send_does() {
    let info = <Messenger as Plugin>::metadata();
    assert_eq!(info.name, "messenger");
    assert_eq!(info.capabilities, Capabilities::TEXT | Capabilities::MEDIA | Capabilities::READ_RECEIPTS);
}

#[test]
fn text_fixture_maps_to_one_message_with_escapes_decoded() {
    // Meta escapes non-ASCII as `\u` sequences and emoji as surrogate pairs.
    assert!(TEXT.contains(r"Ol\u00e1") && TEXT.contains(r"\ud83d\ude4f"));
    let mapped = map(TEXT);
    assert!(mapped.skipped.is_empty());
    assert_eq!(mapped.events.len(), 1);
    let message = messages(&mapped.events)[0];
    assert_eq!(message.external_id, MID);
    assert_eq!(message.kind, MessageKind::Text);
    assert_eq!(message.text.as_deref(), Some("Olá! Preciso de ajuda com o pedido #12345 🙏"));
    assert_same(&message.sender, &Party { id: PSID.into(), phone: None, email: None, display_name: None, username: None });
    assert_eq!(message.recipient.as_deref(), Some(PAGE_ID));
    assert_eq!(message.timestamp_ms, 1_749_416_383_089);
    assert!(!message.echo);
    assert!(message.attachments.is_empty() && message.reply_to.is_none() && message.extra_json.is_none());
}

#[test]
fn media_fixture_keeps_kind_and_unescaped_url() {
    assert!(MEDIA.contains(r"https:\/\/scontent.xx.fbcdn.net"), "Meta escapes slashes");
    let mapped = map(MEDIA);
    let messages = messages(&mapped.events);
    let kinds: Vec<_> = messages.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [MessageKind::Image, MessageKind::Audio, MessageKind::Video, MessageKind::Document]);
    let media: Vec<_> = messages.iter().map(|m| m.attachments[0].kind).collect();
    assert_eq!(media, [MediaKind::Image, MediaKind::Audio, MediaKind::Video, MediaKind::Document]);
    for message in &messages {
        assert_eq!(message.attachments.len(), 1);
        let attachment = &message.attachments[0];
        assert!(attachment.reference.starts_with("https://") && !attachment.reference.contains('\\'), "{}", attachment.reference);
        assert_eq!(attachment.url.as_deref(), Some(attachment.reference.as_str()));
        assert_eq!((attachment.mime_type.as_deref(), attachment.caption.as_deref()), (None, None), "Messenger gives neither");
        assert_eq!(message.text, None);
        assert_eq!(message.sender.id, PSID);
    }
    assert!(messages[0].attachments[0].reference.starts_with("https://scontent.xx.fbcdn.net/v/t1.15752-9/448296421_"));
    assert!(messages[3].attachments[0].reference.contains("/nota-fiscal-12345.pdf?"));
    let ids: std::collections::HashSet<_> = messages.iter().map(|m| &m.external_id).collect();
    assert_eq!(ids.len(), 4);
}

#[test]
fn multi_fixture_processes_every_entry_and_item() {
    let mapped = map(MULTI);
    assert_eq!(mapped.events.len(), 5, "{:?}", mapped.events);
    assert_eq!(mapped.skipped.len(), 1, "the optin is skipped: {:?}", mapped.skipped);
    assert!(mapped.skipped[0].contains("entry[1].messaging[2]") && mapped.skipped[0].contains("optin"));
    let found = messages(&mapped.events);
    assert_eq!(found.len(), 4);

    let quick_reply = found[0];
    assert_eq!(quick_reply.kind, MessageKind::Interactive);
    assert_eq!(quick_reply.text.as_deref(), Some("Sim, confirmar"));
    assert_eq!(extra(quick_reply), json!({"type": "quick_reply", "payload": "CONFIRM_ORDER_12345"}));

    let postback = found[1];
    assert_eq!(postback.kind, MessageKind::Postback);
    assert_eq!(postback.text.as_deref(), Some("Falar com um atendente"));
    assert_eq!(extra(postback), json!({"payload": "HUMAN_AGENT"}));
    assert_eq!(postback.external_id, format!("postback:{PSID}:1749416521132"), "no mid: derived from sender and time");
    assert_same(&map(MULTI).events, &mapped.events); // stable across redeliveries

    let japanese = found[2];
    assert_eq!(japanese.sender.id, "7204519982734411");
    assert_eq!(japanese.text.as_deref(), Some("こんにちは、注文はどこですか？"));
    assert!(japanese.reply_to.as_deref().is_some_and(|mid| mid.starts_with("m_Qz3bWs8h")));

    let sticker = found[3];
    assert_eq!(sticker.kind, MessageKind::Sticker);
    assert_eq!(sticker.attachments[0].kind, MediaKind::Sticker);
    assert_eq!(extra(sticker)["sticker_id"], json!(369239263222822u64));

    let Event::Watermark(read) = &mapped.events[4] else { panic!("{:?}", mapped.events[4]) };
    assert_same(read, &Watermark { recipient: "7204519982734411".into(), status: DeliveryStatus::Read, watermark_ms: 1_749_416_527_500 });
}

#[test]
fn echo_is_an_outbound_copy_for_the_customer() {
    assert!(ECHO.contains("{{MID}}"));
    let mapped = map(&fill(ECHO, SENT_MID, 0));
    let message = messages(&mapped.events)[0];
    assert!(message.echo);
    assert_eq!(message.external_id, SENT_MID);
    assert_eq!(message.sender.id, PSID, "for an echo the party is who it was sent to");
    assert_eq!(message.recipient.as_deref(), Some(PAGE_ID));
    assert_eq!(message.text.as_deref(), Some("Claro! Vou verificar o pedido 📦"));
    assert_eq!(extra(message)["app_id"], json!(1517776481860111u64));
}

#[test]
fn delivery_and_read_fixtures() {
    let delivered = map(&fill(DELIVERY, SENT_MID, 1_749_416_700_000)).events;
    assert_same(
        delivered,
        vec![
            Event::Status(StatusUpdate {
                external_id: SENT_MID.into(),
                status: DeliveryStatus::Delivered,
                timestamp_ms: 1_749_416_700_000,
                recipient: Some(PSID.into()),
                error: None,
            }),
            Event::Watermark(Watermark { recipient: PSID.into(), status: DeliveryStatus::Delivered, watermark_ms: 1_749_416_700_000 }),
        ]
    );
    let read = map(&fill(READ, SENT_MID, 1_749_416_800_000)).events;
    assert_same(read, vec![Event::Watermark(Watermark { recipient: PSID.into(), status: DeliveryStatus::Read, watermark_ms: 1_749_416_800_000 })]);
}

#[test]
fn instagram_and_malformed_payloads_are_bad_requests() {
    let error = parse_body(&MESSENGER, INSTAGRAM_TEXT.as_bytes(), None, NOW).unwrap_err();
    assert_eq!(error.kind, RejectionKind::BadRequest);
    assert!(error.message.contains("`instagram`"), "{}", error.message);
    let truncated = &TEXT.as_bytes()[..TEXT.len() / 2];
    assert_eq!(parse_body(&MESSENGER, truncated, None, NOW).unwrap_err().kind, RejectionKind::BadRequest);
    // The same bytes are fine for the platform they belong to.
    assert!(parse_body(&INSTAGRAM, INSTAGRAM_TEXT.as_bytes(), None, NOW).is_ok());
}

#[test]
fn send_api_request_and_answers() {
    assert_eq!(messages_url(Some("https://graph.facebook.com/v21.0"), PAGE_ID), "https://graph.facebook.com/v21.0/104325212345678/messages");
    let message = OutboundMessage {
        message_id: "17".into(),
        recipient: Party { id: PSID.into(), phone: None, email: None, display_name: None, username: None },
        content: OutboundContent::Text("Claro! Vou verificar o pedido 📦".into()),
        reply_to: None,
    };
    assert_eq!(
        build_send_body(&MESSENGER, &message, None).unwrap(),
        json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "Claro! Vou verificar o pedido 📦"}})
    );
    let tagged = build_send_body(&MESSENGER, &message, Some("HUMAN_AGENT")).unwrap();
    assert_eq!((tagged["messaging_type"].as_str(), tagged["tag"].as_str()), (Some("MESSAGE_TAG"), Some("HUMAN_AGENT")));

    let ok = br#"{"recipient_id":"6839371836123456","message_id":"m_1457764197618:41d102a3e1ae206a38"}"#;
    assert_eq!(interpret_send_response(&MESSENGER, 200, &[], ok).unwrap().external_id, SENT_MID);

    let answers: [(u16, &str, SendErrorKind, bool, &str); 5] = [
        (400, r#"{"error":{"message":"(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview","type":"OAuthException","code":10,"error_subcode":2018278,"fbtrace_id":"A0bC1dE2fG3"}}"#, SendErrorKind::WindowClosed, false, "10"),
        (400, r#"{"error":{"message":"(#100) No matching user found","type":"OAuthException","code":100,"error_subcode":2018001,"fbtrace_id":"AX7LwGmBMuz"}}"#, SendErrorKind::InvalidRecipient, false, "100"),
        (400, r#"{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"fbtrace_id":"B1cD2eF3gH4"}}"#, SendErrorKind::RateLimited, true, "613"),
        (500, r#"{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"C2dE3fG4hI5"}}"#, SendErrorKind::Unavailable, true, "2"),
        (401, r#"{"error":{"message":"Error validating access token: Session has expired on Sunday, 08-Jun-25 14:00:00 PDT.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"D3eF4gH5iJ6"}}"#, SendErrorKind::Unauthorized, false, "190"),
    ];
    let retry_after = vec![("retry-after".to_string(), "30".to_string())];
    for (status, body, kind, retryable, code) in answers {
        let error = interpret_send_response(&MESSENGER, status, &retry_after, body.as_bytes()).unwrap_err();
        assert_eq!((error.kind, error.retryable, error.code.as_deref()), (kind, retryable, Some(code)), "{body}");
        assert_eq!(error.retry_after_ms, (kind == SendErrorKind::RateLimited).then_some(30_000));
    }
}
