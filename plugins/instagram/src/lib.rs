//! # Instagram messaging channel for Switchboard
//!
//! - `verify`: Meta's `hub.challenge` handshake (`GET`, against `verify_token`) and the
//!   `X-Hub-Signature-256` body signature (`POST`, under the `app_secret` secret).
//! - `parse`: `object: "instagram"` webhooks, `entry[].messaging[]` → message (text, media,
//!   shares, story mentions and replies, quick replies, echoes), postback (ice breakers),
//!   reaction, and `messaging_seen` → a `read` status for the message and a `read` watermark.
//! - `send`: text and media by URL, `POST {api_base}/{ig_account_id}/messages` with the
//!   Messenger-style body (`recipient.id` = the customer's IGSID); with a configured
//!   `messaging_tag` (e.g. `HUMAN_AGENT`), `"messaging_type": "MESSAGE_TAG"` and the tag.
//!
//! Messenger has the same webhooks and Send API, so all of it lives once in
//! [`switchboard_sdk::meta_messaging`]; this crate only names the platform ([`INSTAGRAM`]).
//! Settings: `ig_account_id`, `api_base`, `messaging_tag` (config); `app_secret`,
//! `verify_token`, `page_access_token` (secrets). See docs/channels/instagram.md.

use switchboard_sdk::meta_messaging::{self, INSTAGRAM};
use switchboard_sdk::prelude::*;

struct Instagram;

impl Plugin for Instagram {
    fn metadata() -> PluginInfo {
        meta_messaging::metadata(
            &INSTAGRAM,
            env!("CARGO_PKG_VERSION"),
            "Instagram messaging (Instagram professional accounts): webhooks in, text and media out",
        )
    }

    fn verify(request: IncomingRequest) -> Verdict {
        meta_messaging::verify(&request)
    }

    fn parse(request: IncomingRequest) -> Result<Parsed, Rejection> {
        meta_messaging::parse(&INSTAGRAM, &request)
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendError> {
        meta_messaging::send(&INSTAGRAM, &message)
    }
}

impl Setup for Instagram {
    fn guide() -> ChannelGuide {
        meta_messaging::guide(&INSTAGRAM)
    }

    fn check_connection() -> Result<Connected, Problem> {
        meta_messaging::check_connection(&INSTAGRAM)
    }
}

switchboard_sdk::export_channel!(Instagram);

#[cfg(test)]
mod tests;
