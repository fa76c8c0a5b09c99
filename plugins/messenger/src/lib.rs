//! # Facebook Messenger channel for Switchboard
//!
//! - `verify`: Meta's `hub.challenge` handshake (`GET`, against `verify_token`) and the
//!   `X-Hub-Signature-256` body signature (`POST`, under the `app_secret` secret).
//! - `parse`: `object: "page"` webhooks, `entry[].messaging[]` → message (text, media,
//!   stickers, quick replies, echoes), postback, reaction, status and watermark events.
//! - `send`: text and media by URL through the Send API, `POST {api_base}/{page_id}/messages`,
//!   with `"messaging_type": "RESPONSE"`, or `"MESSAGE_TAG"` and the configured
//!   `messaging_tag`.
//!
//! Instagram messaging has the same webhooks and Send API, so all of it lives once in
//! [`switchboard_sdk::meta_messaging`]; this crate only names the platform ([`MESSENGER`]).
//! Settings: `page_id`, `api_base`, `messaging_tag` (config); `app_secret`, `verify_token`,
//! `page_access_token` (secrets). See docs/channels/messenger.md.

use switchboard_sdk::meta_messaging::{self, MESSENGER};
use switchboard_sdk::prelude::*;

struct Messenger;

impl Plugin for Messenger {
    fn metadata() -> PluginInfo {
        meta_messaging::metadata(
            &MESSENGER,
            env!("CARGO_PKG_VERSION"),
            "Facebook Messenger (Messenger Platform): Page webhooks in, text and media out through the Send API",
        )
    }

    fn verify(request: IncomingRequest) -> Verdict {
        meta_messaging::verify(&request)
    }

    fn parse(request: IncomingRequest) -> Result<Parsed, Rejection> {
        meta_messaging::parse(&MESSENGER, &request)
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendError> {
        meta_messaging::send(&MESSENGER, &message)
    }
}

impl Setup for Messenger {
    fn guide() -> ChannelGuide {
        meta_messaging::guide(&MESSENGER)
    }

    fn check_connection() -> Result<Connected, Problem> {
        meta_messaging::check_connection(&MESSENGER)
    }
}

switchboard_sdk::export_channel!(Messenger);

#[cfg(test)]
mod tests;
