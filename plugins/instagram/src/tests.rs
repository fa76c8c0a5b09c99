//! The shared Messenger/Instagram mapping, run on Instagram payloads and answers written from
//! Meta's documentation (tests/fixtures/instagram). Everything here is pure and runs natively.

use super::Instagram;
use serde_json::json;
use switchboard_sdk::meta_messaging::inbound::{Mapped, parse_body};
use switchboard_sdk::meta_messaging::outbound::{build_send_body, interpret_send_response, messages_url};
use switchboard_sdk::meta_messaging::{INSTAGRAM, MESSENGER};
use switchboard_sdk::prelude::*;
use switchboard_sdk::testing::{assert_same, extra, messages};

const TEXT: &str = include_str!("../../../tests/fixtures/instagram/text.json");
const MEDIA: &str = include_str!("../../../tests/fixtures/instagram/media.json");
const MULTI: &str = include_str!("../../../tests/fixtures/instagram/multi.json");
const ECHO: &str = include_str!("../../../tests/fixtures/instagram/echo.json");
const SEEN: &str = include_str!("../../../tests/fixtures/instagram/seen.json");
const MESSENGER_TEXT: &str = include_str!("../../../tests/fixtures/messenger/text.json");

const NOW: u64 = 1_760_000_000_000;
const IG_ACCOUNT: &str = "17841400000000000";
const IGSID: &str = "1254459154682919";
const SENT_MID: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAwOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxNzYxOTQ3NzYzNzU2OTozMTcyNzQ5NjQ1NTk3MTQxNTQ0ODQ2NDc2MjA0Mjg2MjQ5OQZDZD";

fn map(body: &str) -> Mapped {
    parse_body(&INSTAGRAM, body.as_bytes(), None, NOW).expect("payload maps")
}

#[test]
fn metadata_declares_what_send_does() {
    let info = <Instagram as Plugin>::metadata();
    assert_eq!(info.name, "instagram");
    assert_eq!(info.capabilities, Capabilities::TEXT | Capabilities::MEDIA | Capabilities::READ_RECEIPTS);
}

#[test]
fn text_fixture_maps_to_one_message_with_escapes_decoded() {
    assert!(TEXT.contains(r"Voc\u00ea") && TEXT.contains(r"\ud83d\udc5f"));
    let mapped = map(TEXT);
    assert_eq!(mapped.events.len(), 1);
    let message = messages(&mapped.events)[0];
    assert!(message.external_id.starts_with("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE"));
    assert_eq!(message.kind, MessageKind::Text);
    assert_eq!(message.text.as_deref(), Some("Oi! Você tem esse tênis no tamanho 42? 👟✨"));
    assert_same(&message.sender, &Party { id: IGSID.into(), phone: None, email: None, display_name: None, username: None });
    assert_eq!(message.recipient.as_deref(), Some(IG_ACCOUNT));
    assert_eq!(message.timestamp_ms, 1_749_417_001_209);
    assert!(!message.echo && message.extra_json.is_none());
}

#[test]
fn media_shares_story_mentions_and_story_replies() {
    let mapped = map(MEDIA);
    assert!(mapped.skipped.is_empty());
    let found = messages(&mapped.events);
    let kinds: Vec<_> = found.iter().map(|m| m.kind).collect();
    use MessageKind::*;
    assert_eq!(kinds, [Image, Video, Audio, Unsupported, Unsupported, Text]);
    for (message, kind) in found.iter().zip([MediaKind::Image, MediaKind::Video, MediaKind::Audio]) {
        let attachment = &message.attachments[0];
        assert_eq!(attachment.kind, kind);
        assert!(attachment.reference.starts_with("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="), "{}", attachment.reference);
        assert_eq!(attachment.url.as_deref(), Some(attachment.reference.as_str()));
    }
    // A shared post and a story mention: raw in extra-json, their URLs kept.
    for (message, kind_name) in found[3..5].iter().zip(["share", "story_mention"]) {
        assert_eq!(extra(message)["attachments"][0]["type"], json!(kind_name));
        assert_eq!(message.attachments.len(), 1);
        assert_eq!(message.attachments[0].kind, MediaKind::File);
        assert!(message.attachments[0].reference.starts_with("https://lookaside.fbsbx.com/"));
    }
    let story_reply = found[5];
    assert_eq!(story_reply.text.as_deref(), Some("Que lindo! Ainda tem disponível?"));
    assert_eq!(story_reply.reply_to, None);
    assert_eq!(extra(story_reply)["reply_to_story"]["id"], json!("3412345678901234567"));
}

#[test]
fn multi_fixture_ice_breakers_reactions_quick_replies_and_unsends() {
    let mapped = map(MULTI);
    assert_eq!(mapped.events.len(), 3, "{:?}", mapped.events);
    assert_eq!(mapped.skipped.len(), 1, "{:?}", mapped.skipped);
    assert!(mapped.skipped[0].contains("deleted"), "an unsend is skipped: {:?}", mapped.skipped);
    let found = messages(&mapped.events);

    let ice_breaker = found[0];
    assert_eq!(ice_breaker.kind, MessageKind::Postback);
    assert!(ice_breaker.external_id.starts_with("aWdfZAG1f"), "postbacks with a mid use it");
    assert_eq!(ice_breaker.text.as_deref(), Some("Qual o prazo de entrega?"));
    assert_eq!(extra(ice_breaker), json!({"payload": "ICEBREAKER_DELIVERY"}));

    let reaction = found[1];
    assert_eq!(reaction.kind, MessageKind::Reaction);
    assert_eq!(reaction.text.as_deref(), Some("❤️"));
    assert_eq!(extra(reaction)["reaction"], json!("love"));
    let reacted_to = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAwOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxNzYxOTQ3NzYzNzU2OTozMTcyNzQ5NjQ1NTk3MTQxNTQ0ODQ2NDc2MjA0Mjg2MjQ4MQZDZD";
    assert_eq!(reaction.reply_to.as_deref(), Some(reacted_to));
    assert_eq!(extra(reaction)["message_id"], json!(reacted_to));
    assert_eq!(reaction.external_id, format!("reaction:{IGSID}:{reacted_to}:react:1749417203318"));

    let spanish = found[2];
    assert_eq!(spanish.sender.id, "5518290037461102");
    assert_eq!(spanish.kind, MessageKind::Interactive);
    assert_eq!(spanish.text.as_deref(), Some("¿Hacéis envíos a España? 🇪🇸"));
    assert_eq!(extra(spanish)["payload"], json!("SHIPPING_ES"));
}

