//! `entry[].messaging[]` webhooks (Messenger and Instagram) → Switchboard events.
//!
//! Everything here is pure: no host imports are called, so it runs (and is tested) natively.
//! The envelope (`object` / `entry` / `messaging`) is decoded into types; each messaging item
//! is read leniently from a JSON value, so that one odd item is skipped (with a note) or kept
//! as `unsupported` instead of failing the whole delivery, which Meta would then redeliver
//! forever.
//!
//! Payload references:
//! <https://developers.facebook.com/docs/messenger-platform/webhooks> (Messenger),
//! <https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook> (Instagram).

use super::Platform;
use crate::bindings::switchboard::channel::types::{
    Attachment, DeliveryStatus, Event, InboundMessage, MediaKind, MessageKind, Party, Rejection, StatusUpdate, Watermark,
};
use crate::content::{MessageContent, extra_json};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// A decoded webhook envelope. Entries stay JSON values and are read one by one, so that one
/// malformed entry or list is skipped instead of losing the valid items beside it.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookPayload {
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Value>,
}

/// The lists of an entry that carry messaging items:
/// - `messaging`: events for the app that controls the conversation;
/// - `standby`: events for a conversation another app controls (handover protocol), same shape;
/// - `changes`: `{field, value}` changes; the App Dashboard's test notifications put messaging
///   items here, other fields (comments, mentions) are not messages and are ignored.
const ITEM_LISTS: [&str; 3] = ["messaging", "standby", "changes"];

/// The events of one webhook, plus notes on what was skipped (for debug logging).
#[derive(Debug, Clone, Default)]
pub struct Mapped {
    pub events: Vec<Event>,
    /// One line per item that produced no event, without message content.
    pub skipped: Vec<String>,
}

/// Decode a raw webhook body and map it to events (see [`events_from_payload`]).
pub fn parse_body(platform: &Platform, body: &[u8], own_account: Option<&str>, now_ms: u64) -> Result<Mapped, Rejection> {
    let payload: WebhookPayload = crate::decode::json(body)?;
    events_from_payload(platform, &payload, own_account, now_ms)
}

