//! What an inbound message holds, built up while a plugin maps a provider's message: its kind,
//! text, attachments, and the provider data worth keeping that has no field of its own.

use crate::prelude::{Attachment, MediaKind, MessageKind};
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct MessageContent {
    pub kind: MessageKind,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Becomes the message's `extra-json` (see [`extra_json`]).
    pub extra: Map<String, Value>,
}

impl MessageContent {
    pub fn new(kind: MessageKind, text: Option<String>) -> Self {
        Self { kind, text, attachments: Vec::new(), extra: Map::new() }
    }

    /// Keep `value` under `key` in the extra data, unless it is absent or null.
    pub fn with_extra(mut self, key: &str, value: Option<Value>) -> Self {
        if let Some(value) = value.filter(|v| !v.is_null()) {
            self.extra.insert(key.into(), value);
        }
        self
    }

    pub fn with_attachment(mut self, attachment: Attachment) -> Self {
        self.attachments.push(attachment);
        self
    }
}

/// The kind of a message that is mainly one attachment of `media` kind.
pub fn message_kind_of(media: MediaKind) -> MessageKind {
    match media {
        MediaKind::Image => MessageKind::Image,
        MediaKind::Audio => MessageKind::Audio,
        MediaKind::Video => MessageKind::Video,
        MediaKind::Sticker => MessageKind::Sticker,
        MediaKind::Document | MediaKind::File => MessageKind::Document,
    }
}

/// Extra data as the `extra-json` field: `None` when there is none.
pub fn extra_json(extra: Map<String, Value>) -> Option<String> {
    (!extra.is_empty()).then(|| Value::Object(extra).to_string())
}
