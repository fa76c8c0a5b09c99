//! Telegram Bot API webhook updates → Switchboard events.
//!
//! Telegram `POST`s one [`Update`](https://core.telegram.org/bots/api#update) per request.
//! `message` and `edited_message` become message events; every other update type (callback
//! queries, channel posts, chat member changes, …) produces no event and is still answered
//! `200`, so Telegram does not redeliver it.
//!
//! Ids: a Telegram `message_id` is only unique within its chat, so the external id is
//! `"{chat_id}:{message_id}"`. An edit is stored as a new version with the external id
//! `"{chat_id}:{message_id}:edit:{edit_date}"` and `extra-json.edit_of` naming the original.
//! The customer party is the chat (its id as a string), so a reply goes back to the chat.
//!
//! Everything here is pure: no host imports are called, so it runs (and is tested) natively.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchboard_sdk::prelude::*;
use switchboard_sdk::content::{MessageContent, extra_json};

/// One webhook update. Only the fields we map are named; the rest are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default)]
    pub message: Option<Value>,
    #[serde(default)]
    pub edited_message: Option<Value>,
}

/// The events of one update, plus a note when it produced none (for debug logging).
#[derive(Debug, Clone, Default)]
pub struct Mapped {
    pub events: Vec<Event>,
    pub note: Option<String>,
}

/// Service messages (chat membership, pins, payments, forum topics, …): not something a
/// customer wrote, so they produce no event.
const SERVICE_FIELDS: [&str; 24] = [
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "successful_payment",
    "refunded_payment",
    "connected_website",
    "write_access_allowed",
    "proximity_alert_triggered",
    "boost_added",
    "chat_background_set",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "video_chat_started",
];

/// Decode a raw webhook body and map it (see [`map_update`]). `recipient` is the bot's id.
pub fn parse_body(body: &[u8], recipient: Option<&str>) -> Result<Mapped, Rejection> {
    let update: Update = switchboard_sdk::decode::json(body)?;
    map_update(&update, recipient)
}

/// Map one update: `message` and `edited_message` to a message event; anything else to none.
/// A message without an integer `message_id`, `chat.id` or `date` is a `bad-request`.
pub fn map_update(update: &Update, recipient: Option<&str>) -> Result<Mapped, Rejection> {
    let (message, edited) = match (&update.message, &update.edited_message) {
        (Some(message), _) => (message, false),
        (None, Some(message)) => (message, true),
        (None, None) => {
            return Ok(Mapped { events: Vec::new(), note: Some(format!("update {} is not a message", update.update_id)) });
        }
    };
    let field = if edited { "edited_message" } else { "message" };
    let message_id = integer(message.get("message_id"))
        .ok_or_else(|| Rejection::bad_request(format!("{field}.message_id is missing or not an integer")))?;
    let chat = message.get("chat").filter(|chat| chat.is_object());
    let chat_id = chat
        .and_then(|chat| integer(chat.get("id")))
        .ok_or_else(|| Rejection::bad_request(format!("{field}.chat.id is missing or not an integer")))?;
    let date = integer(message.get("date"))
        .filter(|date| *date >= 0)
        .ok_or_else(|| Rejection::bad_request(format!("{field}.date is missing or not a Unix time")))?;
    let chat = chat.expect("checked above");

    let Some(content) = content(message) else {
        return Ok(Mapped { events: Vec::new(), note: Some(format!("{field} {message_id} is a service message")) });
    };
    let MessageContent { kind, text, attachments, extra: mut extra_map } = content;

    let original_id = message_external_id(chat_id, message_id);
    let (external_id, timestamp_seconds) = if edited {
        let edit_date = integer(message.get("edit_date")).filter(|d| *d >= 0).unwrap_or(date);
        extra_map.insert("edit_of".into(), json!(original_id));
        extra_map.insert("edit_date".into(), json!(edit_date));
        (format!("{original_id}:edit:{edit_date}"), edit_date)
    } else {
        (original_id, date)
    };

    let from = message.get("from").filter(|from| from.is_object());
    let chat_type = chat.get("type").and_then(Value::as_str).unwrap_or("private");
    let sender = if chat_type == "private" {
        Party {
            id: chat_id.to_string(),
            phone: own_phone(message, from),
            email: None,
            display_name: from.and_then(full_name).or_else(|| full_name(chat)),
            username: from.and_then(|from| text_field(from, "username")).or_else(|| text_field(chat, "username")),
        }
    } else {
        // Groups: the conversation is with the chat; who wrote it goes into extra-json.
        if let Some(from) = from {
            let mut author = Map::new();
            author.insert("id".into(), from.get("id").cloned().unwrap_or(Value::Null));
            if let Some(name) = full_name(from) {
                author.insert("name".into(), json!(name));
            }
            if let Some(username) = text_field(from, "username") {
                author.insert("username".into(), json!(username));
            }
            extra_map.insert("from".into(), Value::Object(author));
        }
        extra_map.insert("chat_type".into(), json!(chat_type));
        Party {
            id: chat_id.to_string(),
            phone: None,
            email: None,
            display_name: text_field(chat, "title").or_else(|| full_name(chat)),
            username: text_field(chat, "username"),
        }
    };
    if let Some(group) = text_field(message, "media_group_id") {
        extra_map.insert("media_group_id".into(), json!(group));
    }
    if message.get("forward_origin").is_some() || message.get("forward_date").is_some() {
        extra_map.insert("forwarded".into(), json!(true));
    }
    let reply_to = message
        .get("reply_to_message")
        .and_then(|reply| integer(reply.get("message_id")))
        .map(|id| message_external_id(chat_id, id));

    Ok(Mapped {
        events: vec![Event::Message(InboundMessage {
            external_id,
            sender,
            recipient: recipient.map(str::to_owned),
            kind,
            text,
            attachments,
            reply_to,
            timestamp_ms: (timestamp_seconds as u64).saturating_mul(1000),
            echo: false,
            extra_json: extra_json(extra_map),
        })],
        note: None,
    })
}

