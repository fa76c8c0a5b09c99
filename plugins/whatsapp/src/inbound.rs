//! WhatsApp Cloud API webhooks → Switchboard events.
//!
//! Everything here is pure: no host imports are called, so it runs (and is tested) natively.
//! The envelope (`object` / `entry` / `changes`) is decoded into types; the message, status and
//! contact objects are read leniently from JSON values, so that one odd message becomes an
//! `unsupported` event (or is skipped) instead of failing the whole delivery.
//!
//! Payload reference: <https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components>

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_sdk::prelude::*;
use switchboard_sdk::content::{MessageContent, extra_json};

/// The only `object` a WhatsApp Business Account webhook carries.
pub const OBJECT: &str = "whatsapp_business_account";

/// A decoded webhook envelope. Entries and changes stay JSON values and are read one by one
/// (by reference, without copying them), so that one malformed part is skipped instead of
/// losing the valid ones beside it.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookPayload {
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Value>,
}

/// The `value` of a `messages` change.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessagesValue {
    #[serde(default)]
    pub messaging_product: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub contacts: Vec<Value>,
    #[serde(default)]
    pub messages: Vec<Value>,
    #[serde(default)]
    pub statuses: Vec<Value>,
}

/// The business phone number that received the messages.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(default)]
    pub phone_number_id: Option<String>,
}

/// The events of one webhook, plus notes on what was skipped (for debug logging).
#[derive(Debug, Clone, Default)]
pub struct Mapped {
    pub events: Vec<Event>,
    /// One line per message or status that produced no event, without message content.
    pub skipped: Vec<String>,
}

/// WhatsApp error codes on a failed status after which sending again later may succeed:
/// rate limit, something went wrong, service unavailable, spam rate limit, pair rate limit.
pub const RETRYABLE_STATUS_CODES: [i64; 5] = [130429, 131000, 131016, 131048, 131056];

/// Decode a raw webhook body and map it to events (see [`events_from_payload`]).
pub fn parse_body(body: &[u8], own_number: Option<&str>, now_ms: u64) -> Result<Mapped, Rejection> {
    let payload: WebhookPayload = switchboard_sdk::decode::json(body)?;
    events_from_payload(&payload, own_number, now_ms)
}

/// Map a decoded webhook to events: for every entry and every `messages` change, one
/// [`Event::Profile`] per contact, one [`Event::Message`] per message and one
/// [`Event::Status`] per status with a known status value.
///
/// - **Binding:** with `own_number` (the channel's `phone_number_id`), a change for another
///   business number is skipped. Numbers of one Meta app share its app secret, so the
///   signature alone does not say which channel instance a webhook is for.
/// - **Partial payloads:** an entry, change or `value` that does not have the documented shape
///   is skipped with a note, and the rest is mapped. Only when nothing in the body can be
///   read, or its `object` is not `whatsapp_business_account`, is it a `bad-request`
///   rejection: redelivering a body never makes a malformed part readable, so refusing a body
///   over one bad part would lose the good ones on every retry.
///
/// `now_ms` stands in for a missing or unreadable `timestamp`.
pub fn events_from_payload(payload: &WebhookPayload, own_number: Option<&str>, now_ms: u64) -> Result<Mapped, Rejection> {
    if payload.object != OBJECT {
        return Err(Rejection::bad_request(format!(
            "unexpected webhook object `{}`; expected `{OBJECT}`",
            truncate(&payload.object, 64)
        )));
    }
    let mut mapped = Mapped::default();
    let (mut readable, mut unreadable) = (0usize, Vec::new());
    for (entry_index, entry) in payload.entry.iter().enumerate() {
        let changes = match entry.get("changes") {
            Some(Value::Array(changes)) if entry.is_object() => changes,
            None | Some(Value::Null) if entry.is_object() => continue,
            _ => {
                unreadable.push(format!("entry[{entry_index}] is not an entry with a `changes` list"));
                continue;
            }
        };
        for (change_index, change) in changes.iter().enumerate() {
            let at = format!("entry[{entry_index}].changes[{change_index}]");
            let field = match change.get("field") {
                Some(Value::String(field)) => field.as_str(),
                None if change.is_object() => "",
                _ => {
                    unreadable.push(format!("{at} is not a change"));
                    continue;
                }
            };
            if field != "messages" {
                readable += 1;
                continue;
            }
            let value = match MessagesValue::deserialize(change.get("value").unwrap_or(&Value::Null)) {
                Ok(value) => value,
                Err(error) => {
                    unreadable.push(format!("{at}.value is not a messages value: {error}"));
                    continue;
                }
            };
            readable += 1;
            if let Some(own) = own_number {
                let theirs = value.metadata.phone_number_id.as_deref().unwrap_or_default();
                if theirs != own {
                    mapped.skipped.push(format!(
                        "{at} is for phone number id `{}`, not this channel's; another channel instance receives it",
                        truncate(theirs, 64)
                    ));
                    continue;
                }
            }
            map_messages_value(&value, now_ms, &mut mapped);
        }
    }
    if readable == 0
        && let Some(first) = unreadable.first()
    {
        return Err(Rejection::bad_request(format!("nothing in the webhook could be read: {first}")));
    }
    mapped.skipped.extend(unreadable);
    Ok(mapped)
}

