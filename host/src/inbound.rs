//! The one inbound pipeline: what happens to a request from a provider, a mail, or a web chat
//! visitor's action once its transport has read it.
//!
//! - webhooks ([`receive`]): plugin `verify` (a handshake, a signature) → plugin `parse`;
//! - mail ([`receive_mail`]): plugin `mail.receive` → attachments into the media store;
//! - web chat ([`receive_chat`]): plugin `chat.receive` → every sender set to the session's
//!   visitor (the host, not the plugin, says who a visitor is);
//!
//! then, for all three: identity normalisation → group-commit store (dedupe, thread, message,
//! webhook log, live events, one-time tokens) → the answer.
//!
//! Transports stay thin: the HTTP webhook handler reads the body under its limits, calls
//! [`receive`] and turns the outcome into a status code; the SMTP listener reads a message
//! under its limits, calls [`receive_mail`] and turns the outcome into an SMTP reply; the web
//! chat socket reads a frame under its limits, calls [`receive_chat`] and answers the widget.
//! What a request costs and how it ended is counted here, once, for every transport: the
//! Prometheus series and the channel's activity on the admin page.
//! Nothing is acknowledged before the pipeline returns [`Received::Stored`], which it does only
//! after the commit.

use crate::media::{MediaError, MediaStore};
use crate::model::{Claim, Event, Party, ThreadHints};
use crate::plugins::activity::WebhookResult;
use crate::plugins::{
    ChannelPlugin, ChatAction, ChatOutcome, ChatVisitor, IncomingMail, MailOutcome, PluginError, PluginResponse, Rejection, RejectionKind,
    WebhookOutcome, WebhookRequest,
};
use crate::store::ingest::{IngestReport, IngestRequest};
use crate::store::{Store, StoreError};
use crate::telemetry;
use bytes::Bytes;
use std::time::Instant;

/// What became of a request that went through the pipeline.
#[derive(Debug)]
pub enum Received {
    /// Answered by the plugin, nothing stored (a subscription handshake).
    Answered(PluginResponse),
    /// Durably stored: `events` events, of which `report` says what was new. `response` is the
    /// answer the provider expects (TwiML), when the plugin gave one.
    Stored { events: usize, report: IngestReport, response: Option<PluginResponse> },
}

/// Why a request was not stored.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// The plugin refused it: a bad signature, a handshake for another token, a body it cannot
    /// read. The sender's mistake (or a forgery): never retried by us.
    #[error("refused: {}", .0.message)]
    Refused(Rejection),
    /// The plugin failed (trap, time or memory limit): our side; the provider should retry.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// Storing failed: our side; the provider should retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keeping an attachment failed: our side; the sender should retry.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The plugin was built before the mail interface existed (`0.1.0`): the channel takes no
    /// mail. A configuration mistake, so the sender is told to stop.
    #[error("channel {0} takes no mail")]
    NotAMailChannel(String),
    /// The plugin was built before the chat interface existed (`0.1.0`).
    #[error("channel {0} takes no web chat")]
    NotAChatChannel(String),
}

impl InboundError {
    /// Whether the failure is ours (the sender should try again), not the sender's.
    pub fn is_ours(&self) -> bool {
        !matches!(self, Self::Refused(_) | Self::NotAMailChannel(_) | Self::NotAChatChannel(_))
    }
}

/// The code a refusal is answered (and counted) with.
pub fn rejection_code(kind: RejectionKind) -> &'static str {
    match kind {
        RejectionKind::Unauthorized => "bad_signature",
        RejectionKind::Forbidden => "handshake_rejected",
        RejectionKind::BadRequest => "malformed_payload",
    }
}

/// Run `request` through `channel`'s plugin and, when it carries events, store them.
/// `raw_body` is the same bytes as `request.body`, kept in the webhook log.
pub async fn receive(
    store: &Store,
    channel: &ChannelPlugin,
    request_id: &str,
    request: WebhookRequest,
    raw_body: Bytes,
) -> Result<Received, InboundError> {
    let channel_id = channel.context.channel_id.as_str();
    let result = run(store, channel, channel_id, request_id, request, raw_body).await;
    record_activity(channel, &result);
    result
}