#[test]
fn echo_is_an_outbound_copy_for_the_customer() {
    let body = ECHO.replace("{{MID}}", SENT_MID);
    let message = messages(&map(&body).events)[0].clone();
    assert!(message.echo);
    assert_eq!(message.external_id, SENT_MID);
    assert_eq!(message.sender.id, IGSID);
    assert_eq!(message.recipient.as_deref(), Some(IG_ACCOUNT));
    assert_eq!(message.text.as_deref(), Some("Temos sim! Tamanho 42 disponível 👟"));
}

#[test]
fn messaging_seen_reads_the_message_and_sets_a_watermark() {
    assert!(SEEN.contains("{{MID}}") && SEEN.contains("{{TIMESTAMP}}"));
    let body = SEEN.replace("{{MID}}", SENT_MID).replace("{{TIMESTAMP}}", "1749417400123");
    assert_same(
        map(&body).events,
        vec![
            Event::Status(StatusUpdate {
                external_id: SENT_MID.into(),
                status: DeliveryStatus::Read,
                timestamp_ms: 1_749_417_400_123,
                recipient: Some(IGSID.into()),
                error: None,
            }),
            Event::Watermark(Watermark { recipient: IGSID.into(), status: DeliveryStatus::Read, watermark_ms: 1_749_417_400_123 }),
        ],
    );
}

#[test]
fn messenger_and_malformed_payloads_are_bad_requests() {
    let error = parse_body(&INSTAGRAM, MESSENGER_TEXT.as_bytes(), None, NOW).unwrap_err();
    assert_eq!(error.kind, RejectionKind::BadRequest);
    assert!(error.message.contains("`page`"), "{}", error.message);
    assert_eq!(parse_body(&INSTAGRAM, &TEXT.as_bytes()[..40], None, NOW).unwrap_err().kind, RejectionKind::BadRequest);
    assert!(parse_body(&MESSENGER, MESSENGER_TEXT.as_bytes(), None, NOW).is_ok());
}

#[test]
fn send_api_request_and_answers() {
    assert_eq!(messages_url(Some("https://graph.instagram.com/v21.0/"), IG_ACCOUNT), "https://graph.instagram.com/v21.0/17841400000000000/messages");
    let message = |content| OutboundMessage {
        message_id: "18".into(),
        recipient: Party { id: IGSID.into(), phone: None, email: None, display_name: None, username: None },
        content,
        reply_to: None,
    };
    assert_eq!(
        build_send_body(&INSTAGRAM, &message(OutboundContent::Text("Temos sim! 👟".into())), None).unwrap(),
        json!({"recipient": {"id": IGSID}, "message": {"text": "Temos sim! 👟"}})
    );
    let photo = OutboundContent::Media(OutboundMedia {
        kind: MediaKind::Image,
        url: "https://cdn.example.com/catalogo/tenis-42.jpg".into(),
        caption: None,
        filename: None,
        mime_type: Some("image/jpeg".into()),
    });
    assert_eq!(
        build_send_body(&INSTAGRAM, &message(photo), Some("HUMAN_AGENT")).unwrap(),
        json!({"recipient": {"id": IGSID}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
               "message": {"attachment": {"type": "image", "payload": {"url": "https://cdn.example.com/catalogo/tenis-42.jpg"}}}})
    );

    let ok = format!(r#"{{"recipient_id":"{IGSID}","message_id":"{SENT_MID}"}}"#);
    assert_eq!(interpret_send_response(&INSTAGRAM, 200, &[], ok.as_bytes()).unwrap().external_id, SENT_MID);

    let answers: [(u16, &str, SendErrorKind, bool); 4] = [
        (400, r#"{"error":{"message":"This message is sent outside of allowed window.","type":"IGApiException","code":10,"error_subcode":2534022,"fbtrace_id":"AvW4Vx1Zr2"}}"#, SendErrorKind::WindowClosed, false),
        (400, r#"{"error":{"message":"No matching user found","type":"IGApiException","code":100,"error_subcode":2534014,"fbtrace_id":"Bw5Wy2As3"}}"#, SendErrorKind::InvalidRecipient, false),
        (400, r#"{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"fbtrace_id":"Cx6Xz3Bt4"}}"#, SendErrorKind::RateLimited, true),
        (503, "Service Unavailable", SendErrorKind::Unavailable, true),
    ];
    for (status, body, kind, retryable) in answers {
        let error = interpret_send_response(&INSTAGRAM, status, &[], body.as_bytes()).unwrap_err();
        assert_eq!((error.kind, error.retryable), (kind, retryable), "{body}");
    }
}
