//! The host side of `outbound-mail`: a mail channel's plugin composes each reply, and the host
//! hands it to the one SMTP relay configured for that instance (`[channels.mail] relay`).
//!
//! Like `outbound-http`'s allowlist, this is the sandbox's policy: the plugin names no server,
//! so a plugin cannot turn the gateway into a spam relay for hosts of its choosing. Relay
//! answers are sorted the way the outbox acts on them: a `4xx` may succeed later, a `5xx`
//! will not, a broken connection is an outage.

use crate::config::{MailConfig, RelayTls, Secret};
use anyhow::Context;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::collections::BTreeMap;
use std::time::Duration;

/// Why the relay did not take a message (the WIT `outbound-mail.error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error("this channel has no mail relay configured ([channels.mail] relay)")]
    NotConfigured,
    #[error("the relay answered {code}: {message}")]
    Transient { code: u16, message: String },
    #[error("the relay answered {code}: {message}")]
    Permanent { code: u16, message: String },
    #[error("the relay could not be reached: {0}")]
    Unavailable(String),
    #[error("invalid message or envelope: {0}")]
    Invalid(String),
}

/// One channel instance's relay.
pub struct MailRelay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// `host:port`, for logs (never credentials).
    target: String,
}

impl std::fmt::Debug for MailRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailRelay").field("target", &self.target).finish_non_exhaustive()
    }
}

impl MailRelay {
    /// The relay of a `[channels.mail]` table; `None` when it names none. Credentials come from
    /// the instance's `relay_username` and `relay_password` secrets.
    pub fn from_config(mail: &MailConfig, secrets: &BTreeMap<String, Secret>, timeout: Duration) -> anyhow::Result<Option<Self>> {
        let Some(relay) = &mail.relay else { return Ok(None) };
        let (scheme, rest) = relay.split_once("://").with_context(|| format!("mail relay `{relay}` must be smtp://host:port or smtps://host:port"))?;
        let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
            Some((host, port)) => (host.to_string(), port.parse::<u16>().with_context(|| format!("mail relay `{relay}`: bad port"))?),
            None => (rest.trim_end_matches('/').to_string(), if scheme == "smtps" { 465 } else { 587 }),
        };
        anyhow::ensure!(!host.is_empty(), "mail relay `{relay}` names no host");
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let tls = match (mail.relay_tls, scheme) {
            (Some(tls), "smtp" | "smtps") => tls,
            (None, "smtps") => RelayTls::Tls,
            (None, "smtp") if loopback => RelayTls::None,
            (None, "smtp") => RelayTls::Starttls,
            _ => anyhow::bail!("mail relay `{relay}` must start with smtp:// or smtps://"),
        };
        let parameters = || TlsParameters::new(host.clone()).with_context(|| format!("TLS settings for mail relay {host}"));
        let tls = match tls {
            RelayTls::None => Tls::None,
            RelayTls::Starttls => Tls::Required(parameters()?),
            RelayTls::Tls => Tls::Wrapper(parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone()).port(port).tls(tls).timeout(Some(timeout));
        if let (Some(user), Some(password)) = (secrets.get("relay_username"), secrets.get("relay_password")) {
            builder = builder.credentials(Credentials::new(user.expose().to_string(), password.expose().to_string()));
        }
        Ok(Some(Self { transport: builder.build(), target: format!("{host}:{port}") }))
    }

    /// `host:port`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Relay `raw` from `mail_from` to `rcpt_to`.
    pub async fn send(&self, mail_from: &str, rcpt_to: &[String], raw: &[u8]) -> Result<(), RelayError> {
        let parse = |address: &str| address.parse::<Address>().map_err(|e| RelayError::Invalid(format!("address `{address}`: {e}")));
        let from = if mail_from.is_empty() { None } else { Some(parse(mail_from)?) };
        let to = rcpt_to.iter().map(|a| parse(a)).collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(from, to).map_err(|e| RelayError::Invalid(e.to_string()))?;
        match self.transport.send_raw(&envelope, raw).await {
            Ok(_) => Ok(()),
            Err(error) => {
                let code = error.status().map(u16::from);
                // For a refusal, the relay's own text ("5.7.1 Message rejected …"), whose
                // enhanced status code the plugin reads; lettre's Display prefixes its own words.
                let message = match (code, std::error::Error::source(&error)) {
                    (Some(_), Some(text)) => text.to_string(),
                    _ => error.to_string(),
                };
                tracing::warn!(relay = self.target, ?code, %message, "mail relay refused a message");
                Err(match code {
                    Some(code) if error.is_transient() => RelayError::Transient { code, message },
                    Some(code) if error.is_permanent() => RelayError::Permanent { code, message },
                    _ => RelayError::Unavailable(message),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(relay: &str, tls: Option<RelayTls>) -> MailConfig {
        MailConfig { addresses: vec!["support@example.com".into()], relay: Some(relay.into()), relay_tls: tls }
    }

    fn relay(relay: &str, tls: Option<RelayTls>) -> anyhow::Result<Option<MailRelay>> {
        MailRelay::from_config(&config(relay, tls), &BTreeMap::new(), Duration::from_secs(1))
    }

    #[test]
    fn relay_urls_are_checked_when_the_channel_loads() {
        assert_eq!(relay("smtp://127.0.0.1:2525", None).unwrap().unwrap().target, "127.0.0.1:2525");
        assert_eq!(relay("smtps://mail.example.com", None).unwrap().unwrap().target, "mail.example.com:465");
        assert_eq!(relay("smtp://mail.example.com", Some(RelayTls::None)).unwrap().unwrap().target, "mail.example.com:587");
        assert!(relay("http://mail.example.com", None).is_err());
        assert!(relay("mail.example.com", None).is_err());
        assert!(relay("smtp://mail.example.com:notaport", None).is_err());
        let none = MailConfig { relay: None, ..config("", None) };
        assert!(MailRelay::from_config(&none, &BTreeMap::new(), Duration::from_secs(1)).unwrap().is_none());
    }

    #[tokio::test]
    async fn an_unreachable_relay_is_an_outage_and_a_bad_address_is_invalid() {
        // Port 9 on loopback: nothing listens, so the connection is refused at once.
        let relay = relay("smtp://127.0.0.1:9", None).unwrap().unwrap();
        let refused = relay.send("support@example.com", &["ann@example.org".into()], b"Subject: x\r\n\r\nhi\r\n").await;
        assert!(matches!(refused, Err(RelayError::Unavailable(_))), "{refused:?}");
        let invalid = relay.send("support@example.com", &["not an address".into()], b"x").await;
        assert!(matches!(invalid, Err(RelayError::Invalid(_))), "{invalid:?}");
    }
}
