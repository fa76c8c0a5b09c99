//! Size rules for what plugins report, applied by the host before anything is stored.
//!
//! A plugin copies ids, names and texts out of provider payloads. Whatever the payload held
//! (a 64 KB "message id", a megabyte of display name) must not reach the database as it is:
//! the host, not each plugin, enforces one set of rules here.
//!
//! - An **identifier** that keys a row (a message's or status's external id, a party id, a
//!   watermark's recipient) cannot be shortened without making two different ids collide, so
//!   an event with an over-long one is **dropped** and counted. An optional reference
//!   (`reply_to`, `recipient`) that is too long is cleared instead.
//! - **Free text** (message text, names, captions, provider error messages) is **truncated**
//!   at a character boundary.
//! - An over-large **extra JSON** object is replaced by a note saying so; an attachment whose
//!   reference or URL is too long is dropped; at most [`MAX_ATTACHMENTS`] are kept.
//!
//! Every drop or cut is counted in `switchboard_plugin_output_limited_total{channel, field}`
//! and logged at `warn` once per webhook; the raw webhook stays in the webhook log for its
//! retention period.

use crate::model::{Attachment, Event, InboundMessage, Party};

/// External ids, party ids and other keys, in bytes. Generous: WhatsApp's `wamid`s are ~60
/// bytes, email `Message-ID`s rarely pass 250.
pub const MAX_ID: usize = 512;
/// Message text, in bytes (about 16 times WhatsApp's 4,096-character limit).
pub const MAX_TEXT: usize = 64 * 1024;
/// Display names, usernames, file names, MIME types, keywords, error codes.
pub const MAX_NAME: usize = 256;
/// Captions and provider error messages.
pub const MAX_CAPTION: usize = 4096;
/// Media references and URLs.
pub const MAX_URL: usize = 2048;
/// Attachments kept per message.
pub const MAX_ATTACHMENTS: usize = 32;
/// A message's extra JSON, serialised.
pub const MAX_EXTRA_JSON: usize = 16 * 1024;
/// Events kept from one webhook.
pub const MAX_EVENTS: usize = 10_000;

/// What the limits changed in one webhook's events: `(field, how many)`, for metrics and logs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Limited {
    pub changes: Vec<(&'static str, u32)>,
}

