//! What a visitor's actions become. Pure: no host imports, tested natively.
//!
//! The refusals' messages are shown to the visitor in the widget, so they are written for
//! them: short, plain, no internals.

use switchboard_sdk::chat::message_external_id;
use switchboard_sdk::prelude::*;

/// Longest message by default, in characters: a long support question fits, a pasted log
/// file does not.
pub const DEFAULT_MAX_MESSAGE_CHARS: usize = 5000;
/// An email address is at most this long (RFC 5321's path limit).
const MAX_EMAIL_LEN: usize = 254;

/// The limits a visitor's message is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_message_chars: usize,
}

impl Limits {
    /// From the instance's `max_message_chars`; a missing or unreadable value is the default.
    pub fn from_config(max_message_chars: Option<&str>) -> Self {
        let max_message_chars = max_message_chars
            .and_then(|value| value.trim().parse().ok())
            .filter(|chars: &usize| *chars > 0)
            .unwrap_or(DEFAULT_MAX_MESSAGE_CHARS);
        Self { max_message_chars }
    }
}

/// The answer to a webhook: visitors reach the host's widget endpoints, never `/webhooks`.
pub fn no_webhooks() -> Rejection {
    Rejection::bad_request("web chat takes no webhooks: visitors talk to the widget (/widget/v1.js)")
}

/// Turn one visitor action into events.
pub fn receive(visitor: &Visitor, action: Action, limits: &Limits) -> Result<Parsed, Rejection> {
    let event = match action {
        Action::Message(message) => Event::Message(message_event(visitor, message, limits)?),
        Action::Receipt(receipt) => Event::Watermark(watermark(visitor, receipt)?),
        Action::Email(email) => Event::Profile(Party { email: Some(checked_email(&email)?), ..party(visitor) }),
    };
    Ok(Parsed { events: vec![event], response: None })
}

/// The visitor as a party. The host sets the sender from its session anyway; naming the
/// verified identifier here keeps the events readable on their own.
fn party(visitor: &Visitor) -> Party {
    let identifier = visitor.verified_identifier.clone();
    let is_email = identifier.as_deref().is_some_and(|id| id.contains('@'));
    Party {
        id: visitor.id.clone(),
        phone: identifier.clone().filter(|_| !is_email),
        email: identifier.filter(|_| is_email),
        display_name: visitor.name.clone(),
        username: None,
    }
}

fn message_event(visitor: &Visitor, message: VisitorMessage, limits: &Limits) -> Result<InboundMessage, Rejection> {
    let client_id = message.client_id.trim();
    if client_id.is_empty() || client_id.len() > 100 {
        return Err(Rejection::bad_request("a message needs a client id of 1 to 100 characters"));
    }
    let text = message.text.as_deref().map(str::trim).filter(|text| !text.is_empty()).map(str::to_owned);
    if text.is_none() && message.attachments.is_empty() {
        return Err(Rejection::bad_request("Write a message or attach a file first."));
    }
    if let Some(text) = &text {
        let chars = text.chars().count();
        if chars > limits.max_message_chars {
            return Err(Rejection::bad_request(format!(
                "Your message is too long ({chars} characters): please keep it under {}.",
                limits.max_message_chars
            )));
        }
    }
    let kind = match (&text, message.attachments.first()) {
        (None, Some(attachment)) => match attachment.kind {
            MediaKind::Image => MessageKind::Image,
            MediaKind::Audio => MessageKind::Audio,
            MediaKind::Video => MessageKind::Video,
            MediaKind::Sticker => MessageKind::Sticker,
            MediaKind::Document | MediaKind::File => MessageKind::Document,
        },
        _ => MessageKind::Text,
    };
    Ok(InboundMessage {
        external_id: message_external_id(visitor, client_id),
        sender: party(visitor),
        recipient: None,
        kind,
        text,
        attachments: message.attachments,
        reply_to: None,
        timestamp_ms: message.received_at_ms,
        echo: false,
        // The visitor's language, so agents (and routing) can answer in it.
        extra_json: visitor.locale.as_ref().map(|locale| serde_json::json!({ "locale": locale }).to_string()),
    })
}

fn watermark(visitor: &Visitor, receipt: Receipt) -> Result<Watermark, Rejection> {
    match receipt.status {
        DeliveryStatus::Delivered | DeliveryStatus::Read => {
            Ok(Watermark { recipient: visitor.id.clone(), status: receipt.status, watermark_ms: receipt.up_to_ms })
        }
        _ => Err(Rejection::bad_request("a receipt says delivered or read")),
    }
}