/// Map a decoded webhook to events, for every entry and every `messaging` (and `standby`) item:
///
/// - `message`: one [`Event::Message`]; with `is_echo` an echo whose party is the customer it
///   was sent to;
/// - `postback`: a `postback` message (title as text, payload in `extra-json`);
/// - `reaction`: a `reaction` message;
/// - `delivery`: a `delivered` [`Event::Status`] per listed `mid`, and a `delivered`
///   [`Event::Watermark`] for the customer;
/// - `read`: with a `watermark` (Messenger) a `read` watermark; with a `mid` (Instagram's
///   `messaging_seen`) a `read` status for it and a `read` watermark at the event's time.
///
/// **Binding:** with `own_account` (the channel's `page_id` or `ig_account_id`), an entry for
/// another Page or account is skipped: the Pages of one Meta app share its app secret, so the
/// signature alone does not say which channel instance a webhook is for.
///
/// **Partial payloads:** an entry that is not an object, or an item list that is not a list,
/// is skipped with a note and the rest is mapped. Only a body with nothing readable in it, or
/// with another platform's `object`, is a `bad-request` rejection (a redelivery never makes a
/// malformed part readable, so refusing the body would lose its good parts on every retry).
///
/// `now_ms` stands in for a missing timestamp.
pub fn events_from_payload(platform: &Platform, payload: &WebhookPayload, own_account: Option<&str>, now_ms: u64) -> Result<Mapped, Rejection> {
    if payload.object != platform.object {
        return Err(Rejection::bad_request(format!(
            "unexpected webhook object `{}`; expected `{}`",
            truncate(&payload.object, 64),
            platform.object
        )));
    }
    let mut mapped = Mapped::default();
    let (mut readable, mut unreadable) = (0usize, Vec::new());
    for (entry_index, entry) in payload.entry.iter().enumerate() {
        let Some(fields) = entry.as_object() else {
            unreadable.push(format!("entry[{entry_index}] is not an object"));
            continue;
        };
        let context = EntryContext {
            account_id: fields.get("id").and_then(id_text),
            time_ms: fields.get("time").and_then(timestamp_ms),
            now_ms,
        };
        let mut items = Vec::new();
        let (mut lists, mut malformed_lists) = (0, 0);
        for list in ITEM_LISTS {
            match fields.get(list) {
                None | Some(Value::Null) => {}
                Some(Value::Array(values)) => {
                    lists += 1;
                    items.extend(values.iter().enumerate().filter_map(|(index, item)| {
                        let item = if list == "changes" { item.get("value").filter(|value| value.get("sender").is_some())? } else { item };
                        Some((format!("entry[{entry_index}].{list}[{index}]"), item))
                    }));
                }
                Some(_) => {
                    malformed_lists += 1;
                    unreadable.push(format!("entry[{entry_index}].{list} is not a list"));
                }
            }
        }
        // An entry whose only lists are malformed has nothing readable in it.
        if lists == 0 && malformed_lists > 0 {
            continue;
        }
        readable += 1;
        if let Some(own) = own_account {
            let theirs = context.account_id.as_deref().unwrap_or_default();
            if theirs != own {
                mapped.skipped.push(format!(
                    "entry[{entry_index}] is for {} account `{}`, not this channel's; another channel instance receives it",
                    platform.name,
                    truncate(theirs, 64)
                ));
                continue;
            }
        }
        for (place, item) in items {
            if let Err(reason) = map_item(item, &context, &mut mapped.events) {
                mapped.skipped.push(format!("{place}: {reason}"));
            }
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

/// What every item of one entry shares.
struct EntryContext {
    /// `entry.id`: the Page or Instagram account.
    account_id: Option<String>,
    /// `entry.time`.
    time_ms: Option<u64>,
    now_ms: u64,
}

/// Map one messaging item, appending its events; `Err` says why it produced none.
fn map_item(item: &Value, context: &EntryContext, events: &mut Vec<Event>) -> Result<(), String> {
    if !item.is_object() {
        return Err("not an object".into());
    }
    let sender = item.get("sender").and_then(|party| party.get("id")).and_then(id_text);
    let recipient = item.get("recipient").and_then(|party| party.get("id")).and_then(id_text);
    let timestamp = item.get("timestamp").and_then(timestamp_ms).or(context.time_ms);

    if let Some(message) = item.get("message") {
        return map_message(message, sender, recipient, timestamp, context, events);
    }
    // Everything below comes from the customer: `sender` is their page- or IG-scoped id.
    let customer = sender.ok_or("no `sender.id`")?;
    let business = recipient.or_else(|| context.account_id.clone());
    if let Some(postback) = item.get("postback") {
        events.push(Event::Message(postback_message(postback, customer, business, timestamp, context.now_ms)));
        return Ok(());
    }
    if let Some(reaction) = item.get("reaction") {
        events.push(Event::Message(reaction_message(reaction, customer, business, timestamp, context.now_ms)?));
        return Ok(());
    }
    if let Some(delivery) = item.get("delivery") {
        let watermark = delivery.get("watermark").and_then(timestamp_ms).ok_or("delivery without a `watermark`")?;
        let mids = delivery.get("mids").and_then(Value::as_array).into_iter().flatten().filter_map(id_text);
        for mid in mids {
            events.push(Event::Status(StatusUpdate {
                external_id: mid,
                status: DeliveryStatus::Delivered,
                timestamp_ms: watermark,
                recipient: Some(customer.clone()),
                error: None,
            }));
        }
        events.push(Event::Watermark(Watermark { recipient: customer, status: DeliveryStatus::Delivered, watermark_ms: watermark }));
        return Ok(());
    }
    if let Some(read) = item.get("read") {
        if let Some(watermark) = read.get("watermark").and_then(timestamp_ms) {
            events.push(Event::Watermark(Watermark { recipient: customer, status: DeliveryStatus::Read, watermark_ms: watermark }));
            return Ok(());
        }
        let mid = read.get("mid").and_then(id_text).ok_or("read without a `watermark` or `mid`")?;
        let at = timestamp.unwrap_or(context.now_ms);
        events.push(Event::Status(StatusUpdate {
            external_id: mid,
            status: DeliveryStatus::Read,
            timestamp_ms: at,
            recipient: Some(customer.clone()),
            error: None,
        }));
        events.push(Event::Watermark(Watermark { recipient: customer, status: DeliveryStatus::Read, watermark_ms: at }));
        return Ok(());
    }
    let mut keys: Vec<&str> = item
        .as_object()
        .into_iter()
        .flat_map(|object| object.keys())
        .map(String::as_str)
        .filter(|key| !matches!(*key, "sender" | "recipient" | "timestamp"))
        .collect();
    keys.sort_unstable();
    Err(format!("`{}` events are not mapped", truncate(&keys.join(", "), 80)))
}

fn customer_party(id: String) -> Party {
    Party { id, phone: None, email: None, display_name: None, username: None }
}

/// Map a `message` item. For an echo (`is_echo`, the business sent it) the customer is the
/// `recipient` and the business the `sender`; otherwise the other way round.
fn map_message(
    message: &Value,
    sender: Option<String>,
    recipient: Option<String>,
    timestamp: Option<u64>,
    context: &EntryContext,
    events: &mut Vec<Event>,
) -> Result<(), String> {
    let external_id = message.get("mid").and_then(id_text).ok_or("message without a `mid`")?;
    if message.get("is_deleted").and_then(Value::as_bool) == Some(true) {
        return Err("the customer deleted (unsent) a message".into());
    }
    let echo = message.get("is_echo").and_then(Value::as_bool) == Some(true);
    let (customer, business) = if echo { (recipient, sender) } else { (sender, recipient) };
    let customer = customer.ok_or(if echo { "echo without a `recipient.id`" } else { "message without a `sender.id`" })?;
    let business = business.or_else(|| context.account_id.clone());

    let content = message_content(message);
    let mut extra = content.extra;
    if content.kind != MessageKind::Unsupported {
        if echo {
            for key in ["app_id", "metadata"] {
                if let Some(value) = message.get(key).filter(|value| !value.is_null()) {
                    extra.insert(key.into(), value.clone());
                }
            }
        }
        if let Some(referral) = message.get("referral").filter(|value| value.is_object()) {
            extra.insert("referral".into(), referral.clone());
        }
        // An Instagram story reply names the story instead of a message.
        if let Some(story) = message.get("reply_to").and_then(|reply_to| reply_to.get("story")).filter(|story| story.is_object()) {
            extra.insert("reply_to_story".into(), story.clone());
        }
    }
    events.push(Event::Message(InboundMessage {
        external_id,
        sender: customer_party(customer),
        recipient: business,
        kind: content.kind,
        text: content.text,
        attachments: content.attachments,
        reply_to: message.get("reply_to").and_then(|reply_to| reply_to.get("mid")).and_then(id_text),
        timestamp_ms: timestamp.unwrap_or(context.now_ms),
        echo,
        extra_json: extra_json(extra),
    }));
    Ok(())
}

/// The kind, text, attachments and extra data of a `message` object.
///
/// - `image`, `audio`, `video`, `file` attachments (and stickers: an image with a
///   `sticker_id`) become attachments referenced by their URL; the message takes the kind of
///   the first one.
/// - A quick reply is `interactive`, its payload in `extra-json`.
/// - Other attachment types (`fallback` link previews, `template`s, Instagram `share`s,
///   `story_mention`s, reels) are kept raw in `extra-json` under `attachments`; their URLs also
///   become `file` attachments. Without text or media the message is `unsupported`.
fn message_content(message: &Value) -> MessageContent {
    let body = text(message, "text");
    if message.get("is_unsupported").and_then(Value::as_bool) == Some(true) {
        return unsupported(message);
    }
    let mut attachments = Vec::new();
    let mut first_media_kind = None;
    let mut others = Vec::new();
    for attachment in message.get("attachments").and_then(Value::as_array).into_iter().flatten() {
        let kind_name = attachment.get("type").and_then(Value::as_str).unwrap_or("");
        let payload = attachment.get("payload").filter(|payload| payload.is_object());
        let url = payload.and_then(|payload| text(payload, "url"));
        let sticker = payload.and_then(|payload| payload.get("sticker_id")).is_some_and(|id| !id.is_null());
        let kinds = match kind_name {
            "image" if sticker => Some((MessageKind::Sticker, MediaKind::Sticker)),
            "image" => Some((MessageKind::Image, MediaKind::Image)),
            "audio" => Some((MessageKind::Audio, MediaKind::Audio)),
            "video" => Some((MessageKind::Video, MediaKind::Video)),
            "file" => Some((MessageKind::Document, MediaKind::Document)),
            _ => None,
        };
        match (kinds, url) {
            (Some((message_kind, media_kind)), Some(url)) => {
                first_media_kind.get_or_insert(message_kind);
                attachments.push(url_attachment(media_kind, url, attachment));
            }
            (None, url) => {
                // Not media we model; keep it raw, and its URL (a shared post, a story) too.
                if let Some(url) = url.filter(|_| kind_name != "fallback") {
                    attachments.push(url_attachment(MediaKind::File, url, attachment));
                }
                others.push(attachment.clone());
            }
            (Some(_), None) => others.push(attachment.clone()),
        }
    }
    let quick_reply = message.get("quick_reply").and_then(|quick_reply| text(quick_reply, "payload"));

    let kind = match (first_media_kind, &quick_reply, &body) {
        (Some(kind), _, _) => kind,
        (None, Some(_), _) => MessageKind::Interactive,
        (None, None, Some(_)) => MessageKind::Text,
        (None, None, None) => {
            // Shares, story mentions, templates: raw in `extra-json`, URLs kept as attachments.
            let mut content = unsupported(message);
            content.attachments = attachments;
            return content;
        }
    };
    let mut content = MessageContent { kind, text: body, attachments, extra: Map::new() };
    if let Some(payload) = quick_reply {
        content.extra.insert("type".into(), json!("quick_reply"));
        content.extra.insert("payload".into(), Value::String(payload));
    }
    if let Some(sticker_id) = message.get("sticker_id").filter(|id| !id.is_null()) {
        content.extra.insert("sticker_id".into(), sticker_id.clone());
    }
    if !others.is_empty() {
        content.extra.insert("attachments".into(), Value::Array(others));
    }
    content
}

/// An attachment known only by its URL (Meta gives no media id, mime type or digest).
fn url_attachment(kind: MediaKind, url: String, attachment: &Value) -> Attachment {
    Attachment {
        kind,
        reference: url.clone(),
        url: Some(url),
        mime_type: None,
        filename: text(attachment, "title").filter(|_| kind == MediaKind::Document),
        caption: None,
        sha256: None,
    }
}

/// A message we cannot represent, kept whole in `extra-json`.
fn unsupported(message: &Value) -> MessageContent {
    let extra = match message {
        Value::Object(raw) => raw.clone(),
        _ => Map::new(),
    };
    MessageContent { kind: MessageKind::Unsupported, text: text(message, "text"), attachments: Vec::new(), extra }
}

/// A `postback` (a button, persistent-menu item or ice breaker tapped) as a `postback` message.
/// Its id is `postback.mid` when Meta gives one, else `postback:{customer}:{timestamp}`: stable
/// across redeliveries, so a retried webhook is still recognised.
fn postback_message(postback: &Value, customer: String, business: Option<String>, timestamp: Option<u64>, now_ms: u64) -> InboundMessage {
    let timestamp_ms = timestamp.unwrap_or(now_ms);
    let external_id = postback
        .get("mid")
        .and_then(id_text)
        .unwrap_or_else(|| format!("postback:{customer}:{timestamp_ms}"));
    let mut extra = Map::new();
    for key in ["payload", "referral"] {
        if let Some(value) = postback.get(key).filter(|value| !value.is_null()) {
            extra.insert(key.into(), value.clone());
        }
    }
    InboundMessage {
        external_id,
        sender: customer_party(customer),
        recipient: business,
        kind: MessageKind::Postback,
        text: text(postback, "title"),
        attachments: Vec::new(),
        reply_to: None,
        timestamp_ms,
        echo: false,
        extra_json: extra_json(extra),
    }
}

/// A `reaction` (`react` or `unreact`) to one of the conversation's messages, as a `reaction`
/// message with id `reaction:{customer}:{mid}:{action}:{timestamp}`.
fn reaction_message(
    reaction: &Value,
    customer: String,
    business: Option<String>,
    timestamp: Option<u64>,
    now_ms: u64,
) -> Result<InboundMessage, String> {
    let target = reaction.get("mid").and_then(id_text).ok_or("reaction without a `mid`")?;
    let action = text(reaction, "action").unwrap_or_else(|| "react".into());
    let timestamp_ms = timestamp.unwrap_or(now_ms);
    let emoji = text(reaction, "emoji");
    let mut extra = Map::new();
    extra.insert("message_id".into(), Value::String(target.clone()));
    extra.insert("action".into(), Value::String(action.clone()));
    for key in ["reaction", "emoji"] {
        if let Some(value) = text(reaction, key) {
            extra.insert(key.into(), Value::String(value));
        }
    }
    Ok(InboundMessage {
        external_id: format!("reaction:{customer}:{target}:{action}:{timestamp_ms}"),
        sender: customer_party(customer),
        recipient: business,
        kind: MessageKind::Reaction,
        text: if action == "unreact" { None } else { emoji.or_else(|| text(reaction, "reaction")) },
        attachments: Vec::new(),
        reply_to: Some(target),
        timestamp_ms,
        echo: false,
        extra_json: Some(Value::Object(extra).to_string()),
    })
}

/// Meta timestamps are milliseconds since the epoch, as numbers; numeric strings are accepted,
/// and a value too small to be milliseconds (before 1973) is read as seconds, as some test
/// notifications send it.
pub fn timestamp_ms(value: &Value) -> Option<u64> {
    let number = match value {
        Value::Number(number) => number.as_u64()?,
        Value::String(text) => text.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    Some(if number < 100_000_000_000 { number.saturating_mul(1000) } else { number })
}

/// An id given as a non-empty string or as a number.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
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
    use crate::bindings::switchboard::channel::types::RejectionKind;
    use crate::meta_messaging::{INSTAGRAM, MESSENGER};
    use crate::testing::{extra, messages};

    const NOW: u64 = 1_700_000_000_000;
    const PAGE: &str = "104325212345678";
    const PSID: &str = "6839371836123456";

    fn envelope(items: Value) -> String {
        json!({"object": "page", "entry": [{"id": PAGE, "time": 1_749_416_400_500u64, "messaging": items}]}).to_string()
    }

    fn map(body: &str) -> Mapped {
        parse_body(&MESSENGER, body.as_bytes(), None, NOW).expect("payload maps")
    }

    fn one(item: Value) -> Event {
        let mapped = map(&envelope(json!([item])));
        assert_eq!(mapped.events.len(), 1, "{:?} skipped {:?}", mapped.events, mapped.skipped);
        mapped.events.into_iter().next().unwrap()
    }

    fn message(item: Value) -> InboundMessage {
        match one(item) {
            Event::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn user_message(body: Value) -> InboundMessage {
        message(json!({"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_749_416_400_000u64, "message": body}))
    }

    #[test]
    fn text_message_sender_and_timestamp() {
        let message = user_message(json!({"mid": "m_1", "text": "Ol\u{e1}"}));
        assert_eq!(message.external_id, "m_1");
        assert_eq!(message.kind, MessageKind::Text);
        assert_eq!(message.text.as_deref(), Some("Olá"));
        assert_eq!(message.sender.id, PSID);
        assert_eq!(message.sender.phone, None);
        assert_eq!(message.recipient.as_deref(), Some(PAGE));
        assert_eq!(message.timestamp_ms, 1_749_416_400_000, "Messenger timestamps are already milliseconds");
        assert!(!message.echo);
        assert_eq!(message.extra_json, None);
    }

    #[test]
    fn escaped_emoji_decode_from_raw_bytes() {
        let body = format!(
            r#"{{"object":"page","entry":[{{"id":"{PAGE}","time":1749416400500,"messaging":[{{"sender":{{"id":"{PSID}"}},"recipient":{{"id":"{PAGE}"}},"timestamp":1749416400000,"message":{{"mid":"m_e","text":"Obrigada \u00e0 equipe \ud83d\ude4f"}}}}]}}]}}"#
        );
        assert!(body.contains(r"\ud83d\ude4f"));
        let Event::Message(message) = &map(&body).events[0] else { panic!() };
        assert_eq!(message.text.as_deref(), Some("Obrigada à equipe 🙏"));
    }

    #[test]
    fn timestamps_fall_back_to_entry_time_then_now() {
        let no_timestamp = message(json!({"sender": {"id": PSID}, "recipient": {"id": PAGE}, "message": {"mid": "m_t", "text": "x"}}));
        assert_eq!(no_timestamp.timestamp_ms, 1_749_416_400_500);
        let body = json!({"object": "page", "entry": [{"id": PAGE, "messaging": [
            {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "message": {"mid": "m_n", "text": "x"}}
        ]}]})
        .to_string();
        let Event::Message(message) = &map(&body).events[0] else { panic!() };
        assert_eq!(message.timestamp_ms, NOW);
        assert_eq!(timestamp_ms(&json!("1749416400")), Some(1_749_416_400_000), "seconds are scaled");
        assert_eq!(timestamp_ms(&json!(1_749_416_400_123u64)), Some(1_749_416_400_123));
        assert_eq!(timestamp_ms(&json!("soon")), None);
    }

    #[test]
    fn attachments_by_kind() {
        let url = |name: &str| format!("https://scontent.xx.fbcdn.net/v/t1.15752-9/{name}?_nc_cat=1&oh=00_A&oe=6700");
        let cases = [
            ("image", MessageKind::Image, MediaKind::Image),
            ("audio", MessageKind::Audio, MediaKind::Audio),
            ("video", MessageKind::Video, MediaKind::Video),
            ("file", MessageKind::Document, MediaKind::Document),
        ];
        for (name, message_kind, media_kind) in cases {
            let message = user_message(json!({"mid": format!("m_{name}"), "attachments": [{"type": name, "payload": {"url": url(name)}}]}));
            assert_eq!(message.kind, message_kind, "{name}");
            assert_eq!(message.attachments.len(), 1);
            let attachment = &message.attachments[0];
            assert_eq!(attachment.kind, media_kind);
            assert_eq!(attachment.reference, url(name));
            assert_eq!(attachment.url.as_deref(), Some(url(name).as_str()));
            assert_eq!(message.text, None);
        }
        // Several images in one message, and a sticker (an image with a sticker id).
        let album = user_message(json!({"mid": "m_album", "attachments": [
            {"type": "image", "payload": {"url": url("a.jpg")}}, {"type": "image", "payload": {"url": url("b.jpg")}}
        ]}));
        assert_eq!(album.attachments.len(), 2);
        let sticker = user_message(json!({"mid": "m_like", "sticker_id": 369239263222822u64,
            "attachments": [{"type": "image", "payload": {"url": url("like.png"), "sticker_id": 369239263222822u64}}]}));
        assert_eq!(sticker.kind, MessageKind::Sticker);
        assert_eq!(sticker.attachments[0].kind, MediaKind::Sticker);
        assert_eq!(extra(&sticker)["sticker_id"], json!(369239263222822u64));
    }

    #[test]
    fn fallback_template_and_unknown_content() {
        let link = user_message(json!({"mid": "m_link", "text": "olha https://example.com/p/1",
            "attachments": [{"type": "fallback", "title": "Produto", "URL": "https://example.com/p/1", "payload": null}]}));
        assert_eq!(link.kind, MessageKind::Text);
        assert_eq!(link.text.as_deref(), Some("olha https://example.com/p/1"));
        assert!(link.attachments.is_empty());
        assert_eq!(extra(&link)["attachments"][0]["type"], json!("fallback"));

        let raw = json!({"mid": "m_tpl", "attachments": [{"type": "template", "payload": {"template_type": "generic", "elements": []}}]});
        let template = user_message(raw.clone());
        assert_eq!(template.kind, MessageKind::Unsupported);
        assert_eq!(extra(&template), raw);

        let flagged = user_message(json!({"mid": "m_u", "is_unsupported": true}));
        assert_eq!(flagged.kind, MessageKind::Unsupported);
        let empty = user_message(json!({"mid": "m_empty"}));
        assert_eq!(empty.kind, MessageKind::Unsupported);
        // A known type without a URL is kept raw, not turned into a broken attachment.
        let broken = user_message(json!({"mid": "m_b", "attachments": [{"type": "image", "payload": {}}]}));
        assert_eq!(broken.kind, MessageKind::Unsupported);
        assert!(broken.attachments.is_empty());
    }

    #[test]
    fn quick_replies_and_replies() {
        let choice = user_message(json!({"mid": "m_q", "text": "Sim, confirmar", "quick_reply": {"payload": "CONFIRM_ORDER_12345"},
            "reply_to": {"mid": "m_original"}}));
        assert_eq!(choice.kind, MessageKind::Interactive);
        assert_eq!(choice.text.as_deref(), Some("Sim, confirmar"));
        assert_eq!(extra(&choice), json!({"type": "quick_reply", "payload": "CONFIRM_ORDER_12345"}));
        assert_eq!(choice.reply_to.as_deref(), Some("m_original"));
    }

    #[test]
    fn echoes_are_about_the_customer_they_were_sent_to() {
        let echo = message(json!({"sender": {"id": PAGE}, "recipient": {"id": PSID}, "timestamp": 1_749_416_500_000u64,
            "message": {"mid": "m_echo", "is_echo": true, "app_id": 1517776481860111u64, "metadata": "agent:7", "text": "Oi!"}}));
        assert!(echo.echo);
        assert_eq!(echo.sender.id, PSID);
        assert_eq!(echo.recipient.as_deref(), Some(PAGE));
        assert_eq!(echo.external_id, "m_echo");
        assert_eq!(extra(&echo), json!({"app_id": 1517776481860111u64, "metadata": "agent:7"}));
    }

    #[test]
    fn postbacks_with_and_without_mid() {
        let item = |postback: Value| json!({"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_749_416_600_000u64, "postback": postback});
        let with_mid = message(item(json!({"mid": "m_pb", "title": "Falar com atendente", "payload": "HUMAN"})));
        assert_eq!(with_mid.external_id, "m_pb");
        assert_eq!(with_mid.kind, MessageKind::Postback);
        assert_eq!(with_mid.text.as_deref(), Some("Falar com atendente"));
        assert_eq!(extra(&with_mid), json!({"payload": "HUMAN"}));

        let first = message(item(json!({"title": "Get Started", "payload": "GET_STARTED"})));
        let again = message(item(json!({"title": "Get Started", "payload": "GET_STARTED"})));
        assert_eq!(first.external_id, format!("postback:{PSID}:1749416600000"));
        assert_eq!(first.external_id, again.external_id, "a redelivered postback keeps its id");
        let later = message(json!({"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_749_416_600_001u64,
            "postback": {"title": "Get Started", "payload": "GET_STARTED"}}));
        assert_ne!(first.external_id, later.external_id);
    }

    #[test]
    fn reactions() {
        let reaction = message(json!({"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_749_416_700_000u64,
            "reaction": {"mid": "m_target", "action": "react", "reaction": "love", "emoji": "\u{2764}\u{fe0f}"}}));
        assert_eq!(reaction.kind, MessageKind::Reaction);
        assert_eq!(reaction.text.as_deref(), Some("❤️"));
        assert_eq!(reaction.reply_to.as_deref(), Some("m_target"));
        assert_eq!(extra(&reaction)["message_id"], json!("m_target"));
        assert!(reaction.external_id.starts_with("reaction:"));
        let unreact = message(json!({"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_749_416_700_001u64,
            "reaction": {"mid": "m_target", "action": "unreact"}}));
        assert_eq!(unreact.text, None);
        assert_ne!(unreact.external_id, reaction.external_id);
    }

    #[test]
    fn delivery_gives_statuses_and_a_watermark() {
        let mapped = map(&envelope(json!([{"sender": {"id": PSID}, "recipient": {"id": PAGE},
            "delivery": {"mids": ["m_a", "m_b"], "watermark": 1_749_416_800_000u64}}])));
        assert_eq!(mapped.events.len(), 3);
        for (event, mid) in mapped.events.iter().zip(["m_a", "m_b"]) {
            let Event::Status(status) = event else { panic!("{event:?}") };
            assert_eq!(status.external_id, mid);
            assert_eq!(status.status, DeliveryStatus::Delivered);
            assert_eq!(status.timestamp_ms, 1_749_416_800_000);
            assert_eq!(status.recipient.as_deref(), Some(PSID));
        }
        let Event::Watermark(mark) = &mapped.events[2] else { panic!() };
        assert_eq!((mark.recipient.as_str(), mark.status, mark.watermark_ms), (PSID, DeliveryStatus::Delivered, 1_749_416_800_000));
    }

    #[test]
    fn read_watermark_and_read_mid() {
        let Event::Watermark(mark) = one(json!({"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_749_416_900_100u64,
            "read": {"watermark": 1_749_416_900_000u64}}))
        else {
            panic!()
        };
        assert_eq!((mark.recipient.as_str(), mark.status, mark.watermark_ms), (PSID, DeliveryStatus::Read, 1_749_416_900_000));

        let body = json!({"object": "instagram", "entry": [{"id": "17841400000000000", "time": 1, "messaging": [
            {"sender": {"id": "IGSID1"}, "recipient": {"id": "17841400000000000"}, "timestamp": 1_749_417_000_000u64, "read": {"mid": "aWdfZAG1f"}}
        ]}]})
        .to_string();
        let events = parse_body(&INSTAGRAM, body.as_bytes(), None, NOW).unwrap().events;
        assert_eq!(events.len(), 2);
        let Event::Status(status) = &events[0] else { panic!() };
        assert_eq!((status.external_id.as_str(), status.status, status.timestamp_ms), ("aWdfZAG1f", DeliveryStatus::Read, 1_749_417_000_000));
        let Event::Watermark(mark) = &events[1] else { panic!() };
        assert_eq!((mark.recipient.as_str(), mark.status, mark.watermark_ms), ("IGSID1", DeliveryStatus::Read, 1_749_417_000_000));
    }

    #[test]
    fn every_entry_and_item_is_processed_and_odd_items_are_skipped() {
        let text = |mid: &str| json!({"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1u64, "message": {"mid": mid, "text": "x"}});
        let body = json!({"object": "page", "entry": [
            {"id": PAGE, "time": 1, "messaging": [text("m_1"), text("m_2")]},
            {"id": PAGE, "time": 2, "messaging": [
                {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "optin": {"ref": "x"}},
                {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "message": {"text": "no mid"}},
                {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "message": {"mid": "m_gone", "is_deleted": true}},
                {"recipient": {"id": PAGE}, "message": {"mid": "m_nosender", "text": "x"}},
                "not an object",
                text("m_3")
            ], "standby": [text("m_4")]},
            {"id": PAGE, "time": 3, "changes": [
                {"field": "messages", "value": {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": "1527459824",
                    "message": {"mid": "m_5", "text": "from the dashboard test"}}},
                {"field": "feed", "value": {"item": "comment"}}
            ]}
        ]})
        .to_string();
        let mapped = map(&body);
        let ids: Vec<_> = mapped
            .events
            .iter()
            .map(|event| match event {
                Event::Message(message) => message.external_id.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, ["m_1", "m_2", "m_3", "m_4", "m_5"]);
        assert_eq!(mapped.skipped.len(), 5, "{:?}", mapped.skipped);
        assert!(mapped.skipped[0].contains("optin"), "{:?}", mapped.skipped);
        assert!(mapped.skipped.iter().all(|note| !note.contains("no mid")), "notes carry no content");
    }

    fn text_entry(page: &str, mid: &str) -> Value {
        json!({"id": page, "time": 1_700_000_000_000u64, "messaging": [
            {"sender": {"id": "6839371836123456"}, "recipient": {"id": page}, "timestamp": 1_700_000_000_000u64,
             "message": {"mid": mid, "text": "hi"}}
        ]})
    }

    #[test]
    fn entries_for_another_page_are_skipped() {
        let body = json!({"object": "page", "entry": [text_entry("999", "m_other"), text_entry("104325212345678", "m_ours")]}).to_string();
        let mapped = parse_body(&MESSENGER, body.as_bytes(), Some("104325212345678"), NOW).unwrap();
        let ids: Vec<_> = messages(&mapped.events).iter().map(|m| m.external_id.clone()).collect();
        assert_eq!(ids, ["m_ours"]);
        assert!(mapped.skipped.iter().any(|note| note.contains("`999`")), "{:?}", mapped.skipped);
        assert_eq!(messages(&parse_body(&MESSENGER, body.as_bytes(), None, NOW).unwrap().events).len(), 2);
    }

    #[test]
    fn malformed_entries_and_lists_are_skipped_and_the_rest_is_stored() {
        let body = json!({"object": "page", "entry": [
            {"id": "104325212345678", "messaging": {"not": "a list"}},
            "not an entry",
            text_entry("104325212345678", "m_good"),
        ]})
        .to_string();
        let mapped = parse_body(&MESSENGER, body.as_bytes(), Some("104325212345678"), NOW).unwrap();
        let ids: Vec<_> = messages(&mapped.events).iter().map(|m| m.external_id.clone()).collect();
        assert_eq!(ids, ["m_good"]);
        assert_eq!(mapped.skipped.len(), 2, "{:?}", mapped.skipped);
    }

    #[test]
    fn rejections() {
        let error = parse_body(&MESSENGER, br#"{"object":"instagram","entry":[]}"#, None, NOW).unwrap_err();
        assert_eq!(error.kind, RejectionKind::BadRequest);
        assert!(error.message.contains("instagram") && error.message.contains("`page`"), "{}", error.message);
        let error = parse_body(&INSTAGRAM, br#"{"object":"page","entry":[]}"#, None, NOW).unwrap_err();
        assert_eq!(error.kind, RejectionKind::BadRequest);
        for body in [&b"{\"object\":\"page\","[..], b"", b"[]", br#"{"entry":[]}"#, br#"{"object":"page","entry":[{"messaging":{}}]}"#] {
            assert_eq!(parse_body(&MESSENGER, body, None, NOW).unwrap_err().kind, RejectionKind::BadRequest, "{}", String::from_utf8_lossy(body));
        }
        assert!(parse_body(&MESSENGER, br#"{"object":"page","entry":[]}"#, None, NOW).unwrap().events.is_empty());
    }
}
