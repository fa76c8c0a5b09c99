//! Facebook Messenger and Instagram messaging, shared: both deliver `entry[].messaging[]`
//! webhooks and answer through the same Send API, so both plugins are this module plus a
//! [`Platform`] description and their metadata.
//!
//! - [`inbound`]: webhook bodies → events (pure, tested natively);
//! - [`outbound`]: Send API bodies, receipts and error classification (pure, tested natively);
//! - [`verify`], [`parse`] and [`send`]: the plugin entry points, which read the instance's
//!   configuration, log and call the host. A plugin's `Plugin` impl forwards to them:
//!
//! ```ignore
//! use switchboard_sdk::meta_messaging::{self, MESSENGER};
//!
//! impl Plugin for Messenger {
//!     fn metadata() -> PluginInfo { meta_messaging::metadata(&MESSENGER, env!("CARGO_PKG_VERSION"), "…") }
//!     fn verify(request: IncomingRequest) -> Verdict { meta_messaging::verify(&request) }
//!     fn parse(request: IncomingRequest) -> Result<Parsed, Rejection> { meta_messaging::parse(&MESSENGER, &request) }
//!     fn send(message: OutboundMessage) -> Result<SendReceipt, SendError> { meta_messaging::send(&MESSENGER, &message) }
//! }
//! ```
//!
//! Instance settings (both platforms):
//!
//! | key                 | where      | required          | meaning                                        |
//! |---------------------|------------|-------------------|------------------------------------------------|
//! | `page_id` / `ig_account_id` | `[config]` | for send  | the id in the send path `/{id}/messages`       |
//! | `webhook_account_id` | `[config]` | no               | the id webhook entries carry (`entry[].id`); entries for other ids are skipped. Defaults to `page_id` (Messenger), or `ig_account_id` with Instagram Login |
//! | `api_base`          | `[config]` | no                | default `https://graph.facebook.com/v21.0`     |
//! | `messaging_tag`     | `[config]` | no                | e.g. `HUMAN_AGENT`: send every reply with this tag |
//! | `verify_token`      | `[secrets]` or `[config]` | for the handshake | the webhook verify token      |
//! | `app_secret`        | `[secrets]`| for webhooks      | the Meta app secret (signature)                |
//! | `page_access_token` | `[secrets]`| for send          | the Page (or Instagram user) access token      |

pub mod inbound;
pub mod outbound;

use crate::bindings::switchboard::channel::types::{
    Capabilities, IncomingRequest, OutboundContent, OutboundMessage, Parsed, PluginInfo, Rejection, SendError,
    SendErrorKind, SendReceipt, Verdict,
};
use crate::bindings::switchboard::channel::{clock, config, logging};

/// What differs between Messenger and Instagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// The plugin's metadata name, e.g. `messenger`.
    pub plugin_name: &'static str,
    /// The product's name, for messages: `Messenger`.
    pub name: &'static str,
    /// The webhook `object` this platform sends: `page` or `instagram`.
    pub object: &'static str,
    /// The config key of the id in the send path: `page_id` or `ig_account_id`.
    pub account_key: &'static str,
    /// Send `"messaging_type": "RESPONSE"` on untagged messages (Messenger requires it).
    pub messaging_type: bool,
    /// Send `"is_reusable": true` on attachments (a Messenger option; not on Instagram).
    pub reusable_attachments: bool,
}

/// Facebook Messenger: `object: "page"`, page-scoped ids (PSIDs), `POST /{page_id}/messages`.
pub const MESSENGER: Platform = Platform {
    plugin_name: "messenger",
    name: "Messenger",
    object: "page",
    account_key: "page_id",
    messaging_type: true,
    reusable_attachments: true,
};

/// Instagram messaging: `object: "instagram"`, Instagram-scoped ids (IGSIDs),
/// `POST /{ig_account_id}/messages`.
pub const INSTAGRAM: Platform = Platform {
    plugin_name: "instagram",
    name: "Instagram",
    object: "instagram",
    account_key: "ig_account_id",
    messaging_type: false,
    reusable_attachments: false,
};

/// What both platforms can do: send text and media by URL, and report reads. (No templates;
/// replies to a given message and typing indicators are not sent.)
pub const CAPABILITIES: Capabilities = Capabilities::TEXT.union(Capabilities::MEDIA).union(Capabilities::READ_RECEIPTS);