/// A plausible address: one `@`, something on both sides, a dot in the domain, no spaces.
/// Whether it is the visitor's is not known, so it links nothing (the host keeps it unverified).
fn checked_email(raw: &str) -> Result<String, Rejection> {
    let email = raw.trim();
    let plausible = email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.contains('@') && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        });
    if plausible { Ok(email.to_owned()) } else { Err(Rejection::bad_request("That doesn't look like an email address.")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visitor() -> Visitor {
        Visitor { id: "v:abc".into(), verified_identifier: None, name: Some("Ana".into()), locale: Some("es".into()) }
    }

    fn message(client_id: &str, text: Option<&str>, attachments: Vec<Attachment>) -> Action {
        Action::Message(VisitorMessage { client_id: client_id.into(), text: text.map(Into::into), attachments, received_at_ms: 7 })
    }

    fn image() -> Attachment {
        Attachment {
            kind: MediaKind::Image,
            reference: "media:ab".into(),
            url: None,
            mime_type: Some("image/png".into()),
            filename: Some("a.png".into()),
            caption: None,
            sha256: None,
        }
    }

    fn only_message(parsed: Parsed) -> InboundMessage {
        match parsed.events.into_iter().next() {
            Some(Event::Message(message)) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn a_message_is_keyed_by_visitor_and_client_id() {
        let limits = Limits::from_config(None);
        let first = only_message(receive(&visitor(), message("c1", Some(" Hola "), vec![]), &limits).unwrap());
        let again = only_message(receive(&visitor(), message("c1", Some("Hola"), vec![]), &limits).unwrap());
        assert_eq!(first.external_id, "v:abc/c1");
        assert_eq!(first.external_id, again.external_id, "a resend is the same message");
        assert_eq!(first.text.as_deref(), Some("Hola"));
        assert_eq!((first.kind, first.timestamp_ms, first.sender.id.as_str()), (MessageKind::Text, 7, "v:abc"));
        assert_eq!(first.extra_json.as_deref(), Some(r#"{"locale":"es"}"#), "the visitor's language is kept");
    }

    #[test]
    fn a_file_alone_is_a_message_of_its_kind() {
        let parsed = receive(&visitor(), message("c2", None, vec![image()]), &Limits::from_config(None)).unwrap();
        let message = only_message(parsed);
        assert_eq!((message.kind, message.attachments.len()), (MessageKind::Image, 1));
    }

    #[test]
    fn empty_too_long_and_unkeyed_messages_are_refused() {
        let limits = Limits::from_config(Some("10"));
        assert_eq!(limits.max_message_chars, 10);
        let refused = |action| receive(&visitor(), action, &limits).err().map(|r| (r.kind, r.message));
        let (kind, text) = refused(message("c3", Some("ñ".repeat(11).as_str()), vec![])).unwrap();
        assert_eq!(kind, RejectionKind::BadRequest);
        assert!(text.contains("too long (11 characters)") && text.contains("under 10"), "{text}");
        assert!(receive(&visitor(), message("c4", Some(&"ñ".repeat(10)), vec![]), &limits).is_ok(), "characters, not bytes");
        assert!(refused(message("c5", Some("   "), vec![])).is_some());
        assert!(refused(message(" ", Some("hi"), vec![])).is_some());
        assert_eq!(Limits::from_config(Some("zero")).max_message_chars, DEFAULT_MAX_MESSAGE_CHARS);
    }

    #[test]
    fn receipts_become_watermarks_for_the_visitor() {
        let receipt = |status| Action::Receipt(Receipt { status, up_to_ms: 99 });
        let parsed = receive(&visitor(), receipt(DeliveryStatus::Read), &Limits::from_config(None)).unwrap();
        match parsed.events.as_slice() {
            [Event::Watermark(mark)] => assert_eq!((mark.recipient.as_str(), mark.status, mark.watermark_ms), ("v:abc", DeliveryStatus::Read, 99)),
            other => panic!("{other:?}"),
        }
        assert!(receive(&visitor(), receipt(DeliveryStatus::Failed), &Limits::from_config(None)).is_err());
    }

    #[test]
    fn an_email_left_offline_is_a_profile_and_must_look_like_one() {
        let parsed = receive(&visitor(), Action::Email(" ana@example.com ".into()), &Limits::from_config(None)).unwrap();
        match parsed.events.as_slice() {
            [Event::Profile(party)] => assert_eq!((party.id.as_str(), party.email.as_deref()), ("v:abc", Some("ana@example.com"))),
            other => panic!("{other:?}"),
        }
        for bad in ["ana", "ana@", "@example.com", "ana@example", "a b@example.com", "a@b@example.com", "ana@.com"] {
            assert!(receive(&visitor(), Action::Email(bad.into()), &Limits::from_config(None)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_verified_identifier_names_the_party() {
        let email = Visitor { verified_identifier: Some("ana@example.com".into()), ..visitor() };
        let phone = Visitor { verified_identifier: Some("+34600111222".into()), ..visitor() };
        assert_eq!(party(&email).email.as_deref(), Some("ana@example.com"));
        assert_eq!(party(&phone).phone.as_deref(), Some("+34600111222"));
        assert_eq!(party(&visitor()).email, None);
    }
}
