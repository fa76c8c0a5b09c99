//! # Email channel for Switchboard
//!
//! A `switchboard:channel@0.2.0` plugin for email:
//!
//! - **Mail in over SMTP.** The host's SMTP listener hands each received mail to `mail.receive`
//!   ([`receive`]), which returns the message (or a bounce's failed status, or nothing for
//!   auto-replies and list mail), the attachments' bytes and threading hints.
//! - **Mail in through Mailgun.** A Mailgun inbound route that forwards to the webhook URL with
//!   `?format=mime` posts the whole message; `verify` checks Mailgun's signature, timestamp and
//!   token, `parse` reads it like SMTP mail, without attachments' bytes or threading hints
//!   ([`mailgun`]).
//! - **Replies out.** The host calls `mail.send` with the reply and the conversation's thread
//!   context; [`compose`] builds the mail (threading headers, a deterministic `Message-ID`, a
//!   plus-addressed `Reply-To`) and the host's relay sends it. `plugin.send` is not used for
//!   mail channels and answers `unsupported`.
//!
//! Everything but this file is pure and tested natively (`cargo test -p
//! switchboard-plugin-email`); this file reads the settings and calls the host.
//!
//! Instance settings (the host's own `[channels.mail]` table, `addresses` and `relay`, is
//! separate; see `docs/channels/email.md`):
//!
//! | key                   | where       | required | meaning                                              |
//! |-----------------------|-------------|----------|------------------------------------------------------|
//! | `from`                | `[config]`  | to send  | the sender of replies, `Acme Support <support@example.com>` |
//! | `addresses`           | `[config]`  | no       | comma-separated addresses this instance serves, for plus-address reply tokens (`support+<token>@…`) |
//! | `trusted_authserv_id` | `[config]`  | no       | the mail server in front of Switchboard whose `Authentication-Results` are believed; a DMARC pass there links the sender to a known contact by address |
//! | `default_subject`     | `[config]`  | no       | the subject of a reply in a conversation without one (default `Re: your message`) |
//! | `mailgun_signing_key` | `[secrets]` | no       | Mailgun's HTTP webhook signing key; without it Mailgun posts are refused |
//!
//! - [`inbound`]: raw message → [`inbound::ParsedMail`] (addresses, ids, date, plain text,
//!   HTML, attachments), on top of `mail-parser`.
//! - [`html`]: HTML bodies rendered as safe plain text, for HTML-only mail.
//! - [`classify`]: personal mail vs. auto-replies, mailing lists and bounces, and the fields
//!   of a delivery status notification (RFC 3464).
//! - [`quote`]: the new text of a reply, without quoted history or signature.
//! - [`threading`]: which earlier message a reply belongs to (`In-Reply-To`, `References`,
//!   plus-addressed reply tokens).
//! - [`authentication`]: whether the sender is authenticated, by a trusted server's
//!   `Authentication-Results` (DMARC), so the host may link the mail to a known contact.
//! - [`receive`]: a received mail → events, blobs and thread hints.
//! - [`compose`]: a reply → the mail the relay sends, on top of `mail-builder`.
//! - [`mailgun`]: Mailgun's inbound posts: form reading, signature and replay checks.
//! - [`setup`]: the channel page's setup guide.

pub mod authentication;
pub mod classify;
pub mod compose;
pub mod html;
pub mod inbound;
pub mod mailgun;
pub mod quote;
pub mod receive;
pub mod setup;
pub mod threading;

/// What the modules' tests share.
#[cfg(test)]
mod testing {
    use crate::inbound::{parse_mail, ParsedMail};

    /// A test message, parsed; a fixture that does not parse fails the test.
    pub fn parsed(raw: &[u8]) -> ParsedMail {
        match parse_mail(raw) {
            Ok(mail) => mail,
            Err(e) => panic!("fixture did not parse: {e}"),
        }
    }
}

use switchboard_sdk::prelude::*;
use switchboard_sdk::{log, relay, replay};

struct Email;

/// A `[config]` value, trimmed; `None` when absent or blank.
fn optional_config(key: &str) -> Option<String> {
    config::get(key).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

/// The addresses this instance serves (`addresses`, comma-separated), for reply tokens.
fn served_addresses() -> Vec<String> {
    config::get("addresses")
        .unwrap_or_default()
        .split(',')
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

/// `sha256:<hex>` of `bytes`: the id of a message that has none, so a redelivery gets the same.
fn digest_id(bytes: &[u8]) -> String {
    let hex: String = crypto::sha256(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Plugin for Email {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "email".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Email: mail in over SMTP or Mailgun (threading, quotes, bounces, auto-replies), threaded replies out through the relay".into(),
            capabilities: Capabilities::TEXT | Capabilities::REPLIES,
        }
    }

    fn verify(request: IncomingRequest) -> Verdict {
        let signing_key = config::secret("mailgun_signing_key");
        let hmac_sha256 = |key: &[u8], data: &[u8]| crypto::hmac_sha256(key, data);
        log::verdict(&request, mailgun::check_request(&request, signing_key.as_deref(), clock::now_ms(), hmac_sha256, replay::claim))
    }

    fn parse(request: IncomingRequest) -> Result<Parsed, Rejection> {
        let form = mailgun::read_form(header(&request, "content-type"), &request.body).inspect_err(log::body_rejected)?;
        let events = mailgun::parse(&form, &served_addresses(), clock::now_ms(), digest_id).inspect_err(log::body_rejected)?;
        Ok(log::parsed(events, &[], None))
    }

    fn send(_message: OutboundMessage) -> Result<SendReceipt, SendError> {
        Err(SendError::new(
            SendErrorKind::Unsupported,
            "mail channels are sent through `mail.send`, with the conversation's thread context, not `plugin.send`",
            false,
        ))
    }
}

impl Setup for Email {
    fn guide() -> ChannelGuide {
        setup::guide()
    }
}

impl Mail for Email {
    fn receive(mail: IncomingMail) -> Result<ParsedMail, Rejection> {
        let trusted = optional_config("trusted_authserv_id");
        let received = receive::receive(&mail.envelope, &mail.raw, &served_addresses(), trusted.as_deref(), &digest_id(&mail.raw), clock::now_ms())
            .inspect_err(log::body_rejected)?;
        log::debug(format!("mail: {} events, {} blobs", received.events.len(), received.blobs.len()));
        Ok(ParsedMail {
            parsed: Parsed { events: received.events, response: None },
            blobs: received.blobs,
            threads: received.threads,
        })
    }

    fn send(message: OutboundMessage, thread: ThreadContext) -> Result<SendReceipt, SendError> {
        let from = optional_config("from");
        let default_subject = optional_config("default_subject");
        let settings = compose::Settings { from: from.as_deref(), default_subject: default_subject.as_deref() };
        let result = compose::compose(&message, &thread, &settings, clock::now_ms()).and_then(|mail| {
            relay::send(&mail.envelope, &mail.raw).map_err(relay::send_error)?;
            Ok(SendReceipt { external_id: mail.external_id, status: DeliveryStatus::Sent })
        });
        switchboard_sdk::http::log_send_outcome(&message.message_id, &result);
        result
    }
}

switchboard_sdk::export_channel!(Email, mail);
