//! Realistic, uniquely signed WhatsApp Cloud API text webhooks.
//!
//! The body is `tests/fixtures/whatsapp/text.json` (compacted) with the sender, display name,
//! message id, timestamp and text filled in per request. Every request gets a unique `wamid`
//! (`wamid.SWBENCH<tag>_<seq>`), so the harness can find it again in the database and on the
//! live stream, and is signed as Meta signs: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of
//! the exact body bytes under the app secret>`.

use anyhow::{Context, Result};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Secrets written literally into the generated `config.toml`.
pub const APP_SECRET: &str = "bench-app-secret-5e2b91c4";
pub const VERIFY_TOKEN: &str = "bench-verify-token";
pub const ACCESS_TOKEN: &str = "EAAbench-access-token";
pub const ADMIN_TOKEN: &str = "bench-admin-token-0f3c";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
/// Every message id the harness generates starts with this.
pub const WAMID_MARKER: &str = "wamid.SWBENCH";

const TEMPLATE: &str = include_str!("../../tests/fixtures/whatsapp/text.json");

enum Piece {
    Literal(String),
    WaId,
    Name,
    Wamid,
    Timestamp,
    Text,
}

/// One generated webhook.
pub struct Webhook {
    pub body: String,
    /// The `X-Hub-Signature-256` header value.
    pub signature: String,
}

pub struct WebhookFactory {
    pieces: Vec<Piece>,
    mac: Hmac<Sha256>,
    tag: String,
}

impl WebhookFactory {
    /// `tag` keeps message ids of different runs apart; letters and digits only.
    pub fn new(tag: &str) -> Result<Self> {
        let mut template: Value = serde_json::from_str(TEMPLATE).context("parsing the text.json fixture")?;
        let value = template
            .pointer_mut("/entry/0/changes/0/value")
            .context("text.json fixture: no entry[0].changes[0].value")?;
        value["contacts"][0]["wa_id"] = "@@WAID@@".into();
        value["contacts"][0]["profile"]["name"] = "@@NAME@@".into();
        let message = &mut value["messages"][0];
        message["from"] = "@@WAID@@".into();
        message["id"] = "@@WAMID@@".into();
        message["timestamp"] = "@@TS@@".into();
        message["text"]["body"] = "@@TEXT@@".into();
        let compact = serde_json::to_string(&template)?;
        let mut pieces = Vec::new();
        let mut rest = compact.as_str();
        while let Some(start) = rest.find("@@") {
            let after = &rest[start + 2..];
            let end = after.find("@@").context("unbalanced placeholder")?;
            pieces.push(Piece::Literal(rest[..start].to_string()));
            pieces.push(match &after[..end] {
                "WAID" => Piece::WaId,
                "NAME" => Piece::Name,
                "WAMID" => Piece::Wamid,
                "TS" => Piece::Timestamp,
                "TEXT" => Piece::Text,
                other => anyhow::bail!("unknown placeholder {other}"),
            });
            rest = &after[end + 2..];
        }
        pieces.push(Piece::Literal(rest.to_string()));
        let mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).context("HMAC key")?;
        Ok(Self { pieces, mac, tag: tag.to_string() })
    }

    /// The `wamid` of message number `seq`.
    pub fn wamid(&self, seq: u64) -> String {
        format!("{WAMID_MARKER}{}_{seq}", self.tag)
    }

    /// The webhook for message `seq` from customer number `sender`.
    pub fn make(&self, seq: u64, sender: u64) -> Webhook {
        use std::fmt::Write;
        // A Brazilian mobile number (São Paulo): valid E.164, so identity normalisation does
        // its full work.
        let wa_id = format!("55119{:08}", sender % 100_000_000);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut body = String::with_capacity(768);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => body.push_str(text),
                Piece::WaId => body.push_str(&wa_id),
                Piece::Name => {
                    let _ = write!(body, "Cliente {sender}");
                }
                Piece::Wamid => {
                    let _ = write!(body, "{WAMID_MARKER}{}_{seq}", self.tag);
                }
                Piece::Timestamp => {
                    let _ = write!(body, "{now}");
                }
                Piece::Text => {
                    let _ = write!(body, "Olá! Preciso de ajuda com o pedido #{seq} 🙏");
                }
            }
        }
        let mut mac = self.mac.clone();
        mac.update(body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        Webhook { body, signature }
    }
}

/// Find a harness-generated message id in `text` and return its sequence number.
pub fn find_seq(text: &str) -> Option<u64> {
    let start = text.find(WAMID_MARKER)? + WAMID_MARKER.len();
    let rest = &text[start..];
    let underscore = rest.find('_')?;
    let digits: &str = &rest[underscore + 1..];
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// A cheap, well-mixed hash (SplitMix64), for spreading senders and injecting faults.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_valid_json_and_signed() {
        let factory = WebhookFactory::new("T1").unwrap();
        let hook = factory.make(42, 7);
        let value: Value = serde_json::from_str(&hook.body).unwrap();
        let message = &value["entry"][0]["changes"][0]["value"]["messages"][0];
        assert_eq!(message["id"], "wamid.SWBENCHT1_42");
        assert_eq!(message["from"], "5511900000007");
        assert_eq!(find_seq(&hook.body), Some(42));
        let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
        mac.update(hook.body.as_bytes());
        assert_eq!(hook.signature, format!("sha256={}", hex::encode(mac.finalize().into_bytes())));
    }
}
