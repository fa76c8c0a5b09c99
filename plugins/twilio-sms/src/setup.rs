//! The channel page's setup guide and the connection check: `GET
//! /2010-04-01/Accounts/{account_sid}.json` with basic auth, which reads the account's name
//! and status without sending anything.
//!
//! Pure, like [`crate::outbound`]: no host imports, tested natively.
//!
//! API reference: <https://www.twilio.com/docs/iam/api/account#fetch-an-account-resource>

use crate::outbound::{DEFAULT_API_BASE, twilio_error};
use serde::Deserialize;
use switchboard_sdk::prelude::*;

/// Twilio's code for a failed authentication.
const AUTHENTICATE_CODE: i64 = 20003;
/// Twilio's code for a resource that does not exist (a wrong account SID).
const NOT_FOUND_CODE: i64 = 20404;

pub fn guide() -> ChannelGuide {
    ChannelGuide {
        steps: vec![
            "In the Twilio console, copy the **Account SID** (`AC…`) into `account_sid` and the **Auth Token** into the `auth_token` secret.".into(),
            "Buy or pick an SMS-capable number and put it in `from` (E.164), or use a Messaging Service and set `messaging_service_sid` (`MG…`).".into(),
            "Under the number's (or the Messaging Service's) *Messaging configuration*, set *A message comes in* to **Webhook**, **HTTP POST**, with the webhook URL.".into(),
            "Optionally set `status_callback` to the same URL to receive delivery statuses.".into(),
            "Run the connection test: it reads the account with the credentials and sends nothing.".into(),
        ],
        settings: vec![
            Setting::config("account_sid", "The Account SID, AC…", true),
            Setting::config("from", "The sending number in E.164, unless a Messaging Service sends", false),
            Setting::config("messaging_service_sid", "Send through this Messaging Service (MG…) instead of `from`", false),
            Setting::config("status_callback", "The URL Twilio reports delivery statuses to (the webhook URL)", false),
            Setting::config("api_base", "REST API base URL (default https://api.twilio.com)", false),
            Setting::secret("auth_token", "The account's auth token: it signs webhooks and authenticates sends", true),
        ],
        docs_url: Some("https://www.twilio.com/docs/usage/webhooks/messaging-webhooks".into()),
    }
}

/// `{api_base}/2010-04-01/Accounts/{account_sid}.json`.
pub fn check_url(api_base: Option<&str>, account_sid: &str) -> String {
    let base = switchboard_sdk::http::api_base(api_base, DEFAULT_API_BASE);
    format!("{base}/2010-04-01/Accounts/{}.json", account_sid.trim())
}

#[derive(Deserialize)]
struct Account {
    #[serde(default)]
    friendly_name: Option<String>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// Twilio's answer to [`check_url`]. A suspended or closed account fails: it cannot send.
pub fn interpret_check(status: u16, body: &[u8]) -> Result<Connected, Problem> {
    if !(200..300).contains(&status) {
        let error = twilio_error(body);
        let code = error.as_ref().and_then(|e| e.code);
        let message = error
            .and_then(|e| e.message)
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| format!("Twilio answered HTTP {status}"));
        let problem = match code {
            Some(AUTHENTICATE_CODE) => Problem::new(ProblemKind::Unauthorized, message),
            Some(NOT_FOUND_CODE) => Problem::misconfigured(format!("{message} (check `account_sid`)")),
            _ => Problem::from_status(status, message),
        };
        return Err(match code {
            Some(code) => problem.with_code(code.to_string()),
            None => problem,
        });
    }
    let account: Account = serde_json::from_slice(body)
        .map_err(|_| Problem::new(ProblemKind::Other, "Twilio's answer is not an account"))?;
    let name = account.friendly_name.or(account.sid).ok_or_else(|| Problem::new(ProblemKind::Other, "Twilio's answer names no account"))?;
    match account.status.as_deref() {
        Some("active") | None => Ok(Connected { account: name, detail: account.status.map(|s| format!("account {s}")) }),
        Some(other) => Err(Problem::new(ProblemKind::Unauthorized, format!("the account {name} is {other} and cannot send"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_reads_an_active_account() {
        let body = br#"{"sid":"AC123","friendly_name":"Acme Support","status":"active"}"#;
        let connected = interpret_check(200, body).unwrap();
        assert_eq!((connected.account.as_str(), connected.detail.as_deref()), ("Acme Support", Some("account active")));
        assert_eq!(check_url(None, "AC123"), "https://api.twilio.com/2010-04-01/Accounts/AC123.json");
        let suspended = br#"{"sid":"AC123","friendly_name":"Acme","status":"suspended"}"#;
        assert_eq!(interpret_check(200, suspended).unwrap_err().kind, ProblemKind::Unauthorized);
    }

    #[test]
    fn wrong_credentials_and_a_wrong_sid_are_told_apart() {
        let auth = br#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#;
        let problem = interpret_check(401, auth).unwrap_err();
        assert_eq!((problem.kind, problem.code.as_deref()), (ProblemKind::Unauthorized, Some("20003")));
        let missing = br#"{"code":20404,"message":"The requested resource was not found","status":404}"#;
        assert_eq!(interpret_check(404, missing).unwrap_err().kind, ProblemKind::Misconfigured);
    }
}
