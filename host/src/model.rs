//! The host's own types for what flows through it: events from plugins, outbound messages,
//! delivery states. Plugins speak the versioned WIT types; `plugins::convert` maps each WIT
//! version onto these, so the rest of the host never depends on a contract version.

use serde::{Deserialize, Serialize};

/// Delivery progress of an outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Accepted by us, waiting in the outbox.
    Pending,
    /// The provider queued it.
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "queued" => Self::Queued,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Position on the one-way path pending → queued → sent → delivered → read. A status
    /// may only replace one of lower rank. `failed` ranks just above `sent`: a message can fail
    /// before delivery, but a failure report never undoes a delivery or a read.
    pub fn rank(self) -> i64 {
        match self {
            Self::Pending => 0,
            Self::Queued => 1,
            Self::Sent => 2,
            Self::Failed => 3,
            Self::Delivered => 4,
            Self::Read => 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }
}

/// A person or account on a provider, as a plugin reported it (not yet normalised).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Party {
    pub id: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The email was proven by the host, never by a plugin's word: a mail whose sender
    /// passed DMARC, a web chat visitor's signed identifier. Only a verified email links a
    /// new identity to an existing contact; an unverified one is kept but links nothing.
    #[serde(skip)]
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub username: Option<String>,
}

/// Declares a domain enum whose stored and JSON form is each variant's snake_case name, with
/// `as_str` for binding it to SQL. Stored rows and queued outbox payloads hold these names, so
/// a variant's name is part of the storage format: add variants, never rename them.
macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),*
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),*
                }
            }

            /// The variant stored as `text`, if any.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use named_enum;

named_enum! {
    /// What an inbound message is (`messages.kind`).
    pub enum MessageKind {
        Text => "text",
        Image => "image",
        Audio => "audio",
        Video => "video",
        Document => "document",
        Sticker => "sticker",
        Location => "location",
        Contacts => "contacts",
        Interactive => "interactive",
        /// A button press (Messenger, Instagram).
        Postback => "postback",
        Reaction => "reaction",
        /// Something the plugin could not map; kept so nothing is lost.
        Unsupported => "unsupported",
    }
}

named_enum! {
    /// What a media attachment or a media reply is.
    pub enum MediaKind {
        Image => "image",
        Audio => "audio",
        Video => "video",
        Document => "document",
        Sticker => "sticker",
        File => "file",
    }
}

named_enum! {
    /// What a channel's plugin declares it can do; the host decides from these, never from a
    /// channel's name.
    pub enum Capability {
        Text => "text",
        Media => "media",
        Templates => "templates",
        TypingIndicator => "typing_indicator",
        ReadReceipts => "read_receipts",
        Reactions => "reactions",
        Replies => "replies",
    }
}

/// Media kept by reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attachment {
    pub kind: MediaKind,
    pub reference: String,
    pub url: Option<String>,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub caption: Option<String>,
    pub sha256: Option<String>,
}

/// How a received message may join an existing conversation (mail: `In-Reply-To`,
/// `References`, a plus-address reply token), in the order the store tries them.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadHints {
    /// The message event these hints belong to.
    pub external_id: String,
    /// Ids of messages this one replies to: `In-Reply-To`, then `References` newest first.
    pub replies_to: Vec<String>,
    /// A plus-address reply token.
    pub token: Option<String>,
    /// A server the instance trusts found the sender's address authentic (DMARC): the sender
    /// may be linked to a known contact by it.
    pub sender_authenticated: bool,
}

/// A one-time token a plugin claimed while checking a request (Mailgun's signature token):
/// stored with the request's events, so the same token is refused next time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub nonce: String,
    /// When the claim may be forgotten (the signature would be stale by then anyway).
    pub expires_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    pub external_id: String,
    pub sender: Party,
    pub recipient: Option<String>,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub reply_to: Option<String>,
    pub timestamp_ms: i64,
    pub echo: bool,
    pub extra: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProviderError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub external_id: String,
    pub status: DeliveryStatus,
    pub timestamp_ms: i64,
    pub recipient: Option<String>,
    pub error: Option<ProviderError>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Watermark {
    pub recipient: String,
    pub status: DeliveryStatus,
    pub watermark_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConsentUpdate {
    pub party: Party,
    pub opted_in: bool,
    pub keyword: String,
}

/// One thing a webhook reported.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(InboundMessage),
    Status(StatusUpdate),
    Watermark(Watermark),
    Profile(Party),
    Consent(ConsentUpdate),
}

/// What an agent asked to send. Stored as JSON in the outbox, so it survives restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboundContent {
    Text { text: String },
    Media { kind: MediaKind, url: String, caption: Option<String>, filename: Option<String>, mime_type: Option<String> },
    Template { name: String, language: String, #[serde(default)] parameters: Vec<String> },
}

impl OutboundContent {
    /// The message kind stored for this content.
    pub fn kind(&self) -> &str {
        match self {
            Self::Text { .. } => "text",
            Self::Media { kind, .. } => kind.as_str(),
            Self::Template { .. } => "template",
        }
    }