impl Limited {
    fn note(&mut self, field: &'static str) {
        match self.changes.iter_mut().find(|(name, _)| *name == field) {
            Some((_, count)) => *count += 1,
            None => self.changes.push((field, 1)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Apply the rules to one webhook's events, in place.
pub fn apply(events: &mut Vec<Event>) -> Limited {
    let mut limited = Limited::default();
    if events.len() > MAX_EVENTS {
        for _ in MAX_EVENTS..events.len() {
            limited.note("events");
        }
        events.truncate(MAX_EVENTS);
    }
    events.retain_mut(|event| keep(event, &mut limited));
    limited
}

/// Limit one event; `false` drops it.
fn keep(event: &mut Event, limited: &mut Limited) -> bool {
    match event {
        Event::Message(message) => keep_message(message, limited),
        Event::Status(status) => {
            if status.external_id.len() > MAX_ID {
                limited.note("status.external_id");
                return false;
            }
            clear_if_long(&mut status.recipient, MAX_ID, "status.recipient", limited);
            if let Some(error) = &mut status.error {
                cut(&mut error.code, MAX_NAME, "status.error.code", limited);
                cut(&mut error.message, MAX_CAPTION, "status.error.message", limited);
            }
            true
        }
        Event::Watermark(mark) => {
            if mark.recipient.len() > MAX_ID {
                limited.note("watermark.recipient");
                return false;
            }
            true
        }
        Event::Profile(party) => keep_party(party, "profile", limited),
        Event::Consent(consent) => {
            cut(&mut consent.keyword, MAX_NAME, "consent.keyword", limited);
            keep_party(&mut consent.party, "consent.party", limited)
        }
    }
}

fn keep_message(message: &mut InboundMessage, limited: &mut Limited) -> bool {
    if message.external_id.len() > MAX_ID {
        limited.note("message.external_id");
        return false;
    }
    if !keep_party(&mut message.sender, "message.sender", limited) {
        return false;
    }
    clear_if_long(&mut message.recipient, MAX_ID, "message.recipient", limited);
    clear_if_long(&mut message.reply_to, MAX_ID, "message.reply_to", limited);
    if let Some(text) = &mut message.text {
        cut(text, MAX_TEXT, "message.text", limited);
    }
    if message.attachments.len() > MAX_ATTACHMENTS {
        limited.note("message.attachments");
        message.attachments.truncate(MAX_ATTACHMENTS);
    }
    message.attachments.retain_mut(|attachment| keep_attachment(attachment, limited));
    if let Some(extra) = &message.extra {
        let size = serialized_len(extra);
        if size > MAX_EXTRA_JSON {
            limited.note("message.extra");
            message.extra = Some(serde_json::json!({ "omitted": format!("extra data of {size} bytes is over the {MAX_EXTRA_JSON}-byte limit") }));
        }
    }
    true
}

/// The length of `value` as compact JSON, counted without building the text.
fn serialized_len(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

fn keep_attachment(attachment: &mut Attachment, limited: &mut Limited) -> bool {
    if attachment.reference.len() > MAX_URL || attachment.url.as_ref().is_some_and(|url| url.len() > MAX_URL) {
        limited.note("attachment.reference");
        return false;
    }
    clear_if_long(&mut attachment.mime_type, MAX_NAME, "attachment.mime_type", limited);
    clear_if_long(&mut attachment.sha256, MAX_NAME, "attachment.sha256", limited);
    if let Some(filename) = &mut attachment.filename {
        cut(filename, MAX_NAME, "attachment.filename", limited);
    }
    if let Some(caption) = &mut attachment.caption {
        cut(caption, MAX_CAPTION, "attachment.caption", limited);
    }
    true
}

/// Limit a party; `false` when its id is too long to be kept.
fn keep_party(party: &mut Party, field: &'static str, limited: &mut Limited) -> bool {
    if party.id.len() > MAX_ID {
        limited.note(field);
        return false;
    }
    // Phones and emails are validated by `identity`; these bounds only stop huge strings.
    clear_if_long(&mut party.phone, MAX_NAME, "party.phone", limited);
    clear_if_long(&mut party.email, MAX_NAME * 2, "party.email", limited);
    for text in [&mut party.display_name, &mut party.username].into_iter().flatten() {
        cut(text, MAX_NAME, "party.name", limited);
    }
    true
}

fn clear_if_long(value: &mut Option<String>, max: usize, field: &'static str, limited: &mut Limited) {
    if value.as_ref().is_some_and(|text| text.len() > max) {
        limited.note(field);
        *value = None;
    }
}

/// Cut `text` to at most `max` bytes, at a character boundary.
fn cut(text: &mut String, max: usize, field: &'static str, limited: &mut Limited) {
    if text.len() > max {
        limited.note(field);
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeliveryStatus, StatusUpdate};

    fn message(id: &str, sender: &str, text: &str) -> Event {
        Event::Message(InboundMessage {
            external_id: id.into(),
            sender: Party { id: sender.into(), display_name: Some("é".repeat(1000)), ..Party::default() },
            recipient: None,
            kind: crate::model::MessageKind::Text,
            text: Some(text.into()),
            attachments: vec![],
            reply_to: Some("r".repeat(MAX_ID + 1)),
            timestamp_ms: 0,
            echo: false,
            extra: Some(serde_json::json!({ "blob": "x".repeat(MAX_EXTRA_JSON) })),
        })
    }

    #[test]
    fn over_long_ids_drop_the_event_and_texts_are_cut_at_char_boundaries() {
        let mut events = vec![
            message(&"i".repeat(64 * 1024), "alice", "dropped: id too long"),
            message("ok-1", &"s".repeat(MAX_ID + 1), "dropped: sender id too long"),
            message("ok-2", "bob", &"ü".repeat(MAX_TEXT)),
            Event::Status(StatusUpdate {
                external_id: "x".repeat(MAX_ID + 1),
                status: DeliveryStatus::Read,
                timestamp_ms: 0,
                recipient: None,
                error: None,
            }),
        ];
        let limited = apply(&mut events);
        assert_eq!(events.len(), 1, "only the message with acceptable ids is kept");
        let Event::Message(kept) = &events[0] else { panic!("a message") };
        assert_eq!(kept.external_id, "ok-2");
        let text = kept.text.as_deref().unwrap();
        assert!(text.len() <= MAX_TEXT && text.len() > MAX_TEXT - 4 && text.chars().all(|c| c == 'ü'));
        assert!(kept.sender.display_name.as_deref().unwrap().len() <= MAX_NAME);
        assert_eq!(kept.reply_to, None);
        assert!(kept.extra.as_ref().unwrap()["omitted"].is_string());
        for field in ["message.external_id", "message.sender", "message.text", "party.name", "message.reply_to", "message.extra", "status.external_id"] {
            assert!(limited.changes.iter().any(|(name, _)| *name == field), "{field} in {limited:?}");
        }
    }

    #[test]
    fn serialized_len_counts_compact_json() {
        let value = serde_json::json!({"a": [1, "é"], "b": null});
        assert_eq!(serialized_len(&value), serde_json::to_vec(&value).unwrap().len());
    }

    #[test]
    fn events_within_limits_are_untouched() {
        let mut events = vec![Event::Profile(Party { id: "p".into(), display_name: Some("Ana".into()), ..Party::default() })];
        let before = events.clone();
        assert!(apply(&mut events).is_empty());
        assert_eq!(events, before);
    }
}
