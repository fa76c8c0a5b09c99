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
use crate::bindings::exports::switchboard::channel::setup::{ChannelGuide, Connected, Problem, ProblemKind, Setting};
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

/// The channel page's steps and settings for `platform`.
pub fn guide(platform: &Platform) -> ChannelGuide {
    let (product, account) = if platform.object == "page" {
        ("Messenger", "the **Page id** into `page_id`")
    } else {
        ("Instagram", "the **Instagram professional account id** into `ig_account_id` (with Facebook Login, also set `webhook_account_id`)")
    };
    ChannelGuide {
        steps: vec![
            format!("In Meta's developer console, create an app of type *Business* and add the *{product}* product."),
            format!("Connect the account and copy {account}."),
            "Generate a **Page access token** (or Instagram user token) with messaging permission and set the `page_access_token` secret.".into(),
            "Under *App settings → Basic*, copy the **app secret** into the `app_secret` secret.".into(),
            format!("Under *{product} → Webhooks*, enter the webhook URL and a **verify token** of your choosing (the `verify_token` secret), and subscribe to `messages`, `messaging_postbacks` and `message_reads`."),
            "Run the connection test: it reads the account's name with the token and sends nothing.".into(),
        ],
        settings: vec![
            Setting::config(platform.account_key, "The id in the Send API path, /{id}/messages", true),
            Setting::config("webhook_account_id", "The id webhook entries carry, when it differs from the send id", false),
            Setting::config("api_base", "Graph API base URL (default https://graph.facebook.com/v21.0)", false),
            Setting::config("messaging_tag", "Send every reply with this message tag, e.g. HUMAN_AGENT", false),
            Setting::secret("page_access_token", "The access token used to send", true),
            Setting::secret("app_secret", "The Meta app secret, which signs every webhook", true),
            Setting::secret("verify_token", "The token Meta sends back in the webhook subscription handshake", true),
        ],
        docs_url: Some(if platform.object == "page" {
            "https://developers.facebook.com/docs/messenger-platform/get-started".into()
        } else {
            "https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api".into()
        }),
    }
}

/// `{api_base}/{account id}?fields=…`: reads the account's name.
pub fn check_url(platform: &Platform, api_base: Option<&str>, account_id: &str) -> String {
    let base = crate::http::api_base(api_base, outbound::DEFAULT_API_BASE);
    let fields = if platform.object == "page" { "name" } else { "name,username" };
    format!("{base}/{}?fields={fields}", account_id.trim())
}

/// The Graph API's answer to [`check_url`].
pub fn interpret_check(platform: &Platform, status: u16, body: &[u8]) -> Result<Connected, Problem> {
    #[derive(serde::Deserialize)]
    struct Account {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        username: Option<String>,
    }
    if !(200..300).contains(&status) {
        return Err(crate::meta::graph_check_problem(status, body, platform.account_key));
    }
    let account: Account = serde_json::from_slice(body)
        .map_err(|_| Problem::new(ProblemKind::Other, "the Graph API's answer is not an account object"))?;
    let account = match (account.name, account.username) {
        (Some(name), Some(username)) => format!("{name} (@{username})"),
        (Some(name), None) => name,
        (None, Some(username)) => format!("@{username}"),
        (None, None) => return Err(Problem::new(ProblemKind::Other, "the Graph API's answer names no account")),
    };
    Ok(Connected { account, detail: None })
}

/// `check-connection`: [`check_url`] with the page access token as a bearer token.
pub fn check_connection(platform: &Platform) -> Result<Connected, Problem> {
    let account_id = crate::required_config(platform.account_key).map_err(Problem::misconfigured)?;
    let access_token = crate::required_secret("page_access_token").map_err(Problem::misconfigured)?;
    let authorization = format!("Bearer {access_token}");
    let url = check_url(platform, config::get("api_base").as_deref(), &account_id);
    let response = crate::setup::get(&url, &[("authorization", authorization.as_str())])?;
    interpret_check(platform, response.status, &response.body)
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

    #[test]
    fn connection_checks_read_the_account_name() {
        assert_eq!(check_url(&MESSENGER, None, "42"), "https://graph.facebook.com/v21.0/42?fields=name");
        let page = interpret_check(&MESSENGER, 200, br#"{"name":"Acme Shoes","id":"42"}"#).unwrap();
        assert_eq!(page.account, "Acme Shoes");
        let ig = interpret_check(&INSTAGRAM, 200, br#"{"name":"Acme","username":"acme.shoes","id":"17"}"#).unwrap();
        assert_eq!(ig.account, "Acme (@acme.shoes)");
        let token = br#"{"error":{"message":"Error validating access token","code":190}}"#;
        assert_eq!(interpret_check(&MESSENGER, 400, token).unwrap_err().kind, ProblemKind::Unauthorized);
        let guide = guide(&INSTAGRAM);
        assert!(guide.settings.iter().any(|s| s.key == "ig_account_id" && s.required && !s.secret));
        assert!(guide.settings.iter().any(|s| s.key == "page_access_token" && s.secret));
    }
}
