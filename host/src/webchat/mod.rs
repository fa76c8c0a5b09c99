//! Website chat: the host is the provider. A visitor's browser loads the widget
//! (`/widget/v1.js`), opens a session (`POST /api/v1/webchat/{channel}/sessions`), reads its
//! history over REST and then talks over one WebSocket per tab.
//!
//! This module is a transport, like `smtp/`: it owns the sockets, the sessions, identity
//! verification, uploads and the limits, and hands every visitor action to the one inbound
//! pipeline (`inbound::receive_chat`), where the channel's plugin turns it into events. Replies
//! travel the other way through the live feed: the socket forwards the live events about the
//! visitor's own messages, so a reconnect resumes from the last event seen and two tabs stay
//! in sync without any state of their own.
//!
//! - [`session`]: signed session tokens, and the site's signed identifiers;
//! - [`limits`]: token buckets per session and per client address;
//! - the REST endpoints (session, history, uploads, media) and CORS are HTTP's:
//!   `http/webchat.rs`;
//! - [`socket`]: the WebSocket: visitor frames in, live events out;
//! - [`assets`]: the widget script and the demo page.

pub mod assets;
pub mod limits;
pub mod session;
pub mod socket;

use crate::config::{ChannelConfig, WebchatConfig};
use crate::plugins::{ChannelPlugin, Channels};
use crate::store::views::MessageView;
use crate::store::{Store, StoreError};
use limits::RateLimiter;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// One web chat channel instance: its settings, plugin, signing key and limiters.
pub struct WebchatChannel {
    pub id: String,
    pub config: WebchatConfig,
    pub plugin: Arc<ChannelPlugin>,
    /// `widget_secret`, which the site signs identifiers with; `None` means no identities.
    widget_secret: Option<crate::config::Secret>,
    key: tokio::sync::OnceCell<Vec<u8>>,
    /// Messages per visitor session.
    pub per_session: RateLimiter<String>,
    /// Requests and frames per client address.
    pub per_ip: RateLimiter<IpAddr>,
}

impl WebchatChannel {
    /// The key this instance's session tokens are signed with.
    pub async fn signing_key(&self, store: &Store) -> Result<&[u8], StoreError> {
        let key = self.key.get_or_try_init(|| store.webchat_signing_key(&self.id)).await?;
        Ok(key.as_slice())
    }

    /// Check a site's signed identifier against this instance's `widget_secret`.
    pub fn verify_identifier(&self, identifier: &str, hash: Option<&str>) -> Result<session::VerifiedIdentity, session::IdentityError> {
        session::verify_identifier(self.widget_secret.as_ref().map(crate::config::Secret::expose), identifier, hash)
    }

    /// Whether sites can identify logged-in customers (`widget_secret` is set).
    pub fn verifies_identities(&self) -> bool {
        self.widget_secret.is_some()
    }

    /// The session `token` names, if it is this instance's, signed with its key and younger
    /// than `session_days`.
    pub async fn session(&self, store: &Store, token: &str) -> Result<Option<session::Session>, StoreError> {
        let key = self.signing_key(store).await?;
        let max_age_ms = i64::from(self.config.session_days) * 24 * 3600 * 1000;
        Ok(session::Session::verify(token, key, &self.id, crate::clock::now_ms(), max_age_ms))
    }

    /// Whether a page from `origin` may use this instance: it is on the allowlist, or it is
    /// the gateway's own origin (`host`, from the request), where the demo page lives.
    pub fn allows_origin(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/');
        self.config.allowed_origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin))
            || host.is_some_and(|host| origin.split_once("://").is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)))
    }

    /// `content_type` without parameters, lowercased (`image/png`), when visitors may upload
    /// files of that type; `Err` with that form otherwise, for the refusal.
    pub fn upload_type(&self, content_type: &str) -> Result<String, String> {
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let family = essence.split('/').next().unwrap_or_default();
        let allowed = self.config.upload_types.iter().any(|allowed| {
            let allowed = allowed.to_ascii_lowercase();
            allowed == essence || allowed.strip_suffix("/*").is_some_and(|prefix| prefix == family)
        });
        if allowed { Ok(essence) } else { Err(essence) }
    }
}

/// Every channel with a `[channels.webchat]` table.
#[derive(Default)]
pub struct Webchat {
    channels: BTreeMap<String, Arc<WebchatChannel>>,
    /// The first in `config.toml`'s order: the demo page's.
    first: Option<Arc<WebchatChannel>>,
}

