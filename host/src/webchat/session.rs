//! Visitor sessions and identity.
//!
//! A session token is `<payload>.<signature>`: the payload is base64url JSON naming the channel,
//! the visitor, the verified identifier (if any) and when it was issued; the signature is
//! HMAC-SHA256 of the payload under the instance's signing key (kept in the database, see
//! `Store::webchat_signing_key`). Tokens live in the visitor's browser, so a reload, a second
//! tab or another node of the cluster picks the same visitor up.
//!
//! Identity is the site's to vouch for: it passes `identifier` (its user's email or phone)
//! and `identifier_hash`, HMAC-SHA256 of the identifier under the instance's `widget_secret`,
//! computed on its server. [`verify_identifier`] is the only way to a verified identifier,
//! so without the secret there is no identity: a missing secret, a missing hash and a wrong
//! hash are each refused, never downgraded to something that links.

use crate::identity::{normalize_email, normalize_phone};
use crate::model::Party;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The longest identifier accepted (an email address is at most 254 characters).
const MAX_IDENTIFIER: usize = 320;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The channel instance it was issued for.
    #[serde(rename = "c")]
    pub channel_id: String,
    /// The visitor: `v:<random>` for anonymous visitors, `user:<identifier>` for identified ones.
    #[serde(rename = "v")]
    pub visitor_id: String,
    /// The verified identifier (normalised email or E.164 phone).
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// The name the site gave.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The widget's language, as the page or browser says (`es`, `pt-BR`).
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// When it was issued (Unix ms).
    #[serde(rename = "t")]
    pub issued_ms: i64,
}

impl Session {
    /// A new anonymous visitor.
    pub fn anonymous(channel_id: &str, now_ms: i64) -> Result<Self, SessionError> {
        let mut id = [0u8; 16];
        getrandom::getrandom(&mut id).map_err(|_| SessionError::NoRandomness)?;
        let visitor_id = format!("v:{}", hex::encode(id));
        Ok(Self { channel_id: channel_id.to_string(), visitor_id, identifier: None, name: None, locale: None, issued_ms: now_ms })
    }

    /// The visitor the site vouched for: the same id on every device.
    pub fn identified(channel_id: &str, identity: VerifiedIdentity, name: Option<String>, now_ms: i64) -> Self {
        Self {
            channel_id: channel_id.to_string(),
            visitor_id: format!("user:{}", identity.0),
            identifier: Some(identity.0),
            name,
            locale: None,
            issued_ms: now_ms,
        }
    }

    /// The visitor as the pipeline's party: the session's id, and the verified identifier as
    /// an email (`email_verified`, so it links like a DMARC-authenticated mail) or a phone.
    /// An anonymous visitor is named "Website visitor 3f9a" (the id's first hex digits), so two
    /// can be told apart in the agents' list.
    pub fn party(&self) -> Party {
        let is_email = self.identifier.as_deref().is_some_and(|id| id.contains('@'));
        let anonymous_name = || {
            let tag: String = self.visitor_id.trim_start_matches("v:").chars().take(4).collect();
            format!("Website visitor {tag}")
        };
        Party {
            id: self.visitor_id.clone(),
            phone: self.identifier.clone().filter(|_| !is_email),
            email: self.identifier.clone().filter(|_| is_email),
            // Proven by the site's signature (`verify_identifier`), never by a claim.
            email_verified: is_email,
            display_name: self.name.clone().or_else(|| self.identifier.is_none().then(anonymous_name)),
            username: None,
        }
    }

    /// The signed token for this session.
    pub fn token(&self, key: &[u8]) -> String {
        // Serialising a struct of strings and an integer cannot fail.
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default());
        let signature = URL_SAFE_NO_PAD.encode(sign(key, payload.as_bytes()));
        format!("{payload}.{signature}")
    }

    /// The session `token` names, if it is signed with `key`, for `channel_id`, and issued less
    /// than `max_age_ms` ago (and not in the future, beyond a minute's clock skew).
    pub fn verify(token: &str, key: &[u8], channel_id: &str, now_ms: i64, max_age_ms: i64) -> Option<Self> {
        let (payload, signature) = token.trim().split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
        mac.update(payload.as_bytes());
        // Constant time: the comparison must not tell an attacker how much of a forgery is right.
        mac.verify_slice(&signature).ok()?;
        let session: Self = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let fresh = session.issued_ms <= now_ms + 60_000 && now_ms - session.issued_ms < max_age_ms;
        (session.channel_id == channel_id && fresh).then_some(session)
    }
}

fn sign(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the system has no randomness for a visitor id")]
    NoRandomness,
}

/// An identifier whose hash was checked: the only way to build one is [`verify_identifier`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity(String);

impl VerifiedIdentity {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a site's identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("this chat does not accept identified visitors: the instance has no `widget_secret`")]
    NotConfigured,
    #[error("`identifier_hash` is missing: the site must sign the identifier on its server")]
    HashMissing,
    #[error("`identifier_hash` does not match the identifier")]
    Forged,
    #[error("the identifier must be an email address or a phone number in international format")]
    Invalid,
}

impl IdentityError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured => "identity_not_configured",
            Self::HashMissing => "identity_hash_missing",
            Self::Forged => "identity_forged",
            Self::Invalid => "identity_invalid",
        }
    }
}

