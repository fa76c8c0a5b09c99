//! The channel page's setup guide and the connection check: `getMe`, which names the bot
//! behind the token without sending anything.
//!
//! Pure, like [`crate::outbound`]: no host imports, tested natively.
//!
//! API reference: <https://core.telegram.org/bots/api#getme>

use serde::Deserialize;
use switchboard_sdk::prelude::*;

pub fn guide() -> ChannelGuide {
    ChannelGuide {
        steps: vec![
            "Talk to **@BotFather** in Telegram, create a bot with `/newbot` and set its token as the `bot_token` secret.".into(),
            "Choose a random **secret token** (1–256 characters: letters, digits, `_` and `-`) and set it as the `secret_token` secret.".into(),
            "Register the webhook: `https://api.telegram.org/bot<bot_token>/setWebhook?url=<the webhook URL>&secret_token=<secret_token>`.".into(),
            "Run the connection test: it asks Telegram which bot the token belongs to (`getMe`) and sends nothing.".into(),
        ],
        settings: vec![
            Setting::config("api_base", "Bot API base URL (default https://api.telegram.org)", false),
            Setting::secret("bot_token", "The bot's token from @BotFather", true),
            Setting::secret("secret_token", "The secret_token given to setWebhook; every webhook must carry it", true),
        ],
        docs_url: Some("https://core.telegram.org/bots/api#setwebhook".into()),
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Option<Bot>,
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct Bot {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

/// The Bot API's answer to `getMe`.
pub fn interpret_check(status: u16, body: &[u8]) -> Result<Connected, Problem> {
    let envelope = serde_json::from_slice::<Envelope>(body).ok();
    match envelope {
        Some(Envelope { ok: true, result: Some(bot), .. }) if (200..300).contains(&status) => {
            let account = match (bot.first_name, bot.username) {
                (Some(name), Some(username)) => format!("{name} (@{username})"),
                (None, Some(username)) => format!("@{username}"),
                (Some(name), None) => name,
                (None, None) => return Err(Problem::new(ProblemKind::Other, "Telegram's answer names no bot")),
            };
            Ok(Connected { account, detail: None })
        }
        envelope => {
            let code = envelope.as_ref().and_then(|e| e.error_code);
            let effective = code.and_then(|code| u16::try_from(code).ok()).unwrap_or(status);
            let description = envelope
                .and_then(|e| e.description)
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| format!("Telegram answered HTTP {status}"));
            // A malformed token answers 404 "Not Found": it is still the token that is wrong.
            let problem = match effective {
                401 | 404 => Problem::new(ProblemKind::Unauthorized, format!("{description}: the bot token is wrong or revoked")),
                _ => Problem::from_status(effective, description),
            };
            Err(match code {
                Some(code) => problem.with_code(code.to_string()),
                None => problem,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_me_names_the_bot() {
        let body = br#"{"ok":true,"result":{"id":7,"is_bot":true,"first_name":"Acme Help","username":"acme_help_bot"}}"#;
        assert_eq!(interpret_check(200, body).unwrap().account, "Acme Help (@acme_help_bot)");
    }

    #[test]
    fn a_wrong_token_is_unauthorized() {
        let body = br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#;
        let problem = interpret_check(401, body).unwrap_err();
        assert_eq!((problem.kind, problem.code.as_deref()), (ProblemKind::Unauthorized, Some("401")));
        let body = br#"{"ok":false,"error_code":404,"description":"Not Found"}"#;
        assert_eq!(interpret_check(404, body).unwrap_err().kind, ProblemKind::Unauthorized);
        assert_eq!(interpret_check(502, b"<html>").unwrap_err().kind, ProblemKind::Unreachable);
    }
}
