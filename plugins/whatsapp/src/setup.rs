//! The channel page's setup guide and the connection check: `GET {api_base}/{phone_number_id}`
//! with the access token, which reads the number's display name without sending anything.
//!
//! Pure, like [`crate::outbound`]: no host imports, tested natively.
//!
//! API reference: <https://developers.facebook.com/docs/graph-api/reference/whatsapp-business-account-to-number-current-status/>

use serde::Deserialize;
use switchboard_sdk::meta::graph_check_problem;
use switchboard_sdk::prelude::*;

/// The fields the check asks for.
const FIELDS: &str = "display_phone_number,verified_name,quality_rating";

pub fn guide() -> ChannelGuide {
    ChannelGuide {
        steps: vec![
            "In Meta's developer console, create an app of type *Business* and add the *WhatsApp* product.".into(),
            "Under *WhatsApp → API Setup*, copy the **phone number id** (not the phone number) into `phone_number_id`.".into(),
            "Create a system user with the `whatsapp_business_messaging` permission, generate a permanent **access token** and set the `access_token` secret.".into(),
            "Under *App settings → Basic*, copy the **app secret** into the `app_secret` secret.".into(),
            "Under *WhatsApp → Configuration → Webhook*, enter the webhook URL and a **verify token** of your choosing (the `verify_token` secret), then subscribe to the `messages` field.".into(),
            "Run the connection test: it reads the number's name with the access token and sends nothing.".into(),
        ],
        settings: vec![
            Setting::config("phone_number_id", "The business phone number's id, from WhatsApp → API Setup", true),
            Setting::config("api_base", "Graph API base URL (default https://graph.facebook.com/v21.0)", false),
            Setting::secret("access_token", "A system user's permanent access token, for sending", true),
            Setting::secret("app_secret", "The Meta app secret, which signs every webhook", true),
            Setting::secret("verify_token", "The token Meta sends back in the webhook subscription handshake", true),
        ],
        docs_url: Some("https://developers.facebook.com/docs/whatsapp/cloud-api/get-started".into()),
    }
}

/// `{api_base}/{phone_number_id}?fields=…`.
pub fn check_url(api_base: Option<&str>, phone_number_id: &str) -> String {
    let base = switchboard_sdk::http::api_base(api_base, crate::outbound::DEFAULT_API_BASE);
    format!("{base}/{}?fields={FIELDS}", phone_number_id.trim())
}

#[derive(Deserialize)]
struct PhoneNumber {
    #[serde(default)]
    display_phone_number: Option<String>,
    #[serde(default)]
    verified_name: Option<String>,
    #[serde(default)]
    quality_rating: Option<String>,
}

/// The Graph API's answer to [`check_url`].
pub fn interpret_check(status: u16, body: &[u8]) -> Result<Connected, Problem> {
    if !(200..300).contains(&status) {
        return Err(graph_check_problem(status, body, "phone_number_id"));
    }
    let number: PhoneNumber = serde_json::from_slice(body)
        .map_err(|_| Problem::new(ProblemKind::Other, "the Graph API's answer is not a phone number object"))?;
    let account = match (number.verified_name, number.display_phone_number) {
        (Some(name), Some(phone)) => format!("{name} ({phone})"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => return Err(Problem::new(ProblemKind::Other, "the Graph API's answer names no phone number")),
    };
    Ok(Connected { account, detail: number.quality_rating.map(|rating| format!("quality rating {rating}")) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_reads_the_number_and_its_rating() {
        let body = br#"{"display_phone_number":"+1 555-0100","verified_name":"Acme Support","quality_rating":"GREEN","id":"106540352242922"}"#;
        let connected = interpret_check(200, body).unwrap();
        assert_eq!(connected.account, "Acme Support (+1 555-0100)");
        assert_eq!(connected.detail.as_deref(), Some("quality rating GREEN"));
        assert_eq!(check_url(None, " 1065 "), "https://graph.facebook.com/v21.0/1065?fields=display_phone_number,verified_name,quality_rating");
    }

    #[test]
    fn a_wrong_token_is_unauthorized_and_a_wrong_id_misconfigured() {
        let token = br#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}"#;
        assert_eq!(interpret_check(401, token).unwrap_err().kind, ProblemKind::Unauthorized);
        let id = br#"{"error":{"message":"Unsupported get request.","code":100}}"#;
        assert_eq!(interpret_check(400, id).unwrap_err().kind, ProblemKind::Misconfigured);
        assert_eq!(interpret_check(200, b"[]").unwrap_err().kind, ProblemKind::Other);
    }

    #[test]
    fn the_guide_lists_every_setting_the_plugin_reads() {
        let keys: Vec<String> = guide().settings.into_iter().map(|s| s.key).collect();
        for key in ["phone_number_id", "api_base", "access_token", "app_secret", "verify_token"] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from the guide");
        }
    }
}