/// `"{chat_id}:{message_id}"`: Telegram message ids are only unique within a chat.
pub fn message_external_id(chat_id: i64, message_id: i64) -> String {
    format!("{chat_id}:{message_id}")
}

/// The sender's own phone number, when they shared their own contact card (the
/// `request_contact` keyboard button): `contact.user_id` equals `from.id`.
fn own_phone(message: &Value, from: Option<&Value>) -> Option<String> {
    let contact = message.get("contact")?;
    let user_id = integer(contact.get("user_id"))?;
    (Some(user_id) == from.and_then(|from| integer(from.get("id")))).then(|| text_field(contact, "phone_number")).flatten()
}

/// The content of a message; `None` for service messages.
fn content(message: &Value) -> Option<MessageContent> {
    let caption = text_field(message, "caption");
    let object = |key: &str| message.get(key).filter(|v| v.is_object());

    if let Some(text) = text_field(message, "text") {
        return Some(MessageContent::new(MessageKind::Text, Some(text)));
    }
    if let Some(largest) = message.get("photo").and_then(Value::as_array).and_then(|sizes| largest_photo(sizes)) {
        let attachment = attachment(MediaKind::Image, largest, None, caption.clone())?;
        return Some(MessageContent::new(MessageKind::Image, caption).with_attachment(attachment));
    }
    // An animation (GIF or silent MP4) also comes with a `document`; it is a video.
    if let Some(animation) = object("animation") {
        let content = MessageContent::new(MessageKind::Video, caption.clone()).with_extra("animation", Some(json!(true)));
        return Some(match attachment(MediaKind::Video, animation, None, caption) {
            Some(attachment) => content.with_attachment(attachment),
            None => unsupported(message),
        });
    }
    let media: [(&str, MessageKind, MediaKind); 5] = [
        ("document", MessageKind::Document, MediaKind::Document),
        ("video", MessageKind::Video, MediaKind::Video),
        ("video_note", MessageKind::Video, MediaKind::Video),
        ("audio", MessageKind::Audio, MediaKind::Audio),
        ("voice", MessageKind::Audio, MediaKind::Audio),
    ];
    for (key, message_kind, media_kind) in media {
        let Some(media) = object(key) else { continue };
        let Some(attachment) = attachment(media_kind, media, None, caption.clone()) else {
            return Some(unsupported(message));
        };
        let content = MessageContent::new(message_kind, caption)
            .with_attachment(attachment)
            .with_extra("duration", media.get("duration").cloned());
        return Some(match key {
            "voice" => content.with_extra("voice", Some(json!(true))),
            "video_note" => content.with_extra("video_note", Some(json!(true))),
            "audio" => content
                .with_extra("title", text_field(media, "title").map(Value::String))
                .with_extra("performer", text_field(media, "performer").map(Value::String)),
            _ => content,
        });
    }
    if let Some(sticker) = object("sticker") {
        // Bot API: static stickers are WEBP, animated ones TGS, video ones WEBM.
        let mime = if sticker.get("is_animated").and_then(Value::as_bool) == Some(true) {
            "application/x-tgsticker"
        } else if sticker.get("is_video").and_then(Value::as_bool) == Some(true) {
            "video/webm"
        } else {
            "image/webp"
        };
        let Some(attachment) = attachment(MediaKind::Sticker, sticker, Some(mime), None) else {
            return Some(unsupported(message));
        };
        return Some(
            MessageContent::new(MessageKind::Sticker, None)
                .with_attachment(attachment)
                .with_extra("emoji", text_field(sticker, "emoji").map(Value::String))
                .with_extra("set_name", text_field(sticker, "set_name").map(Value::String)),
        );
    }
    if let Some(venue) = object("venue") {
        let location = venue.get("location").cloned().unwrap_or(Value::Null);
        let title = text_field(venue, "title");
        return Some(
            MessageContent::new(MessageKind::Location, title.clone())
                .with_extra("latitude", location.get("latitude").cloned())
                .with_extra("longitude", location.get("longitude").cloned())
                .with_extra("name", title.map(Value::String))
                .with_extra("address", text_field(venue, "address").map(Value::String)),
        );
    }
    if let Some(location) = object("location") {
        return Some(
            MessageContent::new(MessageKind::Location, None)
                .with_extra("latitude", location.get("latitude").cloned())
                .with_extra("longitude", location.get("longitude").cloned())
                .with_extra("live_period", location.get("live_period").cloned()),
        );
    }
    if let Some(contact) = object("contact") {
        return Some(
            MessageContent::new(MessageKind::Contacts, full_name(contact)).with_extra("contacts", Some(json!([contact.clone()]))),
        );
    }
    if SERVICE_FIELDS.iter().any(|field| message.get(*field).is_some())
        || message.as_object().is_some_and(|m| m.keys().any(|k| k.starts_with("video_chat_") || k.starts_with("general_forum_topic_")))
    {
        return None;
    }
    // Polls, dice, games, stories, invoices, and whatever Telegram adds next.
    Some(unsupported(message))
}