fn map_messages_value(value: &MessagesValue, now_ms: u64, mapped: &mut Mapped) {
    for contact in &value.contacts {
        if let Some(party) = contact_party(contact) {
            mapped.events.push(Event::Profile(party));
        }
    }
    let recipient = value.metadata.phone_number_id.clone().filter(|id| !id.is_empty());
    for (index, message) in value.messages.iter().enumerate() {
        match map_message(message, &value.contacts, recipient.as_deref(), now_ms) {
            Some(inbound) => mapped.events.push(Event::Message(inbound)),
            None => mapped.skipped.push(format!("messages[{index}] has no `id` or `from`")),
        }
    }
    for (index, status) in value.statuses.iter().enumerate() {
        match map_status(status, now_ms) {
            Ok(update) => mapped.events.push(Event::Status(update)),
            Err(reason) => mapped.skipped.push(format!("statuses[{index}]: {reason}")),
        }
    }
}

/// A `contacts[]` entry as a party: `wa_id`, `+wa_id` and the profile name.
fn contact_party(contact: &Value) -> Option<Party> {
    let wa_id = text(contact, "wa_id")?;
    Some(Party {
        phone: phone_from_wa_id(&wa_id),
        display_name: contact.get("profile").and_then(|profile| text(profile, "name")),
        id: wa_id,
        email: None,
        username: None,
    })
}

/// The name of the sender `wa_id` from `contacts[]`, or of the first contact when none matches
/// (Meta's `wa_id` and `from` can differ, e.g. for Brazilian numbers with and without the 9).
fn display_name_for(contacts: &[Value], wa_id: &str) -> Option<String> {
    let matching = contacts.iter().find(|contact| contact.get("wa_id").and_then(Value::as_str) == Some(wa_id));
    matching
        .or_else(|| contacts.first())
        .and_then(|contact| contact.get("profile"))
        .and_then(|profile| text(profile, "name"))
}

/// `+` and the digits of a `wa_id`, when it is one.
pub fn phone_from_wa_id(wa_id: &str) -> Option<String> {
    let digits = wa_id.strip_prefix('+').unwrap_or(wa_id);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| format!("+{digits}"))
}

/// Map one `messages[]` object. `None` when it lacks the `id` or `from` every message needs.
fn map_message(message: &Value, contacts: &[Value], recipient: Option<&str>, now_ms: u64) -> Option<InboundMessage> {
    let external_id = text(message, "id")?;
    let from = text(message, "from")?;
    let sender = Party {
        phone: phone_from_wa_id(&from),
        display_name: display_name_for(contacts, &from),
        id: from,
        email: None,
        username: None,
    };
    let context = message.get("context");
    let reply_to = context.and_then(|context| text(context, "id"));
    let timestamp_ms = timestamp_ms(message.get("timestamp")).unwrap_or(now_ms);
    let kind_name = message.get("type").and_then(Value::as_str).unwrap_or("");

    let content = message_content(message, kind_name).unwrap_or_else(|| unsupported(message));
    let mut extra = content.extra;
    if content.kind != MessageKind::Unsupported {
        // Provider data worth keeping whatever the type: ad referrals and forwarding flags.
        if let Some(referral) = message.get("referral").filter(|v| v.is_object()) {
            extra.insert("referral".into(), referral.clone());
        }
        for flag in ["forwarded", "frequently_forwarded"] {
            if let Some(true) = context.and_then(|context| context.get(flag)).and_then(Value::as_bool) {
                extra.insert(flag.into(), Value::Bool(true));
            }
        }
    }
    Some(InboundMessage {
        external_id,
        sender,
        recipient: recipient.map(str::to_owned),
        kind: content.kind,
        text: content.text,
        attachments: content.attachments,
        reply_to,
        timestamp_ms,
        echo: false,
        extra_json: extra_json(extra),
    })
}

