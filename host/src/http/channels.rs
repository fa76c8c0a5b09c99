//! `/api/v1/channels`: the configured channel instances. Agents list them (the inbox needs
//! their names and capabilities); only admins open a channel's page, with its setup steps,
//! where each setting comes from (never a secret's value) and a connection test through the
//! plugin.

use super::error::{ApiError, ErrorBody, Forbidden, Unauthorized, Unavailable};
use super::AppState;
use crate::auth::Principal;
use crate::config::SecretKind;
use crate::model::{ChannelGuide, ConnectionCheck, ConnectionProblem, PluginInfo};
use crate::plugins::activity::Activity;
use crate::plugins::ChannelPlugin;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    pub id: String,
    pub plugin: PluginInfo,
    /// Where to point the provider's webhook.
    pub webhook_url: String,
}

fn webhook_url(state: &AppState, id: &str) -> String {
    format!("{}/webhooks/{id}", state.server.public_url.trim_end_matches('/'))
}

#[utoipa::path(get, path = "/channels", tag = "channels",
    responses((status = 200, body = Vec<ChannelView>), Unauthorized), security(("bearer" = [])))]
pub async fn list_channels(_caller: Principal, State(state): State<AppState>) -> Json<Vec<ChannelView>> {
    let mut channels: Vec<ChannelView> = state
        .channels
        .iter()
        .map(|(id, channel)| ChannelView { id: id.clone(), plugin: channel.info(), webhook_url: webhook_url(&state, id) })
        .collect();
    channels.sort_by(|a, b| a.id.cmp(&b.id));
    Json(channels)
}

/// One setting of a channel: what the plugin says it is, and whether and where it is set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettingState {
    pub key: String,
    /// The plugin's description; none for a key the plugin's guide does not name.
    pub description: Option<String>,
    pub required: bool,
    /// A `[secrets]` entry.
    pub secret: bool,
    /// Whether it has a value.
    pub set: bool,
    /// Where the value comes from, when it is set (`config` for a value in `config.toml`).
    pub source: Option<SecretKind>,
    /// The environment variable or file a secret is read from.
    pub reference: Option<String>,
    /// A `[config]` entry's value. A secret's value is never shown.
    pub value: Option<String>,
}

/// A channel's page for admins.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelDetail {
    pub id: String,
    pub plugin: PluginInfo,
    pub webhook_url: String,
    /// The plugin's setup steps; none when the plugin predates them (`switchboard:channel@0.1.0`)
    /// or could not answer (`guide_error`).
    pub guide: Option<ChannelGuide>,
    /// Why the plugin could not give its guide.
    pub guide_error: Option<String>,
    /// Every setting the guide names, then any other configured key.
    pub settings: Vec<SettingState>,
    /// Whether the plugin can run a connection test.
    pub can_check_connection: bool,
    /// The last hour's webhooks and sends, as this node saw them.
    pub activity: Activity,
    /// For a mail channel (`[channels.mail]`): what the SMTP listener accepts and where replies go.
    pub mail: Option<MailSetup>,
    /// For a web chat channel (`[channels.webchat]`): the snippet to paste and who may embed it.
    pub webchat: Option<WebchatSetup>,
}

/// A web chat channel's host-side settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebchatSetup {
    /// The `<script>` tag a site pastes into its pages.
    pub snippet: String,
    /// Origins whose pages may embed it (besides the gateway's own).
    pub allowed_origins: Vec<String>,
    /// Whether `widget_secret` is set, so sites can identify logged-in customers.
    pub identity_verification: bool,
    /// What visitors are told while nobody is online.
    pub reply_time: Option<String>,
    /// The demo page (it shows the first web chat channel).
    pub demo_url: String,
    pub max_message_chars: usize,
    pub max_upload_bytes: usize,
    pub messages_per_minute: u32,
    pub requests_per_minute_per_ip: u32,
}

/// A mail channel's host-side settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MailSetup {
    /// Addresses the SMTP listener accepts for this channel (and their plus-addresses).
    pub addresses: Vec<String>,
    /// The relay replies are handed to, `host:port`; none when replies cannot be sent.
    pub relay: Option<String>,
}

/// The channel named in the path, or `404`.
fn channel(state: &AppState, id: Result<Path<String>, PathRejection>) -> Result<(String, &Arc<ChannelPlugin>), ApiError> {
    let Path(id) = id?;
    match state.channels.get(&id) {
        Some(channel) => Ok((id, channel)),
        None => Err(ApiError::not_found("not_found", format!("no channel `{id}`"))),
    }
}