/// A message we do not understand, kept whole in `extra-json`.
fn unsupported(message: &Value) -> MessageContent {
    let mut content = MessageContent::new(MessageKind::Unsupported, text_field(message, "caption"));
    if let Value::Object(raw) = message {
        content.extra = raw.clone();
    }
    content
}

/// The largest size of a photo: by `file_size`, then by pixel count (Telegram lists sizes
/// smallest first, but does not promise to).
fn largest_photo(sizes: &[Value]) -> Option<&Value> {
    let area = |size: &Value| integer(size.get("width")).unwrap_or(0).saturating_mul(integer(size.get("height")).unwrap_or(0));
    sizes
        .iter()
        .filter(|size| text_field(size, "file_id").is_some())
        .max_by_key(|size| (integer(size.get("file_size")).unwrap_or(0), area(size)))
}

/// An attachment by `file_id` (the bot downloads it with `getFile`; there is no public URL).
fn attachment(kind: MediaKind, media: &Value, mime_type: Option<&str>, caption: Option<String>) -> Option<Attachment> {
    Some(Attachment {
        kind,
        reference: text_field(media, "file_id")?,
        url: None,
        mime_type: text_field(media, "mime_type").or_else(|| mime_type.map(str::to_owned)),
        filename: text_field(media, "file_name"),
        caption,
        sha256: None,
    })
}

