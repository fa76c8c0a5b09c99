//! A received mail → the events, attachment bytes and threading hints the host stores
//! (`switchboard:channel/mail.receive`). Pure: the caller passes the served addresses and the
//! time, so it is tested natively on the fixture corpus.
//!
//! - Personal mail becomes one message from the sender (an email party), its shown text the new
//!   part only (quotes and signature stripped; the full text and the subject are kept in
//!   `extra-json`), each attachment a `blob:<n>` reference to bytes handed over beside it.
//! - A bounce becomes a `failed` status of the message it reports on, with the DSN's status
//!   code; a delay notice becomes nothing (the relay is still trying).
//! - Auto-replies and list mail become nothing: they must never open a conversation.

use crate::classify::{parse_dsn, DsnAction, MailKind};
use crate::inbound::{parse_mail, ParsedMail as Mail};
use crate::quote::visible_text;
use crate::authentication::sender_authenticated;
use crate::threading::{plus_token, thread_keys};
use switchboard_sdk::content::{extra_json, message_kind_of};
use switchboard_sdk::prelude::*;

/// What [`receive`] hands the host.
pub struct Received {
    pub events: Vec<Event>,
    pub blobs: Vec<Blob>,
    pub threads: Vec<ThreadHints>,
}

/// Map one received message. `served` are the instance's addresses (for plus-address tokens);
/// `fallback_id` names a message that has no `Message-ID` (the host passes a digest of the
/// bytes, so a redelivery gets the same id); `now_ms` dates a message without a `Date`.
pub fn receive(
    envelope: &Envelope,
    raw: &[u8],
    served: &[String],
    trusted_authserv_id: Option<&str>,
    fallback_id: &str,
    now_ms: u64,
) -> Result<Received, Rejection> {
    let mail = parse_mail(raw).map_err(|error| Rejection::bad_request(format!("not a readable mail: {error}")))?;
    let nothing = Received { events: Vec::new(), blobs: Vec::new(), threads: Vec::new() };
    match mail.kind {
        MailKind::AutoReply | MailKind::List => Ok(nothing),
        MailKind::Bounce => Ok(Received { events: bounce_events(&mail, now_ms), ..nothing }),
        MailKind::Personal => Ok(message(envelope, &mail, served, trusted_authserv_id, fallback_id, now_ms)),
    }
}

fn bounce_events(mail: &Mail, now_ms: u64) -> Vec<Event> {
    let Some(dsn) = parse_dsn(mail) else { return Vec::new() };
    let Some(original) = dsn.original_message_id.clone() else { return Vec::new() };
    dsn.recipients
        .iter()
        .filter(|r| r.action == DsnAction::Failed)
        .take(1)
        .map(|r| {
            Event::Status(StatusUpdate {
                external_id: original.clone(),
                status: DeliveryStatus::Failed,
                timestamp_ms: mail.date.and_then(|d| u64::try_from(d).ok()).unwrap_or(now_ms),
                recipient: r.final_recipient.clone(),
                error: Some(ProviderError {
                    code: r.status.clone().unwrap_or_else(|| "5.0.0".into()),
                    message: r.diagnostic_code.clone().unwrap_or_else(|| "the message could not be delivered".into()),
                    retryable: false,
                }),
            })
        })
        .collect()
}

fn message(envelope: &Envelope, mail: &Mail, served: &[String], trusted_authserv_id: Option<&str>, fallback_id: &str, now_ms: u64) -> Received {
    let external_id = mail.message_id.clone().unwrap_or_else(|| fallback_id.to_string());
    let visible = visible_text(&mail.text);
    let mut blobs = Vec::new();
    let mut attachments = Vec::new();
    for (n, attachment) in mail.attachments.iter().enumerate() {
        let id = n.to_string();
        attachments.push(Attachment {
            kind: media_kind(&attachment.mime_type),
            reference: format!("blob:{id}"),
            url: None,
            mime_type: Some(attachment.mime_type.clone()),
            filename: attachment.filename.clone(),
            caption: None,
            sha256: None,
        });
        blobs.push(Blob { id, mime_type: attachment.mime_type.clone(), data: attachment.content.clone() });
    }
    let kind = if !visible.shown.trim().is_empty() || attachments.is_empty() {
        MessageKind::Text
    } else {
        message_kind_of(attachments[0].kind)
    };
    let mut extra = serde_json::Map::new();
    if let Some(subject) = &mail.subject {
        extra.insert("subject".into(), subject.clone().into());
    }
    if visible.had_quote || visible.had_signature {
        extra.insert("full_text".into(), mail.text.clone().into());
    }
    if mail.html.is_some() {
        extra.insert("has_html".into(), true.into());
    }
    if !mail.cc.is_empty() {
        extra.insert("cc".into(), mail.cc.iter().map(|m| serde_json::Value::from(m.address.clone())).collect::<Vec<_>>().into());
    }
    let recipients: Vec<String> = envelope.rcpt_to.iter().cloned().chain(mail.to.iter().map(|m| m.address.clone())).collect();
    let message = InboundMessage {
        external_id: external_id.clone(),
        sender: Party {
            id: mail.from.address.to_lowercase(),
            phone: None,
            email: Some(mail.from.address.clone()),
            display_name: mail.from.name.clone(),
            username: None,
        },
        recipient: recipients.first().cloned(),
        kind,
        text: Some(visible.shown).filter(|t| !t.trim().is_empty()),
        attachments,
        reply_to: mail.in_reply_to.first().cloned(),
        timestamp_ms: mail.date.and_then(|d| u64::try_from(d).ok()).unwrap_or(now_ms),
        echo: false,
        extra_json: extra_json(extra),
    };
    let from_domain = mail.from.address.rsplit_once('@').map_or("", |(_, domain)| domain);
    let hints = ThreadHints {
        external_id,
        replies_to: thread_keys(mail),
        token: plus_token(&recipients, served),
        sender_authenticated: sender_authenticated(&mail.authentication_results, trusted_authserv_id, from_domain),
    };
    Received { events: vec![Event::Message(message)], blobs, threads: vec![hints] }
}

