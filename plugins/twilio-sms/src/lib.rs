//! # Twilio SMS channel for Switchboard
//!
//! - `verify`: `X-Twilio-Signature` — base64 HMAC-SHA1, under the account's auth token, of the
//!   full webhook URL followed by the sorted `POST` parameters (see [`signature`]). Only `POST`.
//! - `parse`: incoming SMS/MMS → message events (plus a consent event for STOP/START keywords),
//!   status callbacks → status events; answered with empty TwiML (see [`inbound`]).
//! - `send`: text and media through `POST /2010-04-01/Accounts/{account_sid}/Messages.json`
//!   with HTTP basic auth (see [`outbound`]).
//!
//! Instance settings:
//!
//! | key                     | where       | required | meaning                                               |
//! |-------------------------|-------------|----------|-------------------------------------------------------|
//! | `account_sid`           | `[config]`  | for send | the account SID, `AC…`                                |
//! | `from`                  | `[config]`  | for send, unless `messaging_service_sid` | the sending number, E.164 |
//! | `messaging_service_sid` | `[config]`  | no       | send through this Messaging Service (`MG…`) instead of `from` |
//! | `status_callback`       | `[config]`  | no       | URL Twilio reports delivery status to (`{public_url}/webhooks/{id}`) |
//! | `api_base`              | `[config]`  | no       | default `https://api.twilio.com`                      |
//! | `auth_token`            | `[secrets]` | yes      | the account's auth token: signs webhooks, authenticates sends |
//!
//! The mapping lives in [`signature`], [`inbound`] and [`outbound`], which call no host imports
//! and are tested natively; this file only reads configuration, logs and performs the HTTP call.

pub mod inbound;
pub mod outbound;
pub mod setup;
pub mod signature;

use switchboard_sdk::bindings::switchboard::channel::outbound_http::Request;
use switchboard_sdk::encoding::{basic_auth, form_encode};
use switchboard_sdk::prelude::*;
use switchboard_sdk::{log, required_config, required_secret};

struct TwilioSms;

fn optional_config(key: &str) -> Option<String> {
    config::get(key).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

fn check_request(request: &IncomingRequest) -> Result<(), Rejection> {
    if request.method == "GET" {
        // A GET is a subscription handshake (or a webhook configured as HTTP GET); this
        // channel has no handshake and takes POSTs only.
        return Err(Rejection::forbidden("this channel takes Twilio webhooks as HTTP POST only; configure HTTP POST at Twilio"));
    }
    if request.method != "POST" {
        return Err(Rejection::bad_request(format!("method {} is not used by Twilio webhooks; configure HTTP POST", request.method)));
    }
    let auth_token = required_secret("auth_token").map_err(|_| Rejection::unauthorized("auth_token is not configured"))?;
    let Some(given) = header(request, "x-twilio-signature") else {
        return Err(Rejection::unauthorized("X-Twilio-Signature header is missing"));
    };
    // Refuse what cannot be a signature before parsing the form: forged requests must cost
    // as little as possible.
    if !signature::looks_like_signature(given) {
        return Err(Rejection::unauthorized("X-Twilio-Signature is not a base64 HMAC-SHA1 digest"));
    }
    let params = form(&request.body);
    let hmac_sha1 = |key: &[u8], data: &[u8]| crypto::hmac_sha1(key, data);
    if signature::is_valid(hmac_sha1, &auth_token, &request.url, &params, given) {
        Ok(())
    } else {
        Err(Rejection::unauthorized(
            "X-Twilio-Signature does not match; the webhook URL configured at Twilio must equal server.public_url + /webhooks/{channel}",
        ))
    }
}

impl Plugin for TwilioSms {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "twilio-sms".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Twilio Programmable Messaging (SMS/MMS): signed webhooks and status callbacks in, text and media out".into(),
            capabilities: Capabilities::TEXT | Capabilities::MEDIA,
        }
    }

    fn verify(request: IncomingRequest) -> Verdict {
        log::verdict(&request, check_request(&request))
    }

    fn parse(request: IncomingRequest) -> Result<Parsed, Rejection> {
        let params = form(&request.body);
        let mapped = inbound::map_form(&params, clock::now_ms()).inspect_err(log::body_rejected)?;
        Ok(log::parsed(mapped.events, &mapped.note, Some(inbound::twiml_response())))
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendError> {
        let account_sid =
            required_config("account_sid").map_err(|missing| SendError::new(SendErrorKind::Other, missing, false))?;
        let auth_token =
            required_secret("auth_token").map_err(|missing| SendError::new(SendErrorKind::Unauthorized, missing, false))?;
        let sender = match optional_config("messaging_service_sid") {
            Some(sid) => outbound::Sender::MessagingService(sid),
            None => outbound::Sender::From(required_config("from").map_err(|missing| {
                SendError::new(SendErrorKind::Other, format!("{missing} (nor `messaging_service_sid`)"), false)
            })?),
        };
        let url = outbound::messages_url(config::get("api_base").as_deref(), &account_sid);
        let form = outbound::build_form(&message, &sender, optional_config("status_callback").as_deref())?;

        let request = Request {
            method: "POST".into(),
            url,
            headers: vec![
                ("authorization".into(), basic_auth(&account_sid, &auth_token)),
                ("content-type".into(), "application/x-www-form-urlencoded".into()),
                ("accept".into(), "application/json".into()),
            ],
            body: form_encode(&form).into_bytes(),
            timeout_ms: None,
        };
        let result = switchboard_sdk::http::send(request)
            .and_then(|response| outbound::interpret_send_response(response.status, &response.headers, &response.body));
        switchboard_sdk::http::log_send_outcome(&message.message_id, &result);
        result
    }
}

impl Setup for TwilioSms {
    fn guide() -> ChannelGuide {
        setup::guide()
    }

    fn check_connection() -> Result<Connected, Problem> {
        let account_sid = required_config("account_sid").map_err(Problem::misconfigured)?;
        let auth_token = required_secret("auth_token").map_err(Problem::misconfigured)?;
        let authorization = basic_auth(&account_sid, &auth_token);
        let url = setup::check_url(config::get("api_base").as_deref(), &account_sid);
        let response = switchboard_sdk::setup::get(&url, &[("authorization", authorization.as_str()), ("accept", "application/json")])?;
        setup::interpret_check(response.status, &response.body)
    }
}

switchboard_sdk::export_channel!(TwilioSms);
