//! Mapping between the `switchboard:channel` types and the host's own [`crate::model`].
//!
//! `0.2.0` shares `0.1.0`'s `types`, so these conversions serve both; `setup`, `mail` and
//! `chat` are new.

use super::bindings::v0_1_0::switchboard::channel::types as wit;
use super::bindings::v0_2_0::exports::switchboard::channel::{chat, mail, setup};
use crate::model;

pub fn delivery_status(status: wit::DeliveryStatus) -> model::DeliveryStatus {
    match status {
        wit::DeliveryStatus::Queued => model::DeliveryStatus::Queued,
        wit::DeliveryStatus::Sent => model::DeliveryStatus::Sent,
        wit::DeliveryStatus::Delivered => model::DeliveryStatus::Delivered,
        wit::DeliveryStatus::Read => model::DeliveryStatus::Read,
        wit::DeliveryStatus::Failed => model::DeliveryStatus::Failed,
    }
}

fn party(party: wit::Party) -> model::Party {
    model::Party {
        id: party.id,
        phone: party.phone,
        email: party.email,
        // A plugin's word proves nothing: only the host verifies an email.
        email_verified: false,
        display_name: party.display_name,
        username: party.username,
    }
}

fn party_to_wit(party: &model::Party) -> wit::Party {
    wit::Party {
        id: party.id.clone(),
        phone: party.phone.clone(),
        email: party.email.clone(),
        display_name: party.display_name.clone(),
        username: party.username.clone(),
    }
}

fn media_kind(kind: wit::MediaKind) -> model::MediaKind {
    use model::MediaKind as M;
    match kind {
        wit::MediaKind::Image => M::Image,
        wit::MediaKind::Audio => M::Audio,
        wit::MediaKind::Video => M::Video,
        wit::MediaKind::Document => M::Document,
        wit::MediaKind::Sticker => M::Sticker,
        wit::MediaKind::File => M::File,
    }
}

fn media_kind_to_wit(kind: model::MediaKind) -> wit::MediaKind {
    use model::MediaKind as M;
    match kind {
        M::Image => wit::MediaKind::Image,
        M::Audio => wit::MediaKind::Audio,
        M::Video => wit::MediaKind::Video,
        M::Document => wit::MediaKind::Document,
        M::Sticker => wit::MediaKind::Sticker,
        M::File => wit::MediaKind::File,
    }
}

fn message_kind(kind: wit::MessageKind) -> model::MessageKind {
    use model::MessageKind as M;
    use wit::MessageKind as K;
    match kind {
        K::Text => M::Text,
        K::Image => M::Image,
        K::Audio => M::Audio,
        K::Video => M::Video,
        K::Document => M::Document,
        K::Sticker => M::Sticker,
        K::Location => M::Location,
        K::Contacts => M::Contacts,
        K::Interactive => M::Interactive,
        K::Postback => M::Postback,
        K::Reaction => M::Reaction,
        K::Unsupported => M::Unsupported,
    }
}

fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// One event from the plugin. Extra JSON that does not parse is kept as a string rather than lost.
pub fn event(event: wit::Event) -> model::Event {
    match event {
        wit::Event::Message(message) => model::Event::Message(model::InboundMessage {
            external_id: message.external_id,
            sender: party(message.sender),
            recipient: message.recipient,
            kind: message_kind(message.kind),
            text: message.text,
            attachments: message
                .attachments
                .into_iter()
                .map(|a| model::Attachment {
                    kind: media_kind(a.kind),
                    reference: a.reference,
                    url: a.url,
                    mime_type: a.mime_type,
                    filename: a.filename,
                    caption: a.caption,
                    sha256: a.sha256,
                })
                .collect(),
            reply_to: message.reply_to,
            timestamp_ms: millis(message.timestamp_ms),
            echo: message.echo,
            extra: message.extra_json.map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))),
        }),
        wit::Event::Status(status) => model::Event::Status(model::StatusUpdate {
            external_id: status.external_id,
            status: delivery_status(status.status),
            timestamp_ms: millis(status.timestamp_ms),
            recipient: status.recipient,
            error: status.error.map(|e| model::ProviderError { code: e.code, message: e.message, retryable: e.retryable }),
        }),
        wit::Event::Watermark(mark) => model::Event::Watermark(model::Watermark {
            recipient: mark.recipient,
            status: delivery_status(mark.status),
            watermark_ms: millis(mark.watermark_ms),
        }),
        wit::Event::Profile(p) => model::Event::Profile(party(p)),
        wit::Event::Consent(consent) => model::Event::Consent(model::ConsentUpdate {
            party: party(consent.party),
            opted_in: consent.opted_in,
            keyword: consent.keyword,
        }),
    }
}

