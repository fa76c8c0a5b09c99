//! # Telegram Bot API channel for Switchboard
//!
//! - `verify`: the `X-Telegram-Bot-Api-Secret-Token` header must equal the `secret_token`
//!   given to `setWebhook` (compared in constant time). Only `POST`.
//! - `parse`: `message` and `edited_message` updates → message events (see [`inbound`]);
//!   other update types are acknowledged without events.
//! - `send`: text (`sendMessage`) and media by URL (`sendPhoto`, `sendDocument`, `sendAudio`,
//!   `sendVideo`, `sendSticker`) through `POST {api_base}/bot{bot_token}/{method}` (see
//!   [`outbound`]).
//!
//! Instance settings:
//!
//! | key            | where       | required     | meaning                                          |
//! |----------------|-------------|--------------|--------------------------------------------------|
//! | `api_base`     | `[config]`  | no           | default `https://api.telegram.org`               |
//! | `bot_token`    | `[secrets]` | for send     | the token from @BotFather (`123456789:AA…`)      |
//! | `secret_token` | `[secrets]` | for webhooks | the `secret_token` passed to `setWebhook`        |
//!
//! The mapping lives in [`inbound`] and [`outbound`], which call no host imports and are tested
//! natively; this file only reads configuration, logs and performs the HTTP call.

pub mod inbound;
pub mod outbound;
pub mod setup;

use switchboard_sdk::prelude::*;
use switchboard_sdk::{log, required_secret};
use switchboard_sdk::signature::constant_time_eq;

struct Telegram;

fn check_request(request: &IncomingRequest) -> Result<(), Rejection> {
    if request.method == "GET" {
        // A GET is a subscription handshake, and Telegram has none to match.
        return Err(Rejection::forbidden("Telegram webhooks have no GET handshake; Telegram POSTs updates"));
    }
    if request.method != "POST" {
        return Err(Rejection::bad_request(format!("method {} is not used by Telegram webhooks", request.method)));
    }
    let expected = required_secret("secret_token").map_err(|_| Rejection::unauthorized("secret_token is not configured"))?;
    let Some(given) = header(request, "x-telegram-bot-api-secret-token") else {
        return Err(Rejection::unauthorized("X-Telegram-Bot-Api-Secret-Token header is missing"));
    };
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(Rejection::unauthorized("X-Telegram-Bot-Api-Secret-Token does not match"))
    }
}

impl Plugin for Telegram {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "telegram".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Telegram Bot API: webhook updates in, text and media out, replies".into(),
            capabilities: Capabilities::TEXT | Capabilities::MEDIA | Capabilities::REPLIES,
        }
    }

    fn verify(request: IncomingRequest) -> Verdict {
        log::verdict(&request, check_request(&request))
    }

    fn parse(request: IncomingRequest) -> Result<Parsed, Rejection> {
        let bot_token = config::secret("bot_token").unwrap_or_default();
        let recipient = outbound::bot_id(&bot_token);
        let mapped = inbound::parse_body(&request.body, recipient).inspect_err(log::body_rejected)?;
        Ok(log::parsed(mapped.events, &mapped.note, None))
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendError> {
        let bot_token =
            required_secret("bot_token").map_err(|missing| SendError::new(SendErrorKind::Unauthorized, missing, false))?;
        let call = outbound::build_call(&message)?;
        let url = outbound::method_url(config::get("api_base").as_deref(), &bot_token, call.method);
        let result = switchboard_sdk::http::post_json(&url, &[], &call.body)
            .and_then(|response| outbound::interpret_send_response(response.status, &response.headers, &response.body))
            .map_err(|mut error| {
                // Transport errors can quote the URL, and the URL holds the token.
                error.message = outbound::redact(&error.message, &bot_token);
                error
            });
        match &result {
            Ok(receipt) => log::debug(format!("message {} sent with {} as {}", message.message_id, call.method, receipt.external_id)),
            Err(error) => log::debug(format!(
                "message {} failed ({}): {:?} code {} retryable {}: {}",
                message.message_id,
                call.method,
                error.kind,
                error.code.as_deref().unwrap_or("-"),
                error.retryable,
                error.message
            )),
        }
        result
    }
}

impl Setup for Telegram {
    fn guide() -> ChannelGuide {
        setup::guide()
    }

    fn check_connection() -> Result<Connected, Problem> {
        let bot_token = required_secret("bot_token").map_err(Problem::misconfigured)?;
        let url = outbound::method_url(config::get("api_base").as_deref(), &bot_token, "getMe");
        let response = switchboard_sdk::setup::get(&url, &[]).map_err(|mut problem| {
            // Transport errors can quote the URL, and the URL holds the token.
            problem.message = outbound::redact(&problem.message, &bot_token);
            problem
        })?;
        setup::interpret_check(response.status, &response.body)
    }
}

switchboard_sdk::export_channel!(Telegram);