/// The content of a message of type `kind_name`; `None` when it is not one we understand.
fn message_content(message: &Value, kind_name: &str) -> Option<MessageContent> {
    let body = message.get(kind_name).filter(|body| body.is_object());
    match kind_name {
        "text" => Some(MessageContent::new(MessageKind::Text, body.and_then(|body| text(body, "body")))),
        "image" | "audio" | "video" | "document" | "sticker" => media_content(kind_name, body?),
        "location" => {
            let location = body?;
            let name = text(location, "name");
            let address = text(location, "address");
            Some(
                MessageContent::new(MessageKind::Location, name.clone().or_else(|| address.clone()))
                    .with_extra("latitude", location.get("latitude").cloned())
                    .with_extra("longitude", location.get("longitude").cloned())
                    .with_extra("name", name.map(Value::String))
                    .with_extra("address", address.map(Value::String))
                    .with_extra("url", text(location, "url").map(Value::String)),
            )
        }
        "contacts" => {
            let cards = message.get("contacts").filter(|cards| cards.is_array())?;
            let names: Vec<String> = cards
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|card| card.get("name").and_then(|name| text(name, "formatted_name")))
                .collect();
            Some(
                MessageContent::new(MessageKind::Contacts, (!names.is_empty()).then(|| names.join(", ")))
                    .with_extra("contacts", Some(cards.clone())),
            )
        }
        "interactive" => interactive_content(body?),
        "button" => {
            let button = body?;
            Some(
                MessageContent::new(MessageKind::Interactive, text(button, "text"))
                    .with_extra("type", Some(json!("button")))
                    .with_extra("payload", text(button, "payload").map(Value::String)),
            )
        }
        "reaction" => {
            let reaction = body?;
            let emoji = text(reaction, "emoji");
            Some(
                MessageContent::new(MessageKind::Reaction, emoji.clone())
                    .with_extra("message_id", text(reaction, "message_id").map(Value::String))
                    .with_extra("emoji", emoji.map(Value::String)),
            )
        }
        _ => None,
    }
}

fn media_content(kind_name: &str, media: &Value) -> Option<MessageContent> {
    let (message_kind, media_kind) = match kind_name {
        "image" => (MessageKind::Image, MediaKind::Image),
        "audio" => (MessageKind::Audio, MediaKind::Audio),
        "video" => (MessageKind::Video, MediaKind::Video),
        "document" => (MessageKind::Document, MediaKind::Document),
        "sticker" => (MessageKind::Sticker, MediaKind::Sticker),
        _ => return None,
    };
    let url = text(media, "url");
    let reference = text(media, "id").or_else(|| url.clone())?;
    let caption = text(media, "caption");
    let attachment = Attachment {
        kind: media_kind,
        reference,
        url,
        mime_type: text(media, "mime_type"),
        filename: if media_kind == MediaKind::Document { text(media, "filename") } else { None },
        caption: caption.clone(),
        sha256: text(media, "sha256"),
    };
    let mut content = MessageContent::new(message_kind, caption)
        .with_extra("voice", media.get("voice").filter(|v| v.is_boolean()).cloned())
        .with_extra("animated", media.get("animated").filter(|v| v.is_boolean()).cloned());
    content.attachments.push(attachment);
    Some(content)
}

fn interactive_content(interactive: &Value) -> Option<MessageContent> {
    let reply_type = interactive.get("type").and_then(Value::as_str).unwrap_or("");
    let reply = interactive.get(reply_type).filter(|reply| reply.is_object());
    let content = match (reply_type, reply) {
        ("button_reply", Some(reply)) | ("list_reply", Some(reply)) => {
            MessageContent::new(MessageKind::Interactive, text(reply, "title"))
                .with_extra("type", Some(json!(reply_type)))
                .with_extra("id", text(reply, "id").map(Value::String))
                .with_extra("description", text(reply, "description").map(Value::String))
        }
        // A WhatsApp Flow's answer.
        ("nfm_reply", Some(reply)) => MessageContent::new(MessageKind::Interactive, text(reply, "body"))
            .with_extra("type", Some(json!(reply_type)))
            .with_extra("name", text(reply, "name").map(Value::String))
            .with_extra("response_json", text(reply, "response_json").map(Value::String)),
        _ => MessageContent::new(MessageKind::Interactive, None).with_extra("interactive", Some(interactive.clone())),
    };
    Some(content)
}

/// A message we do not understand, kept whole in `extra-json`.
fn unsupported(message: &Value) -> MessageContent {
    let mut content = MessageContent::new(MessageKind::Unsupported, None);
    if let Value::Object(raw) = message {
        content.extra = raw.clone();
    }
    content
}