impl Webchat {
    pub fn new(configs: &[ChannelConfig], channels: &Channels) -> Self {
        let in_order: Vec<(String, Arc<WebchatChannel>)> = configs
            .iter()
            .filter_map(|config| {
                let settings = config.webchat.clone()?;
                let plugin = channels.get(&config.id)?.clone();
                let widget_secret = plugin.context.secrets.get("widget_secret").filter(|secret| !secret.expose().is_empty()).cloned();
                let channel = WebchatChannel {
                    id: config.id.clone(),
                    per_session: RateLimiter::per_minute(settings.messages_per_minute),
                    per_ip: RateLimiter::per_minute(settings.requests_per_minute_per_ip),
                    config: settings,
                    plugin,
                    widget_secret,
                    key: tokio::sync::OnceCell::new(),
                };
                Some((config.id.clone(), Arc::new(channel)))
            })
            .collect();
        let first = in_order.first().map(|(_, channel)| channel.clone());
        Self { channels: in_order.into_iter().collect(), first }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<WebchatChannel>> {
        self.channels.get(id)
    }

    /// Each web chat channel's id and the content types its visitors may upload.
    pub fn upload_types(&self) -> Vec<(String, Vec<String>)> {
        self.channels.iter().map(|(id, channel)| (id.clone(), channel.config.upload_types.clone())).collect()
    }

    /// The first instance, which the demo page shows.
    pub fn first(&self) -> Option<&Arc<WebchatChannel>> {
        self.first.as_ref()
    }
}

/// A file name a visitor gave, as it is kept: no control characters, at most 255 characters,
/// none when blank.
pub fn clean_filename(name: Option<String>) -> Option<String> {
    name.map(|name| name.chars().filter(|c| !c.is_control()).take(255).collect::<String>()).filter(|name| !name.trim().is_empty())
}

/// What a visitor over a rate limit is told, in the widget's words.
pub fn too_fast(wait: std::time::Duration) -> String {
    format!("You're sending too fast. Try again in {} s.", wait.as_secs().max(1))
}

/// An attachment as the widget shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VisitorAttachment {
    pub kind: crate::model::MediaKind,
    /// Where to fetch it: `/api/v1/webchat/{channel}/media/{sha256}` (add `?token=`) for a file
    /// the visitor uploaded, the agent's URL for a reply's media; none when it was not kept.
    pub url: Option<String>,
    pub filename: Option<String>,
    pub mime_type: Option<String>,
}

/// A message as the visitor sees it: theirs (`in`) or a reply (`out`), without what only agents
/// see (notes, internal ids of other channels, error details).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VisitorMessage {
    pub id: i64,
    /// The widget's id of a visitor's message.
    pub client_id: Option<String>,
    /// `in` for the visitor's, `out` for replies.
    pub direction: &'static str,
    pub text: Option<String>,
    pub attachments: Vec<VisitorAttachment>,
    /// The agent who wrote a reply.
    pub author: Option<String>,
    /// A reply's delivery status (`sent`, `delivered`, `read`); `sent` for the visitor's own,
    /// once stored.
    pub status: String,
    pub created_at: i64,
}

impl VisitorMessage {
    /// What the visitor may see of `message`, which must be theirs on `channel_id`: `None` for
    /// anything else, and for replies that have not left the outbox (or never will).
    pub fn of(message: &MessageView, channel_id: &str, visitor_id: &str) -> Option<Self> {
        let theirs = message.channel_id == channel_id && message.contact_identity.as_ref().is_some_and(|identity| identity.external_id == visitor_id);
        if !theirs {
            return None;
        }
        let inbound = message.direction == "inbound";
        if !inbound && !matches!(message.status.as_str(), "sent" | "delivered" | "read") {
            return None;
        }
        let client_id = inbound
            .then(|| message.external_id.as_deref()?.strip_prefix(visitor_id)?.strip_prefix('/').map(str::to_string))
            .flatten();
        let attachments = message
            .attachments
            .iter()
            .map(|attachment| VisitorAttachment {
                kind: attachment.kind,
                url: match attachment.reference.strip_prefix(crate::media::MEDIA_PREFIX) {
                    Some(sha256) => Some(format!("/api/v1/webchat/{channel_id}/media/{sha256}")),
                    None => attachment.url.clone(),
                },
                filename: attachment.filename.clone(),
                mime_type: attachment.mime_type.clone(),
            })
            .collect();
        Some(Self {
            id: message.id,
            client_id,
            direction: if inbound { "in" } else { "out" },
            text: message.text.clone(),
            attachments,
            author: if inbound { None } else { message.author.clone() },
            status: if inbound { "sent".into() } else { message.status.clone() },
            created_at: message.created_at,
        })
    }
}
