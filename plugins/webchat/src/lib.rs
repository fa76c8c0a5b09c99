//! # Website chat channel for Switchboard
//!
//! Here Switchboard is the provider: visitors talk to the host's own widget
//! (`/widget/v1.js`) over a WebSocket. The host owns the socket, the visitor's signed session,
//! the site's identity check, uploads and the limits per session and address; this plugin owns
//! what a visitor's actions become, on `switchboard:channel@0.2.0`:
//!
//! - `chat.receive`: a message (text and uploaded files) → a message event whose external id
//!   is the visitor's id and the widget's client id, so a resend is stored once; a receipt → a
//!   `delivered`/`read` watermark; an email left while nobody was online → a profile event.
//! - `send`: an agent's reply is accepted at once (`sent`): the host stores it and its socket
//!   pushes it to the visitor's open tabs; the widget's receipts then move it to `delivered`
//!   and `read`. Templates are refused: a website visitor has no template channel.
//! - `verify`/`parse`: nothing arrives as a webhook, so both refuse.
//!
//! Instance settings (the host's `[channels.webchat]` table, with origins and limits, is
//! separate; see `docs/channels/webchat.md`):
//!
//! | key                 | where      | required | meaning                                          |
//! |---------------------|------------|----------|--------------------------------------------------|
//! | `max_message_chars` | `[config]` | no       | longest visitor message, in characters (the host fills it in from `[channels.webchat]`) |
//!
//! The mapping lives in [`visitor`] and [`reply`], which call no host imports and are tested
//! natively; [`setup`] is the channel page's guide.

pub mod reply;
pub mod setup;
pub mod visitor;

use switchboard_sdk::prelude::*;

struct WebChat;

impl Plugin for WebChat {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "webchat".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Website chat: the host's embeddable widget, live over WebSocket".into(),
            capabilities: Capabilities::TEXT | Capabilities::MEDIA | Capabilities::TYPING_INDICATOR | Capabilities::READ_RECEIPTS,
        }
    }

    fn verify(_request: IncomingRequest) -> Verdict {
        Verdict::Reject(visitor::no_webhooks())
    }

    fn parse(_request: IncomingRequest) -> Result<Parsed, Rejection> {
        Err(visitor::no_webhooks())
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendError> {
        reply::accept(&message)
    }
}

impl Chat for WebChat {
    fn receive(visitor: Visitor, action: Action) -> Result<Parsed, Rejection> {
        let limits = visitor::Limits::from_config(config::get("max_message_chars").as_deref());
        visitor::receive(&visitor, action, &limits)
    }
}

impl Setup for WebChat {
    fn guide() -> ChannelGuide {
        setup::guide()
    }

    fn check_connection() -> Result<Connected, Problem> {
        Ok(setup::connected())
    }
}

switchboard_sdk::export_channel!(WebChat, chat);