/// Run a received mail through `channel`'s plugin, keep its attachments and store its events,
/// threaded by the plugin's hints. `request_id` names the SMTP transaction in logs.
pub async fn receive_mail(
    store: &Store,
    media: &MediaStore,
    channel: &ChannelPlugin,
    request_id: &str,
    mail: IncomingMail,
) -> Result<Received, InboundError> {
    let channel_id = channel.context.channel_id.as_str();
    let result = run_mail(store, media, channel, channel_id, request_id, mail).await;
    record_activity(channel, &result);
    result
}

/// One web chat visitor action, as the socket read it.
pub struct ChatArrival<'a> {
    pub visitor: &'a ChatVisitor,
    /// Who the visitor is, as the session proved it: every event's sender becomes this party,
    /// whatever the plugin put there.
    pub party: &'a Party,
    pub action: ChatAction,
    /// The frame as received, for the webhook log.
    pub raw: Bytes,
}

/// Run a web chat visitor's action through `channel`'s plugin and store its events, each one's
/// customer pinned to the session's visitor. `request_id` names the frame in logs.
pub async fn receive_chat(store: &Store, channel: &ChannelPlugin, request_id: &str, arrival: ChatArrival<'_>) -> Result<Received, InboundError> {
    let channel_id = channel.context.channel_id.as_str();
    let result = run_chat(store, channel, channel_id, request_id, arrival).await;
    record_activity(channel, &result);
    result
}

async fn run_chat(store: &Store, channel: &ChannelPlugin, channel_id: &str, request_id: &str, arrival: ChatArrival<'_>) -> Result<Received, InboundError> {
    let ChatArrival { visitor, party, action, raw } = arrival;
    let left_email = match &action {
        ChatAction::Email(email) => Some(email.trim().to_string()),
        _ => None,
    };
    let outcome = channel.handle_chat(visitor, &action).await.inspect_err(|error| {
        tracing::error!(channel = channel_id, request_id, %error, "plugin failed on a web chat action");
    })?;
    match outcome {
        None => Err(InboundError::NotAChatChannel(channel_id.to_string())),
        Some(ChatOutcome::Reject(rejection)) => {
            tracing::debug!(channel = channel_id, request_id, reason = rejection.message, "web chat action refused");
            Err(InboundError::Refused(rejection))
        }
        Some(ChatOutcome::Events(mut events)) => {
            pin_visitor(&mut events, party, left_email.as_deref());
            let arrival = Arrival { raw_body: raw, events, threads: Vec::new(), claims: Vec::new(), response: None };
            store_events(store, channel, channel_id, request_id, arrival).await
        }
    }
}

/// Make the session's visitor the customer of every event: the sender of messages, the party of
/// profiles and consent, the recipient of watermarks. A plugin cannot name anyone else, nor
/// claim a phone or email for the visitor; the only unproven address that passes is the one
/// the visitor typed into the offline form (`left_email`), which stays unverified. Status
/// events are dropped: they name messages by provider id, and a visitor's action must not move
/// any message but the replies to them (which watermarks do).
fn pin_visitor(events: &mut Vec<Event>, party: &Party, left_email: Option<&str>) {
    events.retain(|event| !matches!(event, Event::Status(_)));
    for event in events.iter_mut() {
        match event {
            Event::Message(message) => message.sender = with_name(party, &message.sender),
            Event::Profile(profile) => {
                let email = profile.email.take().filter(|email| left_email.is_some_and(|left| left.eq_ignore_ascii_case(email.trim())));
                *profile = with_name(party, profile);
                if profile.email.is_none() {
                    profile.email = email;
                }
            }
            Event::Consent(consent) => consent.party = with_name(party, &consent.party),
            Event::Watermark(mark) => mark.recipient = party.id.clone(),
            Event::Status(_) => {}
        }
    }
}

/// The session's party, with the name the plugin gave when the session has none.
fn with_name(party: &Party, from_plugin: &Party) -> Party {
    Party { display_name: party.display_name.clone().or_else(|| from_plugin.display_name.clone()), ..party.clone() }
}

