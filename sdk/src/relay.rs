//! Mail out (`switchboard:channel/outbound-mail`, new in 0.2.0): the plugin composes a whole
//! message and the host hands it to this channel instance's configured SMTP relay, and no other
//! server, so a plugin cannot turn the gateway into an open relay. This module wraps the import
//! and maps the relay's answer to a [`SendError`] the outbox can act on, the way
//! [`crate::http`] does for provider HTTP answers.
//!
//! The mapping ([`send_error`]) is pure and tested natively; [`send`] is the only host call.

use crate::bindings::switchboard::channel::outbound_mail;
use crate::bindings::switchboard::channel::types::{SendError, SendErrorKind};

pub use crate::bindings::switchboard::channel::outbound_mail::{Envelope as RelayEnvelope, Error as RelayError, RelayReply};

/// Relay `raw` (a whole RFC 5322 message) to `envelope`'s recipients through the instance's
/// relay. The error is the relay's own answer; [`send_error`] turns it into a [`SendError`].
pub fn send(envelope: &RelayEnvelope, raw: &[u8]) -> Result<(), RelayError> {
    outbound_mail::send(envelope, raw)
}

/// What the outbox should make of a relay's refusal.
///
/// - `not-configured`: `other`, not retryable: nothing changes until an admin sets the relay.
/// - `transient` (`4xx`): retryable; `rate-limited` when the relay says it is throttling (see
///   [`is_throttling`]), else `unavailable`.
/// - `permanent` (`5xx`): not retryable, classified by [`permanent_kind`]: an unknown or
///   unreachable mailbox is `invalid-recipient`, refused credentials `unauthorized`, a message
///   the relay will not take `invalid-request`, a policy refusal `other`.
/// - `unavailable` (no connection, broken TLS, timeout): `unavailable`, retryable.
/// - `invalid` (an address the host cannot parse): `invalid-request`, not retryable.
///
/// The SMTP reply code becomes the error's `code` (`"550"`), and the relay's text is kept in
/// the message, so an agent sees why a reply failed.
pub fn send_error(error: RelayError) -> SendError {
    match error {
        RelayError::NotConfigured => SendError::new(
            SendErrorKind::Other,
            "this channel has no mail relay configured: set `relay` in the instance's `[channels.mail]` table",
            false,
        ),
        RelayError::Transient(reply) => {
            let kind = if is_throttling(&reply) { SendErrorKind::RateLimited } else { SendErrorKind::Unavailable };
            SendError::new(kind, format!("the mail relay deferred the message: {} {}", reply.code, reply.message.trim()), true)
                .with_code(reply.code.to_string())
        }
        RelayError::Permanent(reply) => {
            SendError::new(permanent_kind(&reply), format!("the mail relay refused the message: {} {}", reply.code, reply.message.trim()), false)
                .with_code(reply.code.to_string())
        }
        RelayError::Unavailable(detail) => {
            SendError::new(SendErrorKind::Unavailable, format!("could not reach the mail relay: {detail}"), true)
        }
        RelayError::Invalid(detail) => {
            SendError::new(SendErrorKind::InvalidRequest, format!("the mail relay could not take the message: {detail}"), false)
        }
    }
}

/// Whether a `4xx` answer is the relay throttling us rather than being unwell: its text says so
/// (`rate limit`, `too many …`, `throttl…`). SMTP has no dedicated code for it: `421`, `450`,
/// `451` and `452` (`4.5.3` too many recipients) are all used, so the words decide; either
/// way the message is retried.
pub fn is_throttling(reply: &RelayReply) -> bool {
    let text = reply.message.to_ascii_lowercase();
    text.contains("rate limit") || text.contains("ratelimit") || text.contains("too many") || text.contains("throttl")
}

/// The kind of a `5xx` answer. The enhanced status code (RFC 3463, `5.1.1` at the start of the
/// text) is the more precise and decides when present, because `550` alone means both
/// "no such user" (`5.1.1`) and "refused by policy" (`5.7.1`):
///
/// - `5.1.x` (addressing), except `5.1.7`/`5.1.8` (our sender address), and `5.2.1`/`5.2.2`
///   (mailbox disabled or full): `invalid-recipient`;
/// - reply codes `530`, `534`, `535`, `538`, or the authentication codes `5.7.8`, `5.7.9`,
///   `5.7.11`, `5.7.12`, `5.7.14`: `unauthorized` (the relay refused our credentials);
/// - `5.1.7`/`5.1.8`, `5.2.3`, `5.3.4` (too big), `5.5.x` (syntax), `5.6.x` (content), or reply
///   codes `500`–`504`, `552`, `555`: `invalid-request`;
/// - without an enhanced code, `550`, `551` and `553`: `invalid-recipient`;
/// - anything else (`5.7.1` policy, `554` transaction failed): `other`.
pub fn permanent_kind(reply: &RelayReply) -> SendErrorKind {
    if matches!(reply.code, 530 | 534 | 535 | 538) {
        return SendErrorKind::Unauthorized;
    }
    if let Some((subject, detail)) = enhanced_status(&reply.message) {
        return match (subject, detail) {
            (1, 7 | 8) => SendErrorKind::InvalidRequest,
            (1, _) | (2, 1 | 2) => SendErrorKind::InvalidRecipient,
            (7, 8 | 9 | 11 | 12 | 14) => SendErrorKind::Unauthorized,
            (2, 3) | (3, 4) | (5, _) | (6, _) => SendErrorKind::InvalidRequest,
            _ => SendErrorKind::Other,
        };
    }
    match reply.code {
        550 | 551 | 553 => SendErrorKind::InvalidRecipient,
        500..=504 | 552 | 555 => SendErrorKind::InvalidRequest,
        _ => SendErrorKind::Other,
    }
}