pub fn outbound(message: &model::OutboundMessage) -> wit::OutboundMessage {
    let content = match &message.content {
        model::OutboundContent::Text { text } => wit::OutboundContent::Text(text.clone()),
        model::OutboundContent::Media { kind, url, caption, filename, mime_type } => {
            wit::OutboundContent::Media(wit::OutboundMedia {
                kind: media_kind_to_wit(*kind),
                url: url.clone(),
                caption: caption.clone(),
                filename: filename.clone(),
                mime_type: mime_type.clone(),
            })
        }
        model::OutboundContent::Template { name, language, parameters } => wit::OutboundContent::Template(wit::Template {
            name: name.clone(),
            language: language.clone(),
            parameters: parameters.clone(),
        }),
    };
    wit::OutboundMessage {
        message_id: message.message_id.clone(),
        recipient: party_to_wit(&message.recipient),
        content,
        reply_to: message.reply_to.clone(),
    }
}

pub fn send_failure(error: wit::SendError) -> model::SendFailure {
    let kind = match error.kind {
        wit::SendErrorKind::RateLimited => "rate_limited",
        wit::SendErrorKind::Unavailable => "unavailable",
        wit::SendErrorKind::Unauthorized => "unauthorized",
        wit::SendErrorKind::InvalidRecipient => "invalid_recipient",
        wit::SendErrorKind::WindowClosed => "window_closed",
        wit::SendErrorKind::OptedOut => "opted_out",
        wit::SendErrorKind::InvalidRequest => "invalid_request",
        wit::SendErrorKind::Unsupported => "unsupported",
        wit::SendErrorKind::Other => "other",
    };
    model::SendFailure {
        kind: kind.to_string(),
        code: error.code,
        message: error.message,
        retryable: error.retryable,
        retry_after_ms: error.retry_after_ms,
    }
}

pub fn plugin_info(info: wit::PluginInfo, contract: &str) -> model::PluginInfo {
    let flags = [
        (wit::Capabilities::TEXT, model::Capability::Text),
        (wit::Capabilities::MEDIA, model::Capability::Media),
        (wit::Capabilities::TEMPLATES, model::Capability::Templates),
        (wit::Capabilities::TYPING_INDICATOR, model::Capability::TypingIndicator),
        (wit::Capabilities::READ_RECEIPTS, model::Capability::ReadReceipts),
        (wit::Capabilities::REACTIONS, model::Capability::Reactions),
        (wit::Capabilities::REPLIES, model::Capability::Replies),
    ];
    model::PluginInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        capabilities: flags
            .iter()
            .filter(|(flag, _)| info.capabilities.contains(*flag))
            .map(|(_, capability)| *capability)
            .collect(),
        contract: contract.to_string(),
    }
}

pub fn guide(guide: setup::ChannelGuide) -> model::ChannelGuide {
    model::ChannelGuide {
        steps: guide.steps,
        settings: guide
            .settings
            .into_iter()
            .map(|s| model::Setting { key: s.key, description: s.description, required: s.required, secret: s.secret })
            .collect(),
        docs_url: guide.docs_url,
    }
}

