//! # Email channel for Switchboard
//!
//! A `switchboard:channel@0.2.0` plugin whose messages arrive over SMTP: the host's SMTP
//! transport hands each received mail to `mail.receive` ([`receive`]), which returns the
//! message (or a bounce's failed status, or nothing for auto-replies and list mail), the
//! attachments' bytes and threading hints.
//!
//! **Not built yet:** the host's SMTP listener and media store (so no `config.toml` instance
//! uses this plugin), Mailgun's inbound webhook (`verify`/`parse` refuse every webhook), and
//! sending (`send` answers `unsupported`; the plugin declares no capabilities). Everything below
//! is pure and tested natively (`cargo test -p switchboard-plugin-email`).
//!
//! Instance settings: `addresses` (`[config]`, comma-separated): the addresses this instance
//! serves, for plus-address reply tokens (`support+<token>@…`).
//!
//! - [`inbound`]: raw message → [`inbound::ParsedMail`] (addresses, ids, date, plain text,
//!   HTML, attachments), on top of `mail-parser`.
//! - [`html`]: HTML bodies rendered as safe plain text, for HTML-only mail.
//! - [`classify`]: personal mail vs. auto-replies, mailing lists and bounces, and the fields
//!   of a delivery status notification (RFC 3464).
//! - [`quote`]: the new text of a reply, without quoted history or signature.
//! - [`threading`]: which earlier message a reply belongs to (`In-Reply-To`, `References`,
//!   plus-addressed reply tokens).

pub mod classify;
pub mod html;
pub mod inbound;
pub mod quote;
pub mod receive;
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

struct Email;

impl Plugin for Email {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "email".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Email over SMTP: mail in (threading, quotes, bounces, auto-replies); sending is not built yet".into(),
            capabilities: Capabilities::empty(),
        }
    }

    fn verify(_request: IncomingRequest) -> Verdict {
        Verdict::Reject(Rejection::forbidden("this channel takes mail over SMTP, not webhooks"))
    }

    fn parse(_request: IncomingRequest) -> Result<Parsed, Rejection> {
        Err(Rejection::forbidden("this channel takes mail over SMTP, not webhooks"))
    }

    fn send(_message: OutboundMessage) -> Result<SendReceipt, SendError> {
        Err(SendError::new(SendErrorKind::Unsupported, "sending email is not built yet", false))
    }
}

impl Setup for Email {}

impl Mail for Email {
    fn receive(mail: IncomingMail) -> Result<ParsedMail, Rejection> {
        let served: Vec<String> = config::get("addresses")
            .unwrap_or_default()
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        // A message without a Message-ID is named by its bytes, so a redelivery is recognised.
        let digest: String = crypto::sha256(&mail.raw).iter().map(|b| format!("{b:02x}")).collect();
        let received = receive::receive(&mail.envelope, &mail.raw, &served, &format!("sha256:{digest}"), clock::now_ms())
            .inspect_err(switchboard_sdk::log::body_rejected)?;
        switchboard_sdk::log::debug(format!("mail: {} events, {} blobs", received.events.len(), received.blobs.len()));
        Ok(ParsedMail {
            parsed: Parsed { events: received.events, response: None },
            blobs: received.blobs,
            threads: received.threads,
        })
    }
}

switchboard_sdk::export_channel!(Email, mail);