fn settings(channel: &ChannelPlugin, guide: Option<&ChannelGuide>) -> Vec<SettingState> {
    let config = &channel.context.config;
    // One setting's state: a secret's from where it was resolved, a config value's from the
    // instance's `[config]` table.
    let setting = |key: &str, description: Option<&str>, required: bool, secret: bool| {
        let (set, source, reference, value) = if secret {
            match channel.secret_states.get(key) {
                Some(s) => (s.set, Some(s.source), s.reference.clone(), None),
                None => (false, None, None, None),
            }
        } else {
            match config.get(key) {
                Some(value) => (!value.is_empty(), Some(SecretKind::Config), None, Some(value.clone())),
                None => (false, None, None, None),
            }
        };
        SettingState { key: key.to_string(), description: description.map(str::to_string), required, secret, set, source, reference, value }
    };
    let named = guide.map(|g| g.settings.as_slice()).unwrap_or_default();
    let is_named = |key: &str, secret: bool| named.iter().any(|s| s.key == key && s.secret == secret);
    let mut settings: Vec<SettingState> =
        named.iter().map(|s| setting(&s.key, Some(&s.description), s.required, s.secret)).collect();
    settings.extend(config.keys().filter(|key| !is_named(key, false)).map(|key| setting(key, None, false, false)));
    settings.extend(channel.secret_states.keys().filter(|key| !is_named(key, true)).map(|key| setting(key, None, false, true)));
    settings
}

#[utoipa::path(get, path = "/channels/{id}", tag = "channels",
    params(("id" = String, Path, description = "The channel id from `config.toml`")),
    responses(
        (status = 200, body = ChannelDetail),
        (status = 404, description = "No such channel", body = ErrorBody),
        Unauthorized, Forbidden),
    security(("bearer" = [])))]
pub async fn get_channel(State(state): State<AppState>, id: Result<Path<String>, PathRejection>) -> Result<Json<ChannelDetail>, ApiError> {
    let (id, channel) = channel(&state, id)?;
    let plugin = channel.info();
    let (guide, guide_error) = match channel.guide().await {
        Ok(guide) => (guide, None),
        Err(error) => {
            tracing::warn!(channel = id, %error, "the plugin could not give its setup guide");
            (None, Some(error.to_string()))
        }
    };
    Ok(Json(ChannelDetail {
        settings: settings(channel, guide.as_ref()),
        can_check_connection: plugin.contract != "0.1.0",
        activity: channel.activity.snapshot(crate::clock::now_ms()),
        mail: channel.sends_mail().then(|| MailSetup {
            addresses: channel.mail_addresses.clone(),
            relay: channel.context.relay.as_ref().map(|relay| relay.target().to_string()),
        }),
        webchat: state.webchat.get(&id).map(|chat| {
            let base = state.server.public_url.trim_end_matches('/');
            WebchatSetup {
                snippet: format!("<script src=\"{base}/widget/v1.js\" data-channel=\"{id}\" async></script>"),
                allowed_origins: chat.config.allowed_origins.clone(),
                identity_verification: chat.verifies_identities(),
                reply_time: chat.config.reply_time.clone(),
                demo_url: format!("{base}/demo/webchat"),
                max_message_chars: chat.config.max_message_chars,
                max_upload_bytes: chat.config.max_upload_bytes,
                messages_per_minute: chat.config.messages_per_minute,
                requests_per_minute_per_ip: chat.config.requests_per_minute_per_ip,
            }
        }),
        webhook_url: webhook_url(&state, &id),
        id,
        plugin,
        guide,
        guide_error,
    }))
}

/// A connection test's outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionTest {
    /// Whether the provider accepted the credentials.
    pub connected: bool,
    /// The provider-side account the credentials reach, when connected.
    pub account: Option<String>,
    pub detail: Option<String>,
    /// Why it failed, when it failed.
    pub problem: Option<ConnectionProblem>,
    /// The failure, in words safe to show (no secrets).
    pub message: Option<String>,
    /// The provider's own error code.
    pub code: Option<String>,
    /// When the test ran (ms since the epoch), and how long it took.
    pub checked_at: i64,
    pub duration_ms: u64,
}

#[utoipa::path(post, path = "/channels/{id}/check", tag = "channels",
    params(("id" = String, Path, description = "The channel id from `config.toml`")),
    responses(
        (status = 200, description = "The test ran: `connected` says whether the provider accepted the credentials", body = ConnectionTest),
        (status = 404, description = "No such channel", body = ErrorBody),
        (status = 409, description = "The plugin predates connection tests (`switchboard:channel@0.1.0`); code `not_supported`", body = ErrorBody),
        Unauthorized, Forbidden, Unavailable),
    security(("bearer" = [])))]
pub async fn check_connection(
    State(state): State<AppState>,
    caller: Principal,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ConnectionTest>, ApiError> {
    let (id, channel) = channel(&state, id)?;
    let started = Instant::now();
    let checked_at = state.clock.now_ms();
    let check = channel.check_connection().await.map_err(|error| ApiError::unavailable("plugin_failed", error.to_string()))?;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let Some(check) = check else {
        let info = channel.info();
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "not_supported",
            format!("plugin {} {} was built against switchboard:channel@{}, which has no connection test; rebuild it with a current SDK", info.name, info.version, info.contract),
        ));
    };
    let test = match check {
        ConnectionCheck::Connected { account, detail } => {
            ConnectionTest { connected: true, account: Some(account), detail, problem: None, message: None, code: None, checked_at, duration_ms }
        }
        ConnectionCheck::Failed { problem, message, code } => {
            ConnectionTest { connected: false, account: None, detail: None, problem: Some(problem), message: Some(message), code, checked_at, duration_ms }
        }
    };
    tracing::info!(channel = id, by = caller.name(), connected = test.connected, problem = ?test.problem, "connection test");
    Ok(Json(test))
}