/// Map one `statuses[]` object, or say why it was skipped.
fn map_status(status: &Value, now_ms: u64) -> Result<StatusUpdate, String> {
    let external_id = text(status, "id").ok_or("no `id`")?;
    let value = status.get("status").and_then(Value::as_str).unwrap_or("");
    let delivery = match value {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        other => return Err(format!("status `{}` is not tracked", truncate(other, 32))),
    };
    let error = status
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first())
        .map(provider_error)
        .or_else(|| {
            (delivery == DeliveryStatus::Failed).then(|| ProviderError {
                code: "unknown".into(),
                message: "WhatsApp reported the message as failed without details".into(),
                retryable: false,
            })
        });
    Ok(StatusUpdate {
        external_id,
        status: delivery,
        timestamp_ms: timestamp_ms(status.get("timestamp")).unwrap_or(now_ms),
        recipient: text(status, "recipient_id"),
        error,
    })
}

/// `errors[0]` of a status: code, `title` (or `message`) with `error_data.details` appended.
pub fn provider_error(error: &Value) -> ProviderError {
    let code = error.get("code").and_then(code_number);
    let code_text = match error.get("code") {
        Some(Value::String(code)) if !code.is_empty() => code.clone(),
        Some(Value::Number(code)) => code.to_string(),
        _ => "unknown".into(),
    };
    let headline = text(error, "title").or_else(|| text(error, "message"));
    let details = error.get("error_data").and_then(|data| text(data, "details"));
    let message = match (headline, details) {
        (Some(headline), Some(details)) if headline != details => format!("{headline}: {details}"),
        (Some(headline), _) => headline,
        (None, Some(details)) => details,
        (None, None) => "unknown WhatsApp error".into(),
    };
    ProviderError {
        code: code_text,
        message,
        retryable: code.is_some_and(|code| RETRYABLE_STATUS_CODES.contains(&code)),
    }
}

/// An error code given as a number or a numeric string.
fn code_number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// A Unix-seconds timestamp (Meta sends strings; numbers are accepted too) in milliseconds.
pub fn timestamp_ms(value: Option<&Value>) -> Option<u64> {
    let seconds = match value? {
        Value::String(text) => text.trim().parse::<u64>().ok()?,
        Value::Number(number) => number.as_u64()?,
        _ => return None,
    };
    Some(seconds.saturating_mul(1000))
}