fn media_kind(mime: &str) -> MediaKind {
    match mime.split('/').next().unwrap_or("") {
        "image" => MediaKind::Image,
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        "application" | "text" => MediaKind::Document,
        _ => MediaKind::File,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(to: &str) -> Envelope {
        Envelope { mail_from: "x@example.org".into(), rcpt_to: vec![to.into()], remote_addr: "127.0.0.1:5000".into(), helo: None, tls: false }
    }

    fn served() -> Vec<String> {
        vec!["support@example.com".into()]
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/../../tests/fixtures/email/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn the_message(received: &Received) -> &InboundMessage {
        match received.events.as_slice() {
            [Event::Message(m)] => m,
            other => panic!("one message, got {} events", other.len()),
        }
    }

    #[test]
    fn a_reply_shows_only_its_new_text_and_hints_at_its_thread() {
        let received = receive(&envelope("support@example.com"), &fixture("gmail_reply.eml"), &served(), None, "fallback", 1).unwrap();
        let message = the_message(&received);
        let text = message.text.as_deref().unwrap_or_default();
        assert!(!text.contains("wrote:") && !text.is_empty(), "quote stripped: {text}");
        let extra: serde_json::Value = serde_json::from_str(message.extra_json.as_deref().unwrap()).unwrap();
        assert!(extra["full_text"].as_str().is_some_and(|full| full.len() > text.len()), "the original is kept: {extra}");
        assert!(!received.threads[0].replies_to.is_empty(), "In-Reply-To/References become hints");
        assert_eq!(message.sender.email.as_deref().map(str::to_lowercase), Some(message.sender.id.clone()));
    }

    #[test]
    fn an_outlook_reply_without_in_reply_to_carries_its_plus_token() {
        let received = receive(&envelope("support+Tk7q2Xw9@example.com"), &fixture("outlook_reply.eml"), &served(), None, "fallback", 1).unwrap();
        assert_eq!(received.threads[0].token.as_deref(), Some("Tk7q2Xw9"));
    }

    #[test]
    fn auto_replies_and_list_mail_give_nothing() {
        for name in ["auto_reply.eml", "list_mail.eml"] {
            let received = receive(&envelope("support@example.com"), &fixture(name), &served(), None, "f", 1).unwrap();
            assert!(received.events.is_empty() && received.blobs.is_empty(), "{name}");
        }
    }

    #[test]
    fn a_bounce_fails_the_message_it_reports_on() {
        let received = receive(&envelope("support@example.com"), &fixture("bounce.eml"), &served(), None, "f", 1).unwrap();
        let [Event::Status(status)] = received.events.as_slice() else { panic!("one status event") };
        assert_eq!(status.external_id, "reply-42@switchboard.test");
        assert_eq!(status.status, DeliveryStatus::Failed);
        assert_eq!(status.error.as_ref().map(|e| e.code.as_str()), Some("5.1.1"));
    }

    #[test]
    fn attachments_travel_as_blobs_the_message_references() {
        let received = receive(&envelope("support@example.com"), &fixture("attachments.eml"), &served(), None, "f", 1).unwrap();
        let message = the_message(&received);
        assert_eq!(message.attachments.len(), received.blobs.len());
        assert!(received.blobs.len() >= 2, "the PDF and the inline image");
        for (attachment, blob) in message.attachments.iter().zip(&received.blobs) {
            assert_eq!(attachment.reference, format!("blob:{}", blob.id));
            assert!(!blob.data.is_empty());
        }
        assert!(message.attachments.iter().any(|a| a.mime_type.as_deref() == Some("application/pdf")));
    }

    #[test]
    fn unreadable_bytes_are_refused_and_a_message_without_id_gets_the_fallback() {
        assert!(receive(&envelope("support@example.com"), b"\x00\x01garbage", &served(), None, "f", 1).is_err());
        let raw = b"From: Ana <ana@example.org>\r\nTo: support@example.com\r\nSubject: hi\r\n\r\nhello\r\n";
        let received = receive(&envelope("support@example.com"), raw, &served(), None, "sha256-abc", 7).unwrap();
        let message = the_message(&received);
        assert_eq!((message.external_id.as_str(), message.timestamp_ms), ("sha256-abc", 7));
        assert_eq!(message.text.as_deref(), Some("hello"));
    }
}
