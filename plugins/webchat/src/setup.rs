//! The channel page: how to put the widget on a website.

use switchboard_sdk::prelude::*;

pub fn guide() -> ChannelGuide {
    ChannelGuide {
        steps: vec![
            "List the sites that may embed the widget in `[channels.webchat] allowed_origins` in `config.toml` \
             (for example `https://shop.example.com`). The gateway's own pages are always allowed."
                .into(),
            "Paste the widget's script tag before `</body>` on every page of the site: \
             `<script src=\"<public URL>/widget/v1.js\" data-channel=\"<this channel's id>\" async></script>`. \
             `data-color`, `data-position`, `data-greeting`, `data-title` and `data-lang` theme it."
                .into(),
            "To recognise logged-in customers, set the `widget_secret` secret and, on your server, add \
             `data-identifier` (their email or phone) and `data-identifier-hash` (HMAC-SHA256 of it under \
             the secret, in hex) to the tag. Never put the secret in the page."
                .into(),
            "Open `/demo/webchat` on the gateway to try it.".into(),
        ],
        settings: vec![
            Setting::secret(
                "widget_secret",
                "Signs logged-in customers' identifiers. Without it, every visitor is anonymous and an identified tag is refused.",
                false,
            ),
            Setting::config("max_message_chars", "Longest visitor message, in characters (default 5000).", false),
        ],
        docs_url: None,
    }
}

/// Nothing to connect to: the host itself is the provider.
pub fn connected() -> Connected {
    Connected { account: "this gateway's widget (/widget/v1.js)".into(), detail: None }
}