/// `first_name last_name`, either part optional.
fn full_name(object: &Value) -> Option<String> {
    let parts: Vec<String> = ["first_name", "last_name"].iter().filter_map(|key| text_field(object, key)).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// An integer field (Telegram ids may exceed 32 bits).
fn integer(value: Option<&Value>) -> Option<i64> {
    value?.as_i64()
}

/// A non-empty string field.
fn text_field(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).filter(|text| !text.trim().is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::extra;

    const TEXT: &str = include_str!("../../../tests/fixtures/telegram/text.json");
    const PHOTO: &str = include_str!("../../../tests/fixtures/telegram/photo.json");
    const DOCUMENT: &str = include_str!("../../../tests/fixtures/telegram/document.json");
    const VOICE: &str = include_str!("../../../tests/fixtures/telegram/voice.json");
    const EDITED: &str = include_str!("../../../tests/fixtures/telegram/edited.json");
    const LOCATION: &str = include_str!("../../../tests/fixtures/telegram/location.json");
    const STICKER: &str = include_str!("../../../tests/fixtures/telegram/sticker.json");
    const CONTACT: &str = include_str!("../../../tests/fixtures/telegram/contact.json");
    const CALLBACK_QUERY: &str = include_str!("../../../tests/fixtures/telegram/callback_query.json");

    const BOT_ID: &str = "7012345678";

    fn one(body: &str) -> InboundMessage {
        let mapped = parse_body(body.as_bytes(), Some(BOT_ID)).expect("update maps");
        assert_eq!(mapped.events.len(), 1, "{mapped:?}");
        match mapped.events.into_iter().next().unwrap() {
            Event::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn update(message: Value) -> String {
        json!({"update_id": 1, "message": message}).to_string()
    }

    fn private_message(extra_fields: Value) -> Value {
        let mut message = json!({
            "message_id": 55,
            "from": {"id": 284619037, "is_bot": false, "first_name": "Анна", "username": "anna_kuz"},
            "chat": {"id": 284619037, "first_name": "Анна", "username": "anna_kuz", "type": "private"},
            "date": 1750000000
        });
        for (key, value) in extra_fields.as_object().unwrap() {
            message[key] = value.clone();
        }
        message
    }

    #[test]
    fn text_fixture() {
        let message = one(TEXT);
        assert_eq!(message.external_id, "284619037:1287");
        assert_eq!(message.kind, MessageKind::Text);
        assert_eq!(message.text.as_deref(), Some("Здравствуйте! Где мой заказ #7781? 📦🙏"));
        assert_eq!(message.sender.id, "284619037");
        assert_eq!(message.sender.display_name.as_deref(), Some("Анна Кузнецова"));
        assert_eq!(message.sender.username.as_deref(), Some("anna_kuz"));
        assert_eq!(message.sender.phone, None);
        assert_eq!(message.recipient.as_deref(), Some(BOT_ID));
        assert_eq!(message.timestamp_ms, 1_750_003_200_000);
        assert!(message.attachments.is_empty());
        assert_eq!(message.reply_to, None);
        assert!(!message.echo);
        assert_eq!(message.extra_json, None);
    }

    #[test]
    fn photo_fixture_takes_the_largest_size_and_the_reply() {
        let message = one(PHOTO);
        assert_eq!(message.external_id, "284619037:1288");
        assert_eq!(message.kind, MessageKind::Image);
        assert_eq!(message.text.as_deref(), Some("Коробка пришла повреждённой 😞"));
        assert_eq!(message.attachments.len(), 1);
        let photo = &message.attachments[0];
        assert_eq!(photo.kind, MediaKind::Image);
        assert_eq!(photo.reference, "AgACAgIAAxkBAAIFCGZ1large_1280x960");
        assert_eq!(photo.url, None);
        assert_eq!(photo.caption, message.text);
        assert_eq!(message.reply_to.as_deref(), Some("284619037:1286"));

        // Without file sizes, the pixel count decides; the order does not matter.
        let sizes = json!([
            {"file_id": "big", "width": 800, "height": 600},
            {"file_id": "small", "width": 90, "height": 67}
        ]);
        let message = one(&update(private_message(json!({"photo": sizes}))));
        assert_eq!(message.attachments[0].reference, "big");
    }

    #[test]
    fn document_voice_sticker_fixtures() {
        let document = one(DOCUMENT);
        assert_eq!(document.kind, MessageKind::Document);
        assert_eq!(document.text.as_deref(), Some("Вот счёт"));
        let file = &document.attachments[0];
        assert_eq!(file.kind, MediaKind::Document);
        assert_eq!(file.reference, "BQACAgIAAxkBAAIFCWZ1doc_invoice");
        assert_eq!(file.mime_type.as_deref(), Some("application/pdf"));
        assert_eq!(file.filename.as_deref(), Some("счёт-7781.pdf"));

        let voice = one(VOICE);
        assert_eq!(voice.kind, MessageKind::Audio);
        assert_eq!(voice.text, None);
        assert_eq!(voice.attachments[0].kind, MediaKind::Audio);
        assert_eq!(voice.attachments[0].mime_type.as_deref(), Some("audio/ogg"));
        assert_eq!(extra(&voice)["voice"], json!(true));
        assert_eq!(extra(&voice)["duration"], json!(4));

        let sticker = one(STICKER);
        assert_eq!(sticker.kind, MessageKind::Sticker);
        assert_eq!(sticker.attachments[0].kind, MediaKind::Sticker);
        assert_eq!(sticker.attachments[0].reference, "CAACAgIAAxkBAAIFDGZ1sticker");
        assert_eq!(sticker.attachments[0].mime_type.as_deref(), Some("image/webp"));
        assert_eq!(extra(&sticker)["emoji"], json!("👍"));
    }

    #[test]
    fn other_media() {
        let video = one(&update(private_message(json!({
            "video": {"file_id": "BAACvideo", "file_unique_id": "u", "width": 1280, "height": 720, "duration": 12, "mime_type": "video/mp4", "file_name": "unboxing.mp4"},
            "caption": "видео"
        }))));
        assert_eq!((video.kind, video.attachments[0].kind), (MessageKind::Video, MediaKind::Video));
        assert_eq!(video.attachments[0].filename.as_deref(), Some("unboxing.mp4"));

        let audio = one(&update(private_message(json!({
            "audio": {"file_id": "CQACaudio", "file_unique_id": "u", "duration": 200, "performer": "Кино", "title": "Группа крови", "mime_type": "audio/mpeg"}
        }))));
        assert_eq!(audio.kind, MessageKind::Audio);
        assert_eq!(extra(&audio)["title"], json!("Группа крови"));

        // A GIF arrives as `animation` and `document`; it is a video.
        let gif = one(&update(private_message(json!({
            "animation": {"file_id": "CgACanim", "file_unique_id": "u", "width": 320, "height": 240, "duration": 3, "mime_type": "video/mp4", "file_name": "lol.mp4"},
            "document": {"file_id": "CgACanim", "file_unique_id": "u", "mime_type": "video/mp4", "file_name": "lol.mp4"}
        }))));
        assert_eq!(gif.kind, MessageKind::Video);
        assert_eq!(extra(&gif)["animation"], json!(true));

        let note = one(&update(private_message(json!({"video_note": {"file_id": "DQACnote", "file_unique_id": "u", "length": 240, "duration": 5}}))));
        assert_eq!(note.kind, MessageKind::Video);
        assert_eq!(extra(&note)["video_note"], json!(true));

        let animated = one(&update(private_message(json!({"sticker": {"file_id": "s", "file_unique_id": "u", "is_animated": true, "is_video": false, "type": "regular", "width": 512, "height": 512}}))));
        assert_eq!(animated.attachments[0].mime_type.as_deref(), Some("application/x-tgsticker"));
    }

    #[test]
    fn location_venue_and_contact() {
        let location = one(LOCATION);
        assert_eq!(location.kind, MessageKind::Location);
        assert_eq!(extra(&location)["latitude"], json!(55.751244));
        assert_eq!(extra(&location)["longitude"], json!(37.618423));

        let venue = one(&update(private_message(json!({
            "location": {"latitude": 59.9398, "longitude": 30.3146},
            "venue": {"location": {"latitude": 59.9398, "longitude": 30.3146}, "title": "Эрмитаж", "address": "Дворцовая пл., 2"}
        }))));
        assert_eq!(venue.text.as_deref(), Some("Эрмитаж"));
        assert_eq!(extra(&venue)["address"], json!("Дворцовая пл., 2"));

        // Sharing one's own contact reveals the sender's phone.
        let contact = one(CONTACT);
        assert_eq!(contact.kind, MessageKind::Contacts);
        assert_eq!(contact.text.as_deref(), Some("Анна Кузнецова"));
        assert_eq!(contact.sender.phone.as_deref(), Some("79161234567"));
        assert_eq!(extra(&contact)["contacts"][0]["phone_number"], json!("79161234567"));

        // Someone else's card does not.
        let other = one(&update(private_message(json!({"contact": {"phone_number": "+4915112345678", "first_name": "Jürgen", "user_id": 111}}))));
        assert_eq!(other.sender.phone, None);
        assert_eq!(other.text.as_deref(), Some("Jürgen"));
    }

    #[test]
    fn edits_are_new_versions_pointing_at_the_original() {
        let edit = one(EDITED);
        assert_eq!(edit.external_id, "284619037:1287:edit:1750003290");
        assert_eq!(edit.text.as_deref(), Some("Здравствуйте! Где мой заказ #7782? 📦🙏"));
        assert_eq!(edit.timestamp_ms, 1_750_003_290_000);
        let extra = extra(&edit);
        assert_eq!(extra["edit_of"], json!("284619037:1287"));
        assert_eq!(extra["edit_date"], json!(1750003290));
        assert_ne!(edit.external_id, one(TEXT).external_id);
    }

    #[test]
    fn groups_are_the_chat_with_the_author_in_extra() {
        let message = one(&update(json!({
            "message_id": 9,
            "from": {"id": 284619037, "is_bot": false, "first_name": "Анна", "last_name": "Кузнецова", "username": "anna_kuz"},
            "chat": {"id": -1001234567890_i64, "title": "Клиенты VIP", "type": "supergroup"},
            "date": 1750000000,
            "text": "@loja_suporte_bot привет"
        })));
        assert_eq!(message.external_id, "-1001234567890:9");
        assert_eq!(message.sender.id, "-1001234567890");
        assert_eq!(message.sender.display_name.as_deref(), Some("Клиенты VIP"));
        let extra = extra(&message);
        assert_eq!(extra["from"]["name"], json!("Анна Кузнецова"));
        assert_eq!(extra["from"]["id"], json!(284619037));
        assert_eq!(extra["chat_type"], json!("supergroup"));
    }

    #[test]
    fn other_updates_and_service_messages_produce_nothing() {
        let mapped = parse_body(CALLBACK_QUERY.as_bytes(), Some(BOT_ID)).unwrap();
        assert!(mapped.events.is_empty());
        assert!(mapped.note.is_some());
        for body in [
            json!({"update_id": 2, "my_chat_member": {"chat": {"id": 1, "type": "private"}}}),
            json!({"update_id": 3, "channel_post": {"message_id": 1, "chat": {"id": -100, "type": "channel"}, "date": 1, "text": "x"}}),
            json!({"update_id": 4, "message": {"message_id": 1, "chat": {"id": -5, "type": "group", "title": "g"}, "date": 1, "new_chat_members": [{"id": 7, "is_bot": false, "first_name": "X"}]}}),
            json!({"update_id": 5, "message": {"message_id": 2, "chat": {"id": -5, "type": "group", "title": "g"}, "date": 1, "video_chat_ended": {"duration": 3}}}),
        ] {
            let mapped = parse_body(body.to_string().as_bytes(), None).unwrap();
            assert!(mapped.events.is_empty(), "{body}");
        }
    }

    #[test]
    fn unknown_content_is_unsupported_with_the_raw_message() {
        let raw = private_message(json!({"dice": {"emoji": "🎲", "value": 4}}));
        let message = one(&update(raw.clone()));
        assert_eq!(message.kind, MessageKind::Unsupported);
        assert_eq!(extra(&message), raw);
    }

    #[test]
    fn rejections() {
        for body in [
            &b""[..],
            b"not json",
            br#"{"message":{"message_id":1,"chat":{"id":1,"type":"private"},"date":1,"text":"no update_id"}}"#,
            br#"{"update_id":"1"}"#,
            br#"{"update_id":1,"message":{"chat":{"id":1,"type":"private"},"date":1,"text":"x"}}"#,
            br#"{"update_id":1,"message":{"message_id":1,"date":1,"text":"x"}}"#,
            br#"{"update_id":1,"message":{"message_id":1,"chat":{"id":"1"},"date":1,"text":"x"}}"#,
            br#"{"update_id":1,"message":{"message_id":1,"chat":{"id":1},"text":"x"}}"#,
            br#"{"update_id":1,"edited_message":{"message_id":"x","chat":{"id":1},"date":1}}"#,
        ] {
            let error = parse_body(body, None).unwrap_err();
            assert_eq!(error.kind, RejectionKind::BadRequest, "{}", String::from_utf8_lossy(body));
        }
    }
}
