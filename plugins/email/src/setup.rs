//! The channel page's setup guide. An email channel has two sides the plugin does not own (the
//! host's SMTP listener and relay, configured in `config.toml`), so the steps say where each
//! piece is set. There is no connection check: the relay is the host's, and the plugin cannot
//! reach it without sending a mail.

use crate::compose::FALLBACK_SUBJECT;
use switchboard_sdk::prelude::*;

pub fn guide() -> ChannelGuide {
    ChannelGuide {
        steps: vec![
            "Mail in over SMTP: turn on the host's SMTP listener (`[smtp] listen` in `config.toml`) and list the addresses this channel serves in its `[channels.mail] addresses`; the listener refuses mail for any other address (plus-addresses such as `support+…@` included).".into(),
            "Point the domain's MX record at the listener, or add a forwarding rule at your mail provider that forwards each address to it.".into(),
            "Mail out: set `[channels.mail] relay` to the SMTP relay replies leave through (`smtp://host:587` or `smtps://host:465`), with the `relay_username` and `relay_password` secrets when it needs a login. The relay must be allowed to send as the domain of `from` (SPF, DKIM), or replies land in spam.".into(),
            "Set `from` to the sender of replies, e.g. `Acme Support <support@example.com>`, and `addresses` to the same addresses as `[channels.mail] addresses`, comma-separated, so replies carry a reply token (`support+<token>@…`) that threads answers from clients that drop `In-Reply-To`.".into(),
            "Optional, instead of SMTP in: a Mailgun inbound route. Create a route whose action is `forward(\"<the webhook URL>?format=mime\")`: the URL must end in `mime`, or Mailgun posts a parsed form without the message. Put the domain's **HTTP webhook signing key** in the `mailgun_signing_key` secret. Mail that arrives this way threads by contact only, and its attachments are listed but not kept.".into(),
            "Send a test mail to one of the addresses and answer it from the inbox: the reply should arrive in the same thread of your mail client.".into(),
        ],
        settings: vec![
            Setting::config("from", "The sender of replies, `Name <address>` or an address; its domain names the replies' Message-IDs", true),
            Setting::config("addresses", "The addresses this channel serves, comma-separated (as in `[channels.mail] addresses`), for reply tokens", false),
            Setting::config(
                "default_subject",
                &format!("The subject of a reply in a conversation that has none (default `{FALLBACK_SUBJECT}`)"),
                false,
            ),
            Setting::config(
                "trusted_authserv_id",
                "The mail server in front of Switchboard that checks DMARC (its name in `Authentication-Results`, e.g. `mx.google.com`); a pass there links a sender to a known contact by address",
                false,
            ),
            Setting::secret("mailgun_signing_key", "Mailgun's HTTP webhook signing key; without it Mailgun posts are refused", false),
        ],
        docs_url: Some("https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guide_lists_every_setting_the_plugin_reads() {
        let guide = guide();
        let keys: Vec<(&str, bool, bool)> = guide.settings.iter().map(|s| (s.key.as_str(), s.required, s.secret)).collect();
        assert_eq!(
            keys,
            vec![("from", true, false), ("addresses", false, false), ("default_subject", false, false), ("trusted_authserv_id", false, false), ("mailgun_signing_key", false, true)]
        );
        assert!(guide.steps.iter().any(|step| step.contains("?format=mime")));
        assert!(guide.steps.iter().any(|step| step.contains("[channels.mail]")));
    }
}