/// Check the site's `hash` of `identifier` (hex HMAC-SHA256 under `secret`, over the identifier
/// exactly as the site passed it) and normalise the identifier: an email is lowercased, a phone
/// becomes E.164, so it links to the contact known by the same address or number elsewhere.
pub fn verify_identifier(secret: Option<&str>, identifier: &str, hash: Option<&str>) -> Result<VerifiedIdentity, IdentityError> {
    let secret = secret.filter(|secret| !secret.is_empty()).ok_or(IdentityError::NotConfigured)?;
    let hash = hash.map(str::trim).filter(|hash| !hash.is_empty()).ok_or(IdentityError::HashMissing)?;
    let claimed = hex::decode(hash).map_err(|_| IdentityError::Forged)?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).map_err(|_| IdentityError::NotConfigured)?;
    mac.update(identifier.as_bytes());
    mac.verify_slice(&claimed).map_err(|_| IdentityError::Forged)?;
    if identifier.len() > MAX_IDENTIFIER {
        return Err(IdentityError::Invalid);
    }
    let normalised = if identifier.contains('@') { normalize_email(identifier) } else { normalize_phone(identifier) };
    normalised.map(VerifiedIdentity).ok_or(IdentityError::Invalid)
}


#[cfg(test)]
mod tests {
    use super::*;

    fn hash(secret: &str, identifier: &str) -> String {
        hex::encode(sign(secret.as_bytes(), identifier.as_bytes()))
    }

    #[test]
    fn a_token_round_trips_only_with_its_key_channel_and_age() {
        let session = Session::anonymous("chat", 1_000).unwrap();
        let token = session.token(b"key");
        assert_eq!(Session::verify(&token, b"key", "chat", 2_000, 10_000), Some(session.clone()));
        assert_eq!(Session::verify(&token, b"other key", "chat", 2_000, 10_000), None);
        assert_eq!(Session::verify(&token, b"key", "other-chat", 2_000, 10_000), None);
        assert_eq!(Session::verify(&token, b"key", "chat", 20_000, 10_000), None, "expired");
        let (payload, signature) = token.split_once('.').unwrap();
        let mut tampered: Session = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        tampered.visitor_id = "user:ana@example.com".into();
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap()));
        assert_eq!(Session::verify(&forged, b"key", "chat", 2_000, 10_000), None, "a changed payload breaks the signature");
        assert_eq!(Session::verify("garbage", b"key", "chat", 2_000, 10_000), None);
    }

    #[test]
    fn the_party_carries_only_what_the_site_proved() {
        let anonymous = Session::anonymous("c", 0).unwrap();
        let party = anonymous.party();
        assert_eq!((party.phone, party.email, party.email_verified), (None, None, false));
        assert_eq!(party.display_name, Some(format!("Website visitor {}", &anonymous.visitor_id[2..6])));
        let email = Session::identified("c", VerifiedIdentity("ana@example.com".into()), Some("Ana".into()), 0).party();
        assert_eq!((email.id.as_str(), email.email.as_deref(), email.email_verified, email.phone), ("user:ana@example.com", Some("ana@example.com"), true, None));
        assert_eq!(email.display_name.as_deref(), Some("Ana"));
        let phone = Session::identified("c", VerifiedIdentity("+34600111222".into()), None, 0).party();
        assert_eq!((phone.phone.as_deref(), phone.email, phone.email_verified, phone.display_name), (Some("+34600111222"), None, false, None));
    }

    #[test]
    fn anonymous_visitors_are_unique() {
        assert_ne!(Session::anonymous("c", 0).unwrap().visitor_id, Session::anonymous("c", 0).unwrap().visitor_id);
    }

    #[test]
    fn only_a_correct_hash_under_a_configured_secret_is_an_identity() {
        let good = hash("s3cret", "Ana@Example.com");
        assert_eq!(verify_identifier(Some("s3cret"), "Ana@Example.com", Some(&good)).unwrap().as_str(), "ana@example.com");
        assert_eq!(verify_identifier(Some("s3cret"), "Ana@Example.com", Some(&good.to_uppercase())).map(|i| i.0), Ok("ana@example.com".into()));
        assert_eq!(verify_identifier(None, "Ana@Example.com", Some(&good)), Err(IdentityError::NotConfigured));
        assert_eq!(verify_identifier(Some(""), "Ana@Example.com", Some(&good)), Err(IdentityError::NotConfigured));
        assert_eq!(verify_identifier(Some("s3cret"), "Ana@Example.com", None), Err(IdentityError::HashMissing));
        assert_eq!(verify_identifier(Some("s3cret"), "bob@example.com", Some(&good)), Err(IdentityError::Forged));
        assert_eq!(verify_identifier(Some("other"), "Ana@Example.com", Some(&good)), Err(IdentityError::Forged));
        assert_eq!(verify_identifier(Some("s3cret"), "Ana@Example.com", Some("zz")), Err(IdentityError::Forged));
        let phone = hash("s3cret", "+34 600 111 222");
        assert_eq!(verify_identifier(Some("s3cret"), "+34 600 111 222", Some(&phone)).unwrap().as_str(), "+34600111222");
        let nonsense = hash("s3cret", "not a phone");
        assert_eq!(verify_identifier(Some("s3cret"), "not a phone", Some(&nonsense)), Err(IdentityError::Invalid));
    }
}