/// The subject and detail of a `5.x.y` enhanced status code at the start of `text`.
fn enhanced_status(text: &str) -> Option<(u16, u16)> {
    let first = text.split_whitespace().next()?;
    let mut parts = first.split('.');
    let class = parts.next()?;
    let subject = parts.next()?.parse::<u16>().ok()?;
    let detail = parts.next()?.parse::<u16>().ok()?;
    (class == "5" && parts.next().is_none()).then_some((subject, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, message: &str) -> RelayReply {
        RelayReply { code, message: message.into() }
    }

    fn summary(error: SendError) -> (SendErrorKind, bool, Option<String>) {
        (error.kind, error.retryable, error.code)
    }

    #[test]
    fn transient_answers_are_retried_and_throttling_is_rate_limited() {
        let cases = [
            (421, "4.3.2 Service shutting down", SendErrorKind::Unavailable),
            (450, "4.2.1 Mailbox busy, try again later", SendErrorKind::Unavailable),
            (451, "4.7.1 Greylisted, please retry", SendErrorKind::Unavailable),
            (452, "4.3.1 Insufficient system storage", SendErrorKind::Unavailable),
            (421, "4.7.0 Too many connections from your host", SendErrorKind::RateLimited),
            (450, "4.7.28 Our system has detected an unusual rate; Rate limit exceeded", SendErrorKind::RateLimited),
            (452, "4.5.3 Too many recipients", SendErrorKind::RateLimited),
        ];
        for (code, text, kind) in cases {
            let error = send_error(RelayError::Transient(reply(code, text)));
            assert!(error.message.contains(text), "{}", error.message);
            assert_eq!(summary(error), (kind, true, Some(code.to_string())), "{code} {text}");
        }
    }

    #[test]
    fn permanent_answers_fail_at_once_by_what_they_say() {
        let cases = [
            (550, "5.1.1 <ana@example.org>: Recipient address rejected: User unknown", SendErrorKind::InvalidRecipient),
            (550, "No such user here", SendErrorKind::InvalidRecipient),
            (551, "User not local", SendErrorKind::InvalidRecipient),
            (553, "Mailbox name not allowed", SendErrorKind::InvalidRecipient),
            (552, "5.2.2 Mailbox full", SendErrorKind::InvalidRecipient),
            (550, "5.1.10 Recipient address rejected (null MX)", SendErrorKind::InvalidRecipient),
            (553, "5.1.8 Sender address rejected: Domain not found", SendErrorKind::InvalidRequest),
            (550, "5.7.1 Relaying denied", SendErrorKind::Other),
            (554, "5.7.1 Message rejected as spam", SendErrorKind::Other),
            (554, "Transaction failed", SendErrorKind::Other),
            (535, "5.7.8 Authentication credentials invalid", SendErrorKind::Unauthorized),
            (530, "5.7.0 Authentication required", SendErrorKind::Unauthorized),
            (552, "5.3.4 Message size exceeds fixed limit", SendErrorKind::InvalidRequest),
            (552, "Message too big", SendErrorKind::InvalidRequest),
            (501, "Syntax error in parameters", SendErrorKind::InvalidRequest),
        ];
        for (code, text, kind) in cases {
            let error = send_error(RelayError::Permanent(reply(code, text)));
            assert_eq!(summary(error), (kind, false, Some(code.to_string())), "{code} {text}");
        }
    }

    #[test]
    fn a_missing_relay_tells_the_admin_what_to_set() {
        let error = send_error(RelayError::NotConfigured);
        assert!(error.message.contains("[channels.mail]") && error.message.contains("relay"), "{}", error.message);
        assert_eq!(summary(error), (SendErrorKind::Other, false, None));
    }

    #[test]
    fn outages_are_retried_and_invalid_envelopes_are_not() {
        let error = send_error(RelayError::Unavailable("connection refused".into()));
        assert!(error.message.contains("connection refused"));
        assert_eq!(summary(error), (SendErrorKind::Unavailable, true, None));
        let error = send_error(RelayError::Invalid("address `a b`: invalid".into()));
        assert_eq!(summary(error), (SendErrorKind::InvalidRequest, false, None));
    }

    #[test]
    fn enhanced_status_is_read_from_the_start_only() {
        assert_eq!(enhanced_status("5.1.1 User unknown"), Some((1, 1)));
        assert_eq!(enhanced_status("5.7.1"), Some((7, 1)));
        assert_eq!(enhanced_status("User unknown 5.1.1"), None);
        assert_eq!(enhanced_status("4.1.1 deferred"), None);
        assert_eq!(enhanced_status("5.1 short"), None);
        assert_eq!(enhanced_status(""), None);
    }
}