/// The plugin's metadata.
pub fn metadata(platform: &Platform, version: &str, description: &str) -> PluginInfo {
    PluginInfo {
        name: platform.plugin_name.into(),
        version: version.into(),
        description: description.into(),
        capabilities: CAPABILITIES,
    }
}

/// `verify`: Meta's handshake and `X-Hub-Signature-256` (see [`crate::meta::verify_configured`]).
pub fn verify(request: &IncomingRequest) -> Verdict {
    crate::log::logged_verdict(request, crate::meta::verify_configured(request))
}

/// `parse`: the body mapped by [`inbound::parse_body`], at the host's current time, bound to
/// the instance's own Page or account id when it is configured.
pub fn parse(platform: &Platform, request: &IncomingRequest) -> Result<Parsed, Rejection> {
    let own_account = own_account(platform);
    let mapped = inbound::parse_body(platform, &request.body, own_account.as_deref(), clock::now_ms())
        .inspect_err(crate::log::body_rejected)?;
    Ok(crate::log::parsed(mapped.events, &mapped.skipped, None))
}

/// The id this instance's webhook entries carry (`entry[].id`), when it is known:
/// `webhook_account_id` if set; else, for Messenger, the `page_id`; for Instagram, the
/// `ig_account_id` only with Instagram Login (`api_base` on graph.instagram.com), where the
/// send-path id is the account's own. With Facebook Login the send path takes the linked
/// Page's id while entries carry the Instagram account's, so binding needs
/// `webhook_account_id` (binding on the Page id would skip every entry).
fn own_account(platform: &Platform) -> Option<String> {
    let configured = |key: &str| config::get(key).map(|id| id.trim().to_owned()).filter(|id| !id.is_empty());
    configured("webhook_account_id").or_else(|| {
        let instagram_login = configured("api_base").is_some_and(|base| base.contains("graph.instagram.com"));
        (platform.object == "page" || instagram_login).then(|| configured(platform.account_key)).flatten()
    })
}

/// `send`: `POST {api_base}/{account id}/messages` with the page access token as a bearer
/// token, the body from [`outbound::build_send_body`] and the answer read by
/// [`outbound::interpret_send_response`].
pub fn send(platform: &Platform, message: &OutboundMessage) -> Result<SendReceipt, SendError> {
    let account_id = crate::required_config(platform.account_key)
        .map_err(|missing| SendError::new(SendErrorKind::Other, missing, false))?;
    let access_token = crate::required_secret("page_access_token")
        .map_err(|missing| SendError::new(SendErrorKind::Unauthorized, missing, false))?;
    let url = outbound::messages_url(config::get("api_base").as_deref(), &account_id);
    let body = outbound::build_send_body(platform, message, config::get("messaging_tag").as_deref())?;
    if let OutboundContent::Media(media) = &message.content
        && media.caption.as_deref().is_some_and(|caption| !caption.trim().is_empty())
    {
        logging::log(
            logging::Level::Warn,
            &format!("message {}: {} attachments carry no caption; the caption is not sent", message.message_id, platform.name),
        );
    }
    if message.reply_to.is_some() {
        crate::log::debug(format!("message {}: sent as a plain message, not as a reply", message.message_id));
    }

    let authorization = format!("Bearer {access_token}");
    let result = crate::http::post_json(&url, &[("authorization", authorization.as_str())], &body)
        .and_then(|response| outbound::interpret_send_response(platform, response.status, &response.headers, &response.body));
    crate::http::log_send_outcome(&message.message_id, &result);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_differ_only_where_meta_does() {
        assert_eq!((MESSENGER.object, MESSENGER.account_key), ("page", "page_id"));
        assert_eq!((INSTAGRAM.object, INSTAGRAM.account_key), ("instagram", "ig_account_id"));
        let info = metadata(&INSTAGRAM, "1.2.3", "d");
        assert_eq!(info.name, "instagram");
        assert!(info.capabilities.contains(Capabilities::TEXT | Capabilities::MEDIA | Capabilities::READ_RECEIPTS));
        assert!(!info.capabilities.intersects(Capabilities::TEMPLATES | Capabilities::REPLIES | Capabilities::TYPING_INDICATOR));
    }
}