fn record_activity(channel: &ChannelPlugin, result: &Result<Received, InboundError>) {
    let seen = match result {
        Ok(_) => WebhookResult::Accepted,
        Err(error) if error.is_ours() => WebhookResult::Failed,
        Err(_) => WebhookResult::Refused,
    };
    channel.activity.record_webhook(crate::clock::now_ms(), seen);
}

async fn run_mail(
    store: &Store,
    media: &MediaStore,
    channel: &ChannelPlugin,
    channel_id: &str,
    request_id: &str,
    mail: IncomingMail,
) -> Result<Received, InboundError> {
    let raw_body = Bytes::from(mail.raw.clone());
    let outcome = channel.handle_mail(mail).await.inspect_err(|error| {
        tracing::error!(channel = channel_id, request_id, %error, "plugin failed on a mail");
    })?;
    match outcome {
        None => Err(InboundError::NotAMailChannel(channel_id.to_string())),
        Some(MailOutcome::Reject(rejection)) => {
            tracing::debug!(channel = channel_id, request_id, reason = rejection.message, "mail refused");
            Err(InboundError::Refused(rejection))
        }
        Some(MailOutcome::Events { mut events, blobs, threads }) => {
            media.rewrite_blobs(&mut events, blobs).await?;
            trust_authenticated_senders(&mut events, &threads);
            let arrival = Arrival { raw_body, events, threads, claims: Vec::new(), response: None };
            store_events(store, channel, channel_id, request_id, arrival).await
        }
    }
}

async fn run(
    store: &Store,
    channel: &ChannelPlugin,
    channel_id: &str,
    request_id: &str,
    request: WebhookRequest,
    raw_body: Bytes,
) -> Result<Received, InboundError> {
    let plugin_started = Instant::now();
    let outcome = channel.handle_webhook(request).await.inspect_err(|error| {
        tracing::error!(channel = channel_id, request_id, %error, "plugin failed on a webhook");
    })?;
    match outcome {
        WebhookOutcome::Respond(response) => Ok(Received::Answered(response)),
        WebhookOutcome::Reject(rejection) => {
            // What refusing costs, so a flood of forged requests shows on a dashboard.
            metrics::histogram!(telemetry::PLUGIN_REJECTED_SECONDS, "channel" => channel_id.to_string(), "reason" => rejection_code(rejection.kind))
                .record(plugin_started.elapsed());
            // Debug, not info: anyone can send forged requests, and they must not be able to
            // flood the log. Refusals are counted in `/metrics` by reason.
            tracing::debug!(channel = channel_id, request_id, reason = rejection.message, "webhook refused");
            Err(InboundError::Refused(rejection))
        }
        WebhookOutcome::Events { events, response, claims } => {
            let arrival = Arrival { raw_body, events, threads: Vec::new(), claims, response };
            store_events(store, channel, channel_id, request_id, arrival).await
        }
    }
}

/// Mark the senders the plugin found authenticated as having a verified email, so identity
/// linking may join them to the known contact with that address (it never links by a merely
/// claimed one).
fn trust_authenticated_senders(events: &mut [Event], threads: &[ThreadHints]) {
    for event in events {
        let Event::Message(message) = event else { continue };
        let authenticated = threads.iter().any(|hints| hints.external_id == message.external_id && hints.sender_authenticated);
        if authenticated && message.sender.email.is_some() {
            message.sender.email_verified = true;
        }
    }
}

/// What a plugin made of a request or a mail, ready for the steps every transport shares.
struct Arrival {
    /// The bytes as received, for the webhook log.
    raw_body: Bytes,
    events: Vec<Event>,
    threads: Vec<ThreadHints>,
    claims: Vec<Claim>,
    /// The answer the provider expects once the events are stored.
    response: Option<PluginResponse>,
}