pub fn connection_check(check: Result<setup::Connected, setup::Problem>) -> model::ConnectionCheck {
    match check {
        Ok(connected) => model::ConnectionCheck::Connected { account: connected.account, detail: connected.detail },
        Err(problem) => {
            use model::ConnectionProblem as P;
            let kind = match problem.kind {
                setup::ProblemKind::Unauthorized => P::Unauthorized,
                setup::ProblemKind::Misconfigured => P::Misconfigured,
                setup::ProblemKind::Unreachable => P::Unreachable,
                setup::ProblemKind::Denied => P::Denied,
                setup::ProblemKind::Other => P::Other,
            };
            model::ConnectionCheck::Failed { problem: kind, message: problem.message, code: problem.code }
        }
    }
}

pub fn incoming_mail(incoming: super::IncomingMail) -> mail::IncomingMail {
    mail::IncomingMail {
        envelope: mail::Envelope {
            mail_from: incoming.mail_from,
            rcpt_to: incoming.rcpt_to,
            remote_addr: incoming.remote_addr,
            helo: incoming.helo,
            tls: incoming.tls,
        },
        raw: incoming.raw,
    }
}

/// A parsed mail's events, blobs and threading hints.
pub fn parsed_mail(parsed: mail::ParsedMail) -> (Vec<model::Event>, Vec<super::Blob>, Vec<model::ThreadHints>) {
    (
        parsed.parsed.events.into_iter().map(event).collect(),
        parsed.blobs.into_iter().map(|b| super::Blob { id: b.id, mime_type: b.mime_type, data: b.data }).collect(),
        parsed
            .threads
            .into_iter()
            .map(|t| model::ThreadHints {
                external_id: t.external_id,
                replies_to: t.replies_to,
                token: t.token,
                sender_authenticated: t.sender_authenticated,
            })
            .collect(),
    )
}

pub fn thread_context(thread: &model::MailThread) -> mail::ThreadContext {
    mail::ThreadContext { subject: thread.subject.clone(), references: thread.references.clone(), token: thread.token.clone() }
}

pub fn chat_visitor(visitor: &super::ChatVisitor) -> chat::Visitor {
    chat::Visitor {
        id: visitor.id.clone(),
        verified_identifier: visitor.verified_identifier.clone(),
        name: visitor.name.clone(),
        locale: visitor.locale.clone(),
    }
}

fn delivery_status_to_wit(status: model::DeliveryStatus) -> wit::DeliveryStatus {
    match status {
        // Waiting in our outbox is, to a plugin, not yet sent.
        model::DeliveryStatus::Pending | model::DeliveryStatus::Queued => wit::DeliveryStatus::Queued,
        model::DeliveryStatus::Sent => wit::DeliveryStatus::Sent,
        model::DeliveryStatus::Delivered => wit::DeliveryStatus::Delivered,
        model::DeliveryStatus::Read => wit::DeliveryStatus::Read,
        model::DeliveryStatus::Failed => wit::DeliveryStatus::Failed,
    }
}

fn attachment_to_wit(attachment: &model::Attachment) -> wit::Attachment {
    wit::Attachment {
        kind: media_kind_to_wit(attachment.kind),
        reference: attachment.reference.clone(),
        url: attachment.url.clone(),
        mime_type: attachment.mime_type.clone(),
        filename: attachment.filename.clone(),
        caption: attachment.caption.clone(),
        sha256: attachment.sha256.clone(),
    }
}

pub fn chat_action(action: &super::ChatAction) -> chat::Action {
    use super::ChatAction as A;
    match action {
        A::Message { client_id, text, attachments, received_at_ms } => chat::Action::Message(chat::VisitorMessage {
            client_id: client_id.clone(),
            text: text.clone(),
            attachments: attachments.iter().map(attachment_to_wit).collect(),
            received_at_ms: u64::try_from(*received_at_ms).unwrap_or_default(),
        }),
        A::Receipt { status, up_to_ms } => chat::Action::Receipt(chat::Receipt {
            status: delivery_status_to_wit(*status),
            up_to_ms: u64::try_from(*up_to_ms).unwrap_or_default(),
        }),
        A::Email(email) => chat::Action::Email(email.clone()),
    }
}
