//! # WhatsApp Cloud API channel for Switchboard
//!
//! - `verify`: Meta's `hub.challenge` handshake (`GET`, against `verify_token`) and the
//!   `X-Hub-Signature-256` body signature (`POST`, under the `app_secret` secret).
//! - `parse`: `whatsapp_business_account` webhooks → profile, message and status events, for
//!   this instance's `phone_number_id` only (another number's changes are skipped).
//! - `send`: text, media and template messages through `POST /{phone_number_id}/messages`.
//! - `setup`: the channel page's steps and settings, and a connection check that reads the
//!   number's name (`GET /{phone_number_id}`) with the access token (see [`setup`]).
//!
//! Instance settings:
//!
//! | key               | where              | required | meaning                                     |
//! |-------------------|--------------------|----------|---------------------------------------------|
//! | `phone_number_id` | `[config]`         | for send; binds webhooks | the business phone number id |
//! | `api_base`        | `[config]`         | no       | default `https://graph.facebook.com/v21.0`  |
//! | `verify_token`    | `[secrets]` or `[config]` | for the handshake | the webhook verify token     |
//! | `app_secret`      | `[secrets]`        | for webhooks | the Meta app secret                     |
//! | `access_token`    | `[secrets]`        | for send | a system-user access token                  |
//!
//! The mapping itself lives in [`inbound`] and [`outbound`], which call no host imports and are
//! tested natively; this file only reads configuration, logs and performs the HTTP call.

pub mod inbound;
pub mod outbound;
pub mod setup;

use switchboard_sdk::meta::verify_configured;
use switchboard_sdk::prelude::*;
use switchboard_sdk::{log, required_config, required_secret};

struct WhatsApp;

impl Plugin for WhatsApp {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "whatsapp".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "WhatsApp Business Platform (Cloud API): webhooks in, text, media and templates out".into(),
            capabilities: Capabilities::TEXT
                | Capabilities::MEDIA
                | Capabilities::TEMPLATES
                | Capabilities::READ_RECEIPTS
                | Capabilities::REPLIES
                | Capabilities::REACTIONS,
        }
    }

    fn verify(request: IncomingRequest) -> Verdict {
        log::logged_verdict(&request, verify_configured(&request))
    }

    fn parse(request: IncomingRequest) -> Result<Parsed, Rejection> {
        // Bound to this instance's number when it has one (it needs one to send anyway).
        let own_number = config::get("phone_number_id").map(|id| id.trim().to_owned()).filter(|id| !id.is_empty());
        let mapped = inbound::parse_body(&request.body, own_number.as_deref(), clock::now_ms()).inspect_err(log::body_rejected)?;
        Ok(log::parsed(mapped.events, &mapped.skipped, None))
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendError> {
        let phone_number_id = required_config("phone_number_id")
            .map_err(|missing| SendError::new(SendErrorKind::Other, missing, false))?;
        let access_token = required_secret("access_token")
            .map_err(|missing| SendError::new(SendErrorKind::Unauthorized, missing, false))?;
        let url = outbound::messages_url(config::get("api_base").as_deref(), &phone_number_id);
        let body = outbound::build_send_body(&message)?;

        let authorization = format!("Bearer {access_token}");
        let result = switchboard_sdk::http::post_json(&url, &[("authorization", authorization.as_str())], &body)
            .and_then(|response| outbound::interpret_send_response(response.status, &response.headers, &response.body));
        switchboard_sdk::http::log_send_outcome(&message.message_id, &result);
        result
    }
}

impl Setup for WhatsApp {
    fn guide() -> ChannelGuide {
        setup::guide()
    }

    fn check_connection() -> Result<Connected, Problem> {
        let phone_number_id = required_config("phone_number_id").map_err(Problem::misconfigured)?;
        let access_token = required_secret("access_token").map_err(Problem::misconfigured)?;
        let authorization = format!("Bearer {access_token}");
        let url = setup::check_url(config::get("api_base").as_deref(), &phone_number_id);
        let response = switchboard_sdk::setup::get(&url, &[("authorization", authorization.as_str())])?;
        setup::interpret_check(response.status, &response.body)
    }
}

switchboard_sdk::export_channel!(WhatsApp);