/// Normalise who sent what, store it, and count it.
async fn store_events(store: &Store, channel: &ChannelPlugin, channel_id: &str, request_id: &str, arrival: Arrival) -> Result<Received, InboundError> {
    let Arrival { raw_body, mut events, threads, claims, response } = arrival;
    crate::identity::normalize_events(&mut events);
    let count = events.len();
    let request = IngestRequest { channel_id: channel_id.to_string(), request_id: request_id.to_string(), raw_body, events, threads, claims };
    let claims = request.claims.clone();
    let report = store.ingest(request).await?;
    if report.replayed {
        tracing::debug!(channel = channel_id, request_id, "replayed one-time token refused at commit");
        return Err(InboundError::Refused(Rejection { kind: RejectionKind::Unauthorized, message: "replayed request: its token was already used".into() }));
    }
    channel.context.replay.remember(&claims, crate::clock::now_ms() as u64);
    metrics::counter!(telemetry::MESSAGES_INGESTED, "channel" => channel_id.to_string()).increment(report.new_messages.into());
    metrics::counter!(telemetry::WEBHOOK_DUPLICATES, "channel" => channel_id.to_string()).increment(report.duplicates.into());
    tracing::debug!(channel = channel_id, request_id, events = count, ?report, "stored");
    Ok(Received::Stored { events: count, report, response })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConsentUpdate, DeliveryStatus, InboundMessage, MessageKind, StatusUpdate, Watermark};

    fn party(id: &str) -> Party {
        Party { id: id.into(), ..Party::default() }
    }

    #[test]
    fn a_plugin_cannot_make_a_visitor_someone_else() {
        let session = Party { id: "user:ana@example.com".into(), email: Some("ana@example.com".into()), email_verified: true, ..Party::default() };
        let impostor = Party { id: "v:other".into(), phone: Some("+16505551234".into()), email: Some("boss@example.com".into()), display_name: Some("Ana L.".into()), ..Party::default() };
        let message = InboundMessage {
            external_id: "user:ana@example.com/c1".into(),
            sender: impostor.clone(),
            recipient: None,
            kind: MessageKind::Text,
            text: Some("hi".into()),
            attachments: Vec::new(),
            reply_to: None,
            timestamp_ms: 1,
            echo: false,
            extra: None,
        };
        let mut events = vec![
            Event::Message(message),
            Event::Profile(impostor.clone()),
            Event::Consent(ConsentUpdate { party: impostor, opted_in: false, keyword: "STOP".into() }),
            Event::Watermark(Watermark { recipient: "v:other".into(), status: DeliveryStatus::Read, watermark_ms: 5 }),
            Event::Status(StatusUpdate { external_id: "wamid.someone-elses".into(), status: DeliveryStatus::Failed, timestamp_ms: 1, recipient: None, error: None }),
        ];
        pin_visitor(&mut events, &session, None);
        assert_eq!(events.len(), 4, "status events are dropped");
        for event in &events {
            let customer = match event {
                Event::Message(m) => m.sender.clone(),
                Event::Profile(p) => p.clone(),
                Event::Consent(c) => c.party.clone(),
                Event::Watermark(w) => party(&w.recipient),
                Event::Status(_) => unreachable!(),
            };
            assert_eq!(customer.id, "user:ana@example.com");
            if !matches!(event, Event::Watermark(_)) {
                assert_eq!((customer.phone, customer.email.as_deref(), customer.email_verified), (None, Some("ana@example.com"), true));
                assert_eq!(customer.display_name.as_deref(), Some("Ana L."), "the plugin's name fills a gap");
            }
        }
    }

    #[test]
    fn only_the_address_the_visitor_typed_passes_and_unverified() {
        let anonymous = party("v:1");
        let mut events = vec![Event::Profile(Party { email: Some("ana@example.com".into()), ..party("v:2") })];
        pin_visitor(&mut events, &anonymous, Some("Ana@Example.com"));
        let Event::Profile(kept) = &events[0] else { unreachable!() };
        assert_eq!((kept.id.as_str(), kept.email.as_deref(), kept.email_verified), ("v:1", Some("ana@example.com"), false));
        let mut events = vec![Event::Profile(Party { email: Some("boss@example.com".into()), ..party("v:1") })];
        pin_visitor(&mut events, &anonymous, Some("ana@example.com"));
        let Event::Profile(kept) = &events[0] else { unreachable!() };
        assert_eq!(kept.email, None, "an address the visitor did not type is dropped");
    }
}