    /// The text shown in the inbox for this content.
    pub fn preview_text(&self) -> Option<String> {
        match self {
            Self::Text { text } => Some(text.clone()),
            Self::Media { caption, .. } => caption.clone(),
            Self::Template { name, parameters, .. } => Some(format!("[template {name}] {}", parameters.join(" "))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub message_id: String,
    pub recipient: Party,
    pub content: OutboundContent,
    pub reply_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendReceipt {
    pub external_id: String,
    pub status: DeliveryStatus,
}

/// Why a send failed, as the plugin classified it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendFailure {
    pub kind: String,
    pub code: Option<String>,
    pub message: String,
    pub retryable: bool,
    pub retry_after_ms: Option<u64>,
}

impl SendFailure {
    /// A send the channel cannot make at all: not retried.
    pub fn unsupported(message: &str) -> Self {
        Self { kind: "unsupported".into(), code: None, message: message.into(), retryable: false, retry_after_ms: None }
    }
}

/// What a mail reply needs to thread in the customer's client: the conversation's subject,
/// its earlier mails' ids (oldest first) and its reply token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailThread {
    pub subject: Option<String>,
    pub references: Vec<String>,
    pub token: Option<String>,
}

/// Name, version and capabilities a plugin declares.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub capabilities: Vec<Capability>,
    /// The `switchboard:channel` contract version the plugin was built against, e.g. `0.2.0`.
    pub contract: String,
}

#[cfg(test)]
impl PluginInfo {
    /// A plugin with this name and nothing else, for store tests.
    pub fn bare(name: &str) -> Self {
        Self { name: name.into(), version: "1".into(), description: String::new(), capabilities: vec![], contract: "0.2.0".into() }
    }
}

/// How to connect a channel, as its plugin describes it (`switchboard:channel/setup`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChannelGuide {
    /// The steps, in order, as short Markdown paragraphs.
    pub steps: Vec<String>,
    /// Every setting the plugin reads.
    pub settings: Vec<Setting>,
    /// The provider's own documentation.
    pub docs_url: Option<String>,
}

/// One setting a plugin reads from its channel's `[config]` or `[secrets]` table.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Setting {
    pub key: String,
    pub description: String,
    pub required: bool,
    /// A `[secrets]` entry rather than a `[config]` one.
    pub secret: bool,
}

/// The outcome of a plugin's connection check.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ConnectionCheck {
    /// The provider accepted the credentials.
    Connected {
        /// The provider-side account the credentials reach.
        account: String,
        detail: Option<String>,
    },
    /// The check failed; `message` is safe to show (no secrets).
    Failed { problem: ConnectionProblem, message: String, code: Option<String> },
}

named_enum! {
    /// Why a connection check failed.
    pub enum ConnectionProblem {
        Unauthorized => "unauthorized",
        Misconfigured => "misconfigured",
        Unreachable => "unreachable",
        Denied => "denied",
        Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranks_only_move_forward() {
        use DeliveryStatus::*;
        let path = [Pending, Queued, Sent, Delivered, Read];
        for pair in path.windows(2) {
            assert!(pair[0].rank() < pair[1].rank(), "{pair:?}");
        }
        assert!(Failed.rank() > Sent.rank());
        assert!(Failed.rank() < Delivered.rank());
        for status in [Pending, Queued, Sent, Delivered, Read, Failed] {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn outbound_content_json_shape() {
        let content: OutboundContent = serde_json::from_str(r#"{"type":"text","text":"hi"}"#).unwrap();
        assert_eq!(content, OutboundContent::Text { text: "hi".into() });
        let template: OutboundContent =
            serde_json::from_str(r#"{"type":"template","name":"order_update","language":"en_US"}"#).unwrap();
        assert_eq!(template.kind(), "template");
    }

    /// Queued outbox rows hold this JSON; a rename in the types must not strand them.
    #[test]
    fn stored_outbox_payloads_keep_their_shape() {
        let media = OutboundContent::Media { kind: MediaKind::Image, url: "https://x/y.png".into(), caption: None, filename: None, mime_type: None };
        assert_eq!(
            serde_json::to_value(&media).unwrap(),
            serde_json::json!({"type": "media", "kind": "image", "url": "https://x/y.png", "caption": null, "filename": null, "mime_type": null})
        );
        let stored = r#"{"type":"media","kind":"document","url":"https://x/a.pdf","caption":"invoice","filename":"a.pdf","mime_type":"application/pdf"}"#;
        assert_eq!(serde_json::from_str::<OutboundContent>(stored).unwrap().kind(), "document");
    }

    /// Each enum's stored name is its serde name.
    #[test]
    fn stored_names_match_serde_names() {
        fn check<T: Serialize + Copy>(all: &[T], name: impl Fn(T) -> &'static str) {
            for value in all {
                assert_eq!(serde_json::to_value(value).unwrap(), serde_json::json!(name(*value)));
            }
        }
        check(MessageKind::ALL, MessageKind::as_str);
        check(MediaKind::ALL, MediaKind::as_str);
        check(Capability::ALL, Capability::as_str);
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::parse(kind.as_str()), Some(*kind));
        }
    }
}