/// A non-empty string field.
fn text(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).filter(|text| !text.is_empty()).map(str::to_owned)
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::{extra, messages};

    const TEXT: &str = include_str!("../../../tests/fixtures/whatsapp/text.json");
    const MULTI: &str = include_str!("../../../tests/fixtures/whatsapp/multi.json");
    const MEDIA: &str = include_str!("../../../tests/fixtures/whatsapp/media.json");
    const STATUS_SENT: &str = include_str!("../../../tests/fixtures/whatsapp/status_sent.json");
    const STATUS_DELIVERED: &str = include_str!("../../../tests/fixtures/whatsapp/status_delivered.json");
    const STATUS_READ: &str = include_str!("../../../tests/fixtures/whatsapp/status_read.json");
    const STATUS_FAILED: &str = include_str!("../../../tests/fixtures/whatsapp/status_failed.json");

    const NOW: u64 = 1_700_000_000_000;
    const PHONE_NUMBER_ID: &str = "106540352242922";
    const WAMID: &str = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA";

    fn events(body: &str) -> Vec<Event> {
        let mapped = parse_body(body.as_bytes(), Some(PHONE_NUMBER_ID), NOW).expect("payload maps");
        mapped.events
    }

    fn profiles(events: &[Event]) -> Vec<&Party> {
        events.iter().filter_map(|e| if let Event::Profile(p) = e { Some(p) } else { None }).collect()
    }

    fn statuses(events: &[Event]) -> Vec<&StatusUpdate> {
        events.iter().filter_map(|e| if let Event::Status(s) = e { Some(s) } else { None }).collect()
    }

    /// Wrap `messages` and `contacts` in a full Cloud API envelope.
    fn envelope(contacts: Value, messages: Value) -> String {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": "102290129340398",
                "changes": [{
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                        "contacts": contacts,
                        "messages": messages
                    },
                    "field": "messages"
                }]
            }]
        })
        .to_string()
    }

    fn one_message(message: Value) -> InboundMessage {
        let body = envelope(json!([{"profile": {"name": "Kerry Fisher"}, "wa_id": "16315551181"}]), json!([message]));
        let events = events(&body);
        let found = messages(&events);
        assert_eq!(found.len(), 1);
        found[0].clone()
    }

    #[test]
    fn text_fixture_maps_to_profile_and_message() {
        let events = events(TEXT);
        assert_eq!(events.len(), 2);
        let profile = profiles(&events)[0];
        assert_eq!(profile.id, "16505551234");
        assert_eq!(profile.phone.as_deref(), Some("+16505551234"));
        assert_eq!(profile.display_name.as_deref(), Some("José García"));

        let message = messages(&events)[0];
        assert!(message.external_id.starts_with("wamid."));
        assert_eq!(message.kind, MessageKind::Text);
        assert_eq!(message.text.as_deref(), Some("Olá! Preciso de ajuda com o pedido #12345 🙏"));
        assert_eq!(message.sender.id, "16505551234");
        assert_eq!(message.sender.phone.as_deref(), Some("+16505551234"));
        assert_eq!(message.sender.display_name.as_deref(), Some("José García"));
        assert_eq!(message.recipient.as_deref(), Some("106540352242922"));
        assert_eq!(message.timestamp_ms, 1_749_416_383_000);
        assert!(message.attachments.is_empty());
        assert!(message.reply_to.is_none());
        assert!(!message.echo);
        assert!(message.extra_json.is_none());
    }

    #[test]
    fn escaped_non_ascii_and_emoji_decode() {
        // Meta escapes non-ASCII text as `\u` sequences, emoji as surrogate pairs.
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Lu\u00eds"},"wa_id":"5511987654321"}],"messages":[{"from":"5511987654321","id":"wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMEYzRUQ5","timestamp":"1749416400","type":"text","text":{"body":"Ol\u00e1 \ud83d\udc4b"}}]},"field":"messages"}]}]}"#;
        assert!(body.contains(r"\ud83d\udc4b"));
        let events = events(body);
        let message = messages(&events)[0];
        assert_eq!(message.text.as_deref(), Some("Olá 👋"));
        assert_eq!(message.sender.display_name.as_deref(), Some("Luís"));
        assert_eq!(profiles(&events)[0].display_name.as_deref(), Some("Luís"));
    }

    #[test]
    fn multi_fixture_processes_every_message_and_contact() {
        let events = events(MULTI);
        let profiles = profiles(&events);
        assert_eq!(profiles.len(), 2);
        let messages = messages(&events);
        assert_eq!(messages.len(), 2);

        assert_eq!(messages[0].kind, MessageKind::Text);
        assert_eq!(messages[0].sender.id, "16505551234");
        assert_eq!(messages[0].sender.display_name.as_deref(), Some("José García"));

        let image = messages[1];
        assert_eq!(image.kind, MessageKind::Image);
        assert_eq!(image.sender.id, "5511987654321");
        assert_eq!(image.sender.display_name.as_deref(), Some("Ana Luísa Souza"));
        assert_eq!(image.sender.phone.as_deref(), Some("+5511987654321"));
        assert_eq!(image.attachments.len(), 1);
        assert_eq!(image.text, image.attachments[0].caption);
        assert!(image.text.is_some());
        assert_ne!(messages[0].external_id, image.external_id);
    }

    #[test]
    fn media_fixture_maps_each_kind() {
        let events = events(MEDIA);
        let messages = messages(&events);
        let kinds: Vec<_> = messages.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, [MessageKind::Image, MessageKind::Audio, MessageKind::Video, MessageKind::Document]);
        let media: Vec<_> = messages.iter().map(|m| m.attachments[0].kind).collect();
        assert_eq!(media, [MediaKind::Image, MediaKind::Audio, MediaKind::Video, MediaKind::Document]);
        for message in &messages {
            let attachment = &message.attachments[0];
            assert!(!attachment.reference.is_empty());
            assert!(attachment.mime_type.is_some());
            assert!(attachment.sha256.is_some());
            assert_eq!(message.text, attachment.caption);
        }
        assert_eq!(messages[0].attachments[0].mime_type.as_deref(), Some("image/jpeg"));
        assert_eq!(messages[1].attachments[0].caption, None);
        assert_eq!(extra(messages[1])["voice"], json!(true));
        let document = &messages[3].attachments[0];
        assert_eq!(document.filename.as_deref(), Some("nota-fiscal-12345.pdf"));
        assert_eq!(document.mime_type.as_deref(), Some("application/pdf"));
        assert_eq!(messages[0].attachments[0].filename, None);
    }

    #[test]
    fn sticker_and_media_without_caption() {
        let message = one_message(json!({
            "from": "16315551181", "id": "wamid.S", "timestamp": "1700000001", "type": "sticker",
            "sticker": {"mime_type": "image/webp", "sha256": "c3RpY2tlcg==", "id": "112233", "animated": false}
        }));
        assert_eq!(message.kind, MessageKind::Sticker);
        assert_eq!(message.attachments[0].kind, MediaKind::Sticker);
        assert_eq!(message.attachments[0].reference, "112233");
        assert_eq!(message.text, None);
    }

    #[test]
    fn location_message() {
        let message = one_message(json!({
            "from": "16315551181", "id": "wamid.L", "timestamp": "1700000002", "type": "location",
            "location": {"latitude": -23.5613, "longitude": -46.6565, "name": "Avenida Paulista", "address": "Av. Paulista, 1578 - S\u{e3}o Paulo"}
        }));
        assert_eq!(message.kind, MessageKind::Location);
        assert_eq!(message.text.as_deref(), Some("Avenida Paulista"));
        let extra = extra(&message);
        assert_eq!(extra["latitude"], json!(-23.5613));
        assert_eq!(extra["longitude"], json!(-46.6565));
        assert_eq!(extra["address"], json!("Av. Paulista, 1578 - São Paulo"));

        let unnamed = one_message(json!({
            "from": "16315551181", "id": "wamid.L2", "timestamp": "1700000002", "type": "location",
            "location": {"latitude": 1.5, "longitude": 2.5, "address": "Somewhere 1"}
        }));
        assert_eq!(unnamed.text.as_deref(), Some("Somewhere 1"));
    }

    #[test]
    fn contacts_message() {
        let message = one_message(json!({
            "from": "16315551181", "id": "wamid.C", "timestamp": "1700000003", "type": "contacts",
            "contacts": [{
                "name": {"formatted_name": "Barbara Johnson", "first_name": "Barbara", "last_name": "Johnson"},
                "phones": [{"phone": "+1 (940) 555-1234", "wa_id": "19405551234", "type": "WORK"}]
            }]
        }));
        assert_eq!(message.kind, MessageKind::Contacts);
        assert_eq!(message.text.as_deref(), Some("Barbara Johnson"));
        assert_eq!(extra(&message)["contacts"][0]["phones"][0]["wa_id"], json!("19405551234"));
    }

    #[test]
    fn interactive_replies_and_buttons() {
        let button = one_message(json!({
            "context": {"from": "15550783881", "id": "wamid.ORIGINAL"},
            "from": "16315551181", "id": "wamid.I1", "timestamp": "1700000004", "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "confirm-order", "title": "Confirmar"}}
        }));
        assert_eq!(button.kind, MessageKind::Interactive);
        assert_eq!(button.text.as_deref(), Some("Confirmar"));
        assert_eq!(button.reply_to.as_deref(), Some("wamid.ORIGINAL"));
        assert_eq!(extra(&button)["id"], json!("confirm-order"));

        let list = one_message(json!({
            "from": "16315551181", "id": "wamid.I2", "timestamp": "1700000005", "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": "slot-2", "title": "Tuesday 10:00", "description": "Downtown"}}
        }));
        assert_eq!(list.text.as_deref(), Some("Tuesday 10:00"));
        assert_eq!(extra(&list)["id"], json!("slot-2"));
        assert_eq!(extra(&list)["type"], json!("list_reply"));

        let template_button = one_message(json!({
            "context": {"from": "15550783881", "id": "wamid.TEMPLATE"},
            "from": "16315551181", "id": "wamid.B", "timestamp": "1700000006", "type": "button",
            "button": {"payload": "STOP_PROMOTIONS", "text": "Stop promotions"}
        }));
        assert_eq!(template_button.kind, MessageKind::Interactive);
        assert_eq!(template_button.text.as_deref(), Some("Stop promotions"));
        assert_eq!(extra(&template_button)["payload"], json!("STOP_PROMOTIONS"));
    }

    #[test]
    fn reaction_message() {
        let message = one_message(json!({
            "from": "16315551181", "id": "wamid.R", "timestamp": "1700000007", "type": "reaction",
            "reaction": {"message_id": "wamid.TARGET", "emoji": "\u{1F44D}"}
        }));
        assert_eq!(message.kind, MessageKind::Reaction);
        assert_eq!(message.text.as_deref(), Some("👍"));
        assert_eq!(extra(&message)["message_id"], json!("wamid.TARGET"));
    }

    #[test]
    fn unknown_types_are_unsupported_with_raw_message() {
        let raw = json!({
            "from": "16315551181", "id": "wamid.U", "timestamp": "1700000008", "type": "unsupported",
            "errors": [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."}}],
            "unsupported": {"type": "edit"}
        });
        let message = one_message(raw.clone());
        assert_eq!(message.kind, MessageKind::Unsupported);
        assert_eq!(message.text, None);
        assert_eq!(extra(&message), raw);

        // A known type with a missing body is unsupported too, not a panic.
        let broken = one_message(json!({"from": "16315551181", "id": "wamid.X", "timestamp": "1", "type": "image"}));
        assert_eq!(broken.kind, MessageKind::Unsupported);
    }

    #[test]
    fn display_name_falls_back_to_first_contact() {
        let body = envelope(
            json!([{"profile": {"name": "Jo\u{e3}o"}, "wa_id": "551187654321"}]),
            json!([{"from": "5511987654321", "id": "wamid.F", "timestamp": "1700000009", "type": "text", "text": {"body": "oi"}}]),
        );
        let events = events(&body);
        assert_eq!(messages(&events)[0].sender.display_name.as_deref(), Some("João"));
    }

    #[test]
    fn messages_without_id_are_skipped_and_bad_timestamps_fall_back() {
        let body = envelope(
            json!([]),
            json!([
                {"from": "16315551181", "timestamp": "1700000000", "type": "text", "text": {"body": "no id"}},
                {"from": "16315551181", "id": "wamid.T", "timestamp": "soon", "type": "text", "text": {"body": "x"}}
            ]),
        );
        let mapped = parse_body(body.as_bytes(), Some(PHONE_NUMBER_ID), NOW).unwrap();
        assert_eq!(mapped.skipped.len(), 1);
        assert!(!mapped.skipped[0].contains("no id"), "skip notes must not carry content");
        let events = mapped.events;
        assert_eq!(messages(&events).len(), 1);
        assert_eq!(messages(&events)[0].timestamp_ms, NOW);
    }

    #[test]
    fn status_fixtures_map_to_status_updates() {
        let cases = [
            (STATUS_SENT, DeliveryStatus::Sent),
            (STATUS_DELIVERED, DeliveryStatus::Delivered),
            (STATUS_READ, DeliveryStatus::Read),
            (STATUS_FAILED, DeliveryStatus::Failed),
        ];
        for (fixture, expected) in cases {
            assert!(fixture.contains("{{WAMID}}"));
            let events = events(&fixture.replace("{{WAMID}}", WAMID));
            assert_eq!(events.len(), 1, "{expected:?}");
            let status = statuses(&events)[0];
            assert_eq!(status.external_id, WAMID);
            assert_eq!(status.status, expected);
            assert_eq!(status.recipient.as_deref(), Some("16505551234"));
            assert!(status.timestamp_ms > 1_700_000_000_000);
            assert_eq!(status.error.is_some(), expected == DeliveryStatus::Failed, "{expected:?}");
        }
        let events = events(&STATUS_FAILED.replace("{{WAMID}}", WAMID));
        let error = statuses(&events)[0].error.clone().unwrap();
        assert_eq!(error.code, "131047");
        assert!(error.message.starts_with("Re-engagement message: "), "{}", error.message);
        assert!(error.message.contains("24 hours"));
        assert!(!error.retryable);
    }

    #[test]
    fn status_error_retryability_and_unknown_statuses() {
        for (code, retryable) in [(130429, true), (131000, true), (131016, true), (131048, true), (131056, true), (131026, false), (131047, false)] {
            let error = provider_error(&json!({"code": code, "title": "t"}));
            assert_eq!(error.retryable, retryable, "code {code}");
            assert_eq!(error.code, code.to_string());
        }
        let error = provider_error(&json!({"code": 131000, "message": "Something went wrong"}));
        assert_eq!(error.message, "Something went wrong");

        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                "statuses": [
                    {"id": "wamid.A", "status": "deleted", "timestamp": "1700000000", "recipient_id": "1"},
                    {"id": "wamid.B", "status": "delivered", "timestamp": "1700000001", "recipient_id": "1"},
                    {"id": "wamid.C", "status": "failed", "timestamp": "1700000002", "recipient_id": "1"}
                ]
            }}]}]
        })
        .to_string();
        let mapped = parse_body(body.as_bytes(), Some(PHONE_NUMBER_ID), NOW).unwrap();
        let statuses = statuses(&mapped.events);
        assert_eq!(statuses.len(), 2);
        assert_eq!(statuses[0].external_id, "wamid.B");
        assert!(statuses[0].error.is_none());
        assert!(statuses[1].error.is_some());
        assert_eq!(mapped.skipped.len(), 1);
    }

    #[test]
    fn every_entry_and_change_is_processed_and_other_fields_ignored() {
        let message = |id: &str| json!({"from": "16505551234", "id": id, "timestamp": "1700000000", "type": "text", "text": {"body": "hi"}});
        let value = |id: &str| json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "messages": [message(id)]
        });
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "1", "changes": [{"field": "messages", "value": value("wamid.1")}, {"field": "messages", "value": value("wamid.2")}]},
                {"id": "2", "changes": [
                    {"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_id": 123}},
                    {"field": "messages", "value": value("wamid.3")}
                ]}
            ]
        })
        .to_string();
        let events = events(&body);
        let ids: Vec<_> = messages(&events).iter().map(|m| m.external_id.clone()).collect();
        assert_eq!(ids, ["wamid.1", "wamid.2", "wamid.3"]);
    }

    #[test]
    fn rejections() {
        let error = parse_body(br#"{"object":"page","entry":[]}"#, None, NOW).unwrap_err();
        assert_eq!(error.kind, RejectionKind::BadRequest);
        assert!(error.message.contains("page"));

        let error = parse_body(b"{\"object\":\"whatsapp_business_account\",", None, NOW).unwrap_err();
        assert_eq!(error.kind, RejectionKind::BadRequest);
        assert!(error.message.contains("malformed JSON"));

        let error = parse_body(b"", None, NOW).unwrap_err();
        assert_eq!(error.kind, RejectionKind::BadRequest);

        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":"nope"}}]}]}"#;
        assert_eq!(parse_body(body, None, NOW).unwrap_err().kind, RejectionKind::BadRequest);

        let empty = parse_body(br#"{"object":"whatsapp_business_account","entry":[]}"#, None, NOW).unwrap();
        assert!(empty.events.is_empty());
    }

    fn change(phone_number_id: &str, wamid: &str) -> Value {
        json!({"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "messages": [{"from": "16505551234", "id": wamid, "timestamp": "1749416400", "type": "text", "text": {"body": "hi"}}]
        }})
    }

    #[test]
    fn changes_for_another_business_number_are_skipped() {
        let body = json!({"object": OBJECT, "entry": [{"id": "1", "changes": [
            change("999999999999999", "wamid.other"),
            change(PHONE_NUMBER_ID, "wamid.ours"),
        ]}]})
        .to_string();
        let mapped = parse_body(body.as_bytes(), Some(PHONE_NUMBER_ID), NOW).unwrap();
        let ids: Vec<_> = messages(&mapped.events).iter().map(|m| m.external_id.clone()).collect();
        assert_eq!(ids, ["wamid.ours"]);
        assert!(mapped.skipped.iter().any(|note| note.contains("999999999999999")), "{:?}", mapped.skipped);

        // Only for another number: a valid, empty result (200, nothing stored), not a refusal.
        let body = json!({"object": OBJECT, "entry": [{"changes": [change("999999999999999", "wamid.other")]}]}).to_string();
        assert!(parse_body(body.as_bytes(), Some(PHONE_NUMBER_ID), NOW).unwrap().events.is_empty());
        // Without a configured number, every change is taken.
        assert_eq!(messages(&parse_body(body.as_bytes(), None, NOW).unwrap().events).len(), 1);
    }

    #[test]
    fn malformed_parts_are_skipped_and_the_rest_is_stored() {
        let body = json!({"object": OBJECT, "entry": [
            {"changes": [
                {"field": "messages", "value": {"messages": "not a list"}},
                {"field": "messages", "value": 42},
                "not a change",
                change(PHONE_NUMBER_ID, "wamid.good"),
            ]},
            {"changes": {"not": "a list"}},
            "not an entry",
        ]})
        .to_string();
        let mapped = parse_body(body.as_bytes(), Some(PHONE_NUMBER_ID), NOW).unwrap();
        let ids: Vec<_> = messages(&mapped.events).iter().map(|m| m.external_id.clone()).collect();
        assert_eq!(ids, ["wamid.good"]);
        assert_eq!(mapped.skipped.len(), 5, "{:?}", mapped.skipped);

        // Nothing readable at all: refused.
        let body = json!({"object": OBJECT, "entry": [{"changes": [{"field": "messages", "value": 42}]}, "x"]}).to_string();
        let error = parse_body(body.as_bytes(), Some(PHONE_NUMBER_ID), NOW).unwrap_err();
        assert_eq!(error.kind, RejectionKind::BadRequest);
        assert!(error.message.contains("nothing in the webhook could be read"), "{}", error.message);
    }

    #[test]
    fn phone_from_wa_id_only_for_digits() {
        assert_eq!(phone_from_wa_id("16505551234").as_deref(), Some("+16505551234"));
        assert_eq!(phone_from_wa_id("+16505551234").as_deref(), Some("+16505551234"));
        assert_eq!(phone_from_wa_id("abc"), None);
        assert_eq!(phone_from_wa_id(""), None);
    }
}
