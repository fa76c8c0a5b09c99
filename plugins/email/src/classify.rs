//! What kind of mail this is: a person writing, or a machine.
//!
//! Why it exists: a support channel must never answer an out-of-office reply, a mailing list
//! or a bounce as if a customer had written (that is how mail loops and list spam start), and
//! a bounce must instead mark the message it returns as undelivered. The signals are header
//! fields standardised in RFC 3834 (`Auto-Submitted`), RFC 2919/2369 (`List-Id`,
//! `List-Unsubscribe`) and RFC 3464/6522 (`multipart/report` delivery status notifications),
//! plus the de-facto `Precedence`, `X-Autoreply` and `X-Autorespond` fields.
//!
//! [`parse_dsn`] reads the machine-readable part of a bounce. `mail-parser` splits the MIME
//! parts but has no notion of DSN fields, so the small RFC 3464 field parser is here.

use mail_parser::{Message, MessageParser, MimeHeaders};

use crate::inbound::{ParsedMail, normalize_message_id};

/// The kind of a message, from its headers and MIME structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// Written by a person: the only kind an agent should answer.
    Personal,
    /// Generated in response to a message: out-of-office, vacation and auto-responder replies,
    /// read receipts (`multipart/report; report-type=disposition-notification`).
    AutoReply,
    /// Sent to a mailing list or in bulk.
    List,
    /// A delivery status notification: a message could not be (or has not yet been) delivered.
    Bounce,
}

/// Classifies a parsed message. The checks run from the most to the least specific, so a
/// bounce that also says `Auto-Submitted: auto-replied` (Postfix's do) is a
/// [`MailKind::Bounce`], and an auto-reply sent through a list is a [`MailKind::AutoReply`].
pub fn classify(message: &Message<'_>) -> MailKind {
    if is_bounce(message) {
        MailKind::Bounce
    } else if is_auto_reply(message) {
        MailKind::AutoReply
    } else if is_list(message) {
        MailKind::List
    } else {
        MailKind::Personal
    }
}

/// The value of the first top-level header called `name` (any case), unfolded and trimmed.
fn header(message: &Message<'_>, name: &str) -> Option<String> {
    message
        .headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| unfold(value))
}

/// A header value on one line: folding removed, parts trimmed.
pub(crate) fn unfold(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first token of a header value (before `;`, a comment or whitespace), lower-cased:
/// `auto-replied; owner-email="x"` → `auto-replied`.
fn keyword(value: &str) -> String {
    value
        .split([';', '(', ' ', '\t'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn precedence(message: &Message<'_>) -> Option<String> {
    header(message, "Precedence").map(|value| keyword(&value))
}

fn is_auto_reply(message: &Message<'_>) -> bool {
    // RFC 3834: anything but `no` means a machine sent it.
    let auto_submitted = header(message, "Auto-Submitted")
        .is_some_and(|value| !keyword(&value).is_empty() && keyword(&value) != "no");
    // Presence alone: these are set by vacation programs and Exchange, with varied values.
    // `X-Auto-Response-Suppress` is deliberately absent: Outlook puts it on ordinary mail to
    // *ask others* not to auto-reply, so it says nothing about this message.
    let x_headers = ["X-Autoreply", "X-Autorespond"]
        .iter()
        .any(|name| header(message, name).is_some());
    let read_receipt = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("disposition-notification"))
    });
    auto_submitted
        || x_headers
        || read_receipt
        || precedence(message).as_deref() == Some("auto_reply")
}

fn is_list(message: &Message<'_>) -> bool {
    header(message, "List-Id").is_some()
        || header(message, "List-Unsubscribe").is_some()
        // `junk` is treated like `bulk`, as RFC 3834 §2 does.
        || matches!(precedence(message).as_deref(), Some("bulk" | "list" | "junk"))
}

fn is_bounce(message: &Message<'_>) -> bool {
    let report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| DELIVERY_STATUS.iter().any(|d| t.eq_ignore_ascii_case(d.1)))
    });
    if report {
        return true;
    }
    // Older MTAs send `multipart/mixed` with a delivery-status part: trust that only from
    // the addresses MTAs send bounces from, not from anyone who attaches such a part.
    let from_mta = message
        .from()
        .and_then(|from| from.first())
        .and_then(|addr| addr.address())
        .and_then(|address| address.rsplit_once('@'))
        .is_some_and(|(local, _)| {
            local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster")
        });
    from_mta
        && message.parts.iter().any(|part| {
            DELIVERY_STATUS
                .iter()
                .any(|(ctype, subtype)| part.is_content_type(ctype, subtype))
        })
}

/// `message/delivery-status` (RFC 3464) and its internationalised form (RFC 6533).
const DELIVERY_STATUS: &[(&str, &str)] = &[
    ("message", "delivery-status"),
    ("message", "global-delivery-status"),
];

/// Parts that carry the returned message or its headers.
const RETURNED_MESSAGE: &[&str] = &[
    "text/rfc822-headers",
    "message/rfc822",
    "message/global",
    "message/global-headers",
];

/// What a delivery status notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// `Reporting-MTA`, without its type (`dns; mx.example.com` → `mx.example.com`).
    pub reporting_mta: Option<String>,
    /// The `Message-ID` of the returned message (without angle brackets), from the
    /// `text/rfc822-headers` or `message/rfc822` part: which of our messages bounced.
    pub original_message_id: Option<String>,
    /// One entry per recipient block, in order.
    pub recipients: Vec<DsnRecipient>,
}

/// One recipient block of a DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    /// `Final-Recipient`, without its address type (`rfc822; a@b` → `a@b`).
    pub final_recipient: Option<String>,
    /// `Original-Recipient`, likewise.
    pub original_recipient: Option<String>,
    pub action: DsnAction,
    /// The enhanced status code (RFC 3463) such as `5.1.1`, without any trailing comment;
    /// `None` if absent or not of the form `class.subject.detail`.
    pub status: Option<String>,
    /// `Diagnostic-Code`, unfolded, without its type (`smtp; 550 …` → `550 …`).
    pub diagnostic_code: Option<String>,
}

/// The `Action` field of a recipient block (RFC 3464 §2.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DsnAction {
    Failed,
    Delayed,
    Delivered,
    Relayed,
    Expanded,
    /// A missing or non-standard value, lower-cased (empty when missing).
    Other(String),
}

impl DsnAction {
    fn parse(value: &str) -> DsnAction {
        match keyword(value).as_str() {
            "failed" => DsnAction::Failed,
            "delayed" => DsnAction::Delayed,
            "delivered" => DsnAction::Delivered,
            "relayed" => DsnAction::Relayed,
            "expanded" => DsnAction::Expanded,
            other => DsnAction::Other(other.to_string()),
        }
    }
}

/// Reads the delivery status notification in a bounce: the per-recipient fields of its
/// `message/delivery-status` part and the original `Message-ID`. `None` when the mail has no
/// delivery-status part with at least one recipient block.
pub fn parse_dsn(mail: &ParsedMail) -> Option<Dsn> {
    let status_part = mail.attachments.iter().find(|a| {
        DELIVERY_STATUS
            .iter()
            .any(|(t, s)| a.mime_type == format!("{t}/{s}"))
    })?;
    let body = String::from_utf8_lossy(&status_part.content);
    let groups = field_groups(&body);

    let mut recipients = Vec::new();
    for group in &groups {
        let get = |name: &str| {
            group
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if get("Final-Recipient").is_none() && get("Action").is_none() {
            continue; // the per-message block, or noise
        }
        recipients.push(DsnRecipient {
            final_recipient: get("Final-Recipient").and_then(without_type).map(unbracket),
            original_recipient: get("Original-Recipient")
                .and_then(without_type)
                .map(unbracket),
            action: DsnAction::parse(get("Action").unwrap_or_default()),
            status: get("Status").and_then(status_code),
            diagnostic_code: get("Diagnostic-Code").and_then(without_type),
        });
    }
    if recipients.is_empty() {
        return None;
    }

    let reporting_mta = groups
        .first()
        .and_then(|g| {
            g.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("Reporting-MTA"))
        })
        .and_then(|(_, v)| without_type(v));

    Some(Dsn {
        reporting_mta,
        original_message_id: original_message_id(mail),
        recipients,
    })
}

/// The `Message-ID` of the returned message or headers, if the bounce includes them.
fn original_message_id(mail: &ParsedMail) -> Option<String> {
    mail.attachments
        .iter()
        .filter(|a| RETURNED_MESSAGE.contains(&a.mime_type.as_str()))
        .find_map(|part| {
            // `text/rfc822-headers` may end without the blank line that ends a header block.
            let mut headers = part.content.clone();
            headers.extend_from_slice(b"\r\n\r\n");
            MessageParser::default()
                .parse_headers(&headers)
                .and_then(|m| m.message_id().and_then(normalize_message_id))
        })
}

/// RFC 3464 fields: groups separated by blank lines, each a list of `(name, value)` with
/// continuation lines unfolded.
fn field_groups(body: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = Vec::new();
    let mut group: Vec<(String, String)> = Vec::new();
    for line in body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.trim().is_empty() {
            if !group.is_empty() {
                groups.push(std::mem::take(&mut group));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = group.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            group.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// Drops a leading `type;` (`rfc822;`, `dns;`, `smtp;`, `X-Postfix;`) if there is one: the
/// part before `;` must be a single token, so a diagnostic text that merely contains a `;`
/// is left whole.
fn without_type(value: &str) -> Option<String> {
    let value = value.trim();
    let stripped = match value.split_once(';') {
        Some((kind, rest))
            if !kind.is_empty()
                && kind
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
        {
            rest.trim()
        }
        _ => value,
    };
    (!stripped.is_empty()).then(|| stripped.to_string())
}

fn unbracket(address: String) -> String {
    match address.strip_prefix('<').and_then(|a| a.strip_suffix('>')) {
        Some(inner) => inner.trim().to_string(),
        None => address,
    }
}

/// `5.1.1 (bad destination mailbox)` → `5.1.1`; `None` unless it is `class.subject.detail`
/// with class 2, 4 or 5 and one to three digits in the others (RFC 3463).
fn status_code(value: &str) -> Option<String> {
    let code = value.split_whitespace().next()?;
    let mut parts = code.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    (parts.next().is_none()
        && matches!(class, "2" | "4" | "5")
        && digits(subject)
        && digits(detail))
    .then(|| code.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(raw: &str) -> MailKind {
        match MessageParser::default().parse(raw.as_bytes()) {
            Some(message) => classify(&message),
            None => panic!("test message did not parse"),
        }
    }

    fn with_headers(extra: &str) -> String {
        format!(
            "From: Ann <ann@customer.test>\r\nTo: support@example.com\r\nSubject: hi\r\n{extra}\r\nbody\r\n"
        )
    }

    use crate::testing::parsed as mail;

    #[test]
    fn plain_mail_is_personal() {
        assert_eq!(kind(&with_headers("")), MailKind::Personal);
    }

    #[test]
    fn auto_submitted_other_than_no_is_auto() {
        for value in [
            "auto-replied",
            "auto-generated",
            "Auto-Replied; owner-email=\"a@b\"",
            "auto-notified (vacation)",
        ] {
            assert_eq!(
                kind(&with_headers(&format!("Auto-Submitted: {value}\r\n"))),
                MailKind::AutoReply,
                "{value}"
            );
        }
        assert_eq!(
            kind(&with_headers("Auto-Submitted: no\r\n")),
            MailKind::Personal
        );
        assert_eq!(
            kind(&with_headers("auto-submitted: NO (manual)\r\n")),
            MailKind::Personal
        );
    }

    #[test]
    fn x_autoreply_x_autorespond_and_precedence_auto_reply_are_auto() {
        assert_eq!(
            kind(&with_headers("X-Autoreply: yes\r\n")),
            MailKind::AutoReply
        );
        assert_eq!(
            kind(&with_headers("X-Autorespond: Out of office\r\n")),
            MailKind::AutoReply
        );
        assert_eq!(
            kind(&with_headers("Precedence: auto_reply\r\n")),
            MailKind::AutoReply
        );
    }

    #[test]
    fn x_auto_response_suppress_alone_is_not_auto() {
        assert_eq!(
            kind(&with_headers("X-Auto-Response-Suppress: All\r\n")),
            MailKind::Personal
        );
        assert_eq!(
            kind(&with_headers(
                "X-Auto-Response-Suppress: DR, OOF, AutoReply\r\n"
            )),
            MailKind::Personal
        );
    }

    #[test]
    fn list_headers_and_bulk_precedence_are_list() {
        assert_eq!(
            kind(&with_headers("List-Id: <users.lists.example.org>\r\n")),
            MailKind::List
        );
        assert_eq!(
            kind(&with_headers(
                "List-Unsubscribe: <mailto:leave@lists.example.org>\r\n"
            )),
            MailKind::List
        );
        assert_eq!(kind(&with_headers("Precedence: bulk\r\n")), MailKind::List);
        assert_eq!(kind(&with_headers("Precedence: list\r\n")), MailKind::List);
        assert_eq!(kind(&with_headers("Precedence: junk\r\n")), MailKind::List);
        assert_eq!(
            kind(&with_headers("Precedence: first-class\r\n")),
            MailKind::Personal
        );
    }

    #[test]
    fn auto_reply_wins_over_list() {
        assert_eq!(
            kind(&with_headers(
                "List-Id: <users.lists.example.org>\r\nAuto-Submitted: auto-replied\r\n"
            )),
            MailKind::AutoReply
        );
    }

    #[test]
    fn read_receipt_is_auto_not_bounce() {
        let raw = "From: ann@customer.test\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nRead.\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822; ann@customer.test\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n--b--\r\n";
        assert_eq!(kind(raw), MailKind::AutoReply);
    }

    #[test]
    fn delivery_status_from_mailer_daemon_without_report_type_is_bounce() {
        let body = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; x@y.test\r\nAction: failed\r\nStatus: 5.0.0\r\n--b--\r\n";
        for from in [
            "MAILER-DAEMON@mx.example.com",
            "postmaster@example.net",
            "Mail Delivery <Mailer-Daemon@mx.test>",
        ] {
            assert_eq!(
                kind(&format!("From: {from}\r\n{body}")),
                MailKind::Bounce,
                "{from}"
            );
        }
        // The same part from an ordinary sender is not trusted as a bounce.
        assert_eq!(
            kind(&format!("From: ann@customer.test\r\n{body}")),
            MailKind::Personal
        );
        // And MAILER-DAEMON without a delivery-status part is not a bounce either.
        assert_eq!(
            kind("From: MAILER-DAEMON@mx.example.com\r\n\r\nhello\r\n"),
            MailKind::Personal
        );
    }

    #[test]
    fn fixtures_are_classified() {
        let cases: [(&[u8], MailKind); 14] = [
            (
                include_bytes!("../../../tests/fixtures/email/first_message.eml"),
                MailKind::Personal,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/gmail_reply.eml"),
                MailKind::Personal,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/outlook_reply.eml"),
                MailKind::Personal,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/apple_reply.eml"),
                MailKind::Personal,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/latin1_portuguese.eml"),
                MailKind::Personal,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/windows1252_french.eml"),
                MailKind::Personal,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/iso2022jp.eml"),
                MailKind::Personal,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/gb18030.eml"),
                MailKind::Personal,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/html_only.eml"),
                MailKind::Personal,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/attachments.eml"),
                MailKind::Personal,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/auto_reply.eml"),
                MailKind::AutoReply,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/list_mail.eml"),
                MailKind::List,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/bounce.eml"),
                MailKind::Bounce,
            ),
            (
                include_bytes!("../../../tests/fixtures/email/bounce_exchange.eml"),
                MailKind::Bounce,
            ),
        ];
        for (i, (raw, expected)) in cases.iter().enumerate() {
            assert_eq!(mail(raw).kind, *expected, "fixture #{i}");
        }
    }

    #[test]
    fn postfix_bounce_dsn() {
        let bounce = mail(include_bytes!("../../../tests/fixtures/email/bounce.eml"));
        let dsn = parse_dsn(&bounce);
        assert_eq!(
            dsn,
            Some(Dsn {
                reporting_mta: Some("mx.example.com".into()),
                original_message_id: Some("reply-42@switchboard.test".into()),
                recipients: vec![DsnRecipient {
                    final_recipient: Some("nobody@customer.test".into()),
                    original_recipient: Some("nobody@customer.test".into()),
                    action: DsnAction::Failed,
                    status: Some("5.1.1".into()),
                    diagnostic_code: Some(
                        "550 5.1.1 <nobody@customer.test>: Recipient address rejected: User unknown in virtual mailbox table".into()
                    ),
                }],
            })
        );
    }

    #[test]
    fn exchange_bounce_dsn_with_returned_message_and_two_recipients() {
        let bounce = mail(include_bytes!(
            "../../../tests/fixtures/email/bounce_exchange.eml"
        ));
        let Some(dsn) = parse_dsn(&bounce) else {
            panic!("no DSN found")
        };
        assert_eq!(
            dsn.reporting_mta.as_deref(),
            Some("AM6PR07MB5621.eurprd07.prod.outlook.test")
        );
        // From the message/rfc822 part, not the bounce's own In-Reply-To.
        assert_eq!(
            dsn.original_message_id.as_deref(),
            Some("reply-43@switchboard.test")
        );
        assert_eq!(dsn.recipients.len(), 2);
        let failed = &dsn.recipients[0];
        assert_eq!(
            failed.final_recipient.as_deref(),
            Some("former.employee@contoso.test")
        );
        assert_eq!(failed.action, DsnAction::Failed);
        assert_eq!(failed.status.as_deref(), Some("5.1.10"));
        assert_eq!(
            failed.diagnostic_code.as_deref(),
            Some(
                "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
            )
        );
        let delayed = &dsn.recipients[1];
        assert_eq!(
            delayed.final_recipient.as_deref(),
            Some("finance-archive@contoso.test")
        );
        assert_eq!(delayed.action, DsnAction::Delayed);
        assert_eq!(delayed.status.as_deref(), Some("4.4.7"));
        assert_eq!(delayed.diagnostic_code, None);
        assert_eq!(delayed.original_recipient, None);
    }

    #[test]
    fn personal_mail_has_no_dsn() {
        let first = mail(include_bytes!(
            "../../../tests/fixtures/email/first_message.eml"
        ));
        assert_eq!(parse_dsn(&first), None);
        let auto = mail(include_bytes!(
            "../../../tests/fixtures/email/auto_reply.eml"
        ));
        assert_eq!(parse_dsn(&auto), None);
    }

    #[test]
    fn dsn_without_recipient_blocks_is_none_and_without_returned_headers_has_no_id() {
        let raw = "From: MAILER-DAEMON@mx.test\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n--b--\r\n";
        assert_eq!(parse_dsn(&mail(raw.as_bytes())), None);

        let raw = "From: MAILER-DAEMON@mx.test\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n\r\nFinal-Recipient: <x@y.test>\r\nAction: Expanded\r\nStatus: not-a-code\r\n--b--\r\n";
        let Some(dsn) = parse_dsn(&mail(raw.as_bytes())) else {
            panic!("no DSN")
        };
        assert_eq!(dsn.original_message_id, None);
        assert_eq!(
            dsn.recipients[0].final_recipient.as_deref(),
            Some("x@y.test")
        );
        assert_eq!(dsn.recipients[0].action, DsnAction::Expanded);
        assert_eq!(dsn.recipients[0].status, None);
    }

    #[test]
    fn status_codes() {
        assert_eq!(status_code("5.1.1").as_deref(), Some("5.1.1"));
        assert_eq!(
            status_code("4.4.7 (delivery time expired)").as_deref(),
            Some("4.4.7")
        );
        assert_eq!(status_code("2.0.0").as_deref(), Some("2.0.0"));
        assert_eq!(status_code("5.1.10").as_deref(), Some("5.1.10"));
        assert_eq!(status_code("3.1.1"), None);
        assert_eq!(status_code("5.1"), None);
        assert_eq!(status_code("5.1.1.1"), None);
        assert_eq!(status_code("5.1234.1"), None);
        assert_eq!(status_code("550"), None);
        assert_eq!(status_code(""), None);
    }

    #[test]
    fn type_prefixes() {
        assert_eq!(without_type("rfc822; a@b").as_deref(), Some("a@b"));
        assert_eq!(without_type("rfc822;a@b").as_deref(), Some("a@b"));
        assert_eq!(
            without_type("X-Postfix; host said: no").as_deref(),
            Some("host said: no")
        );
        assert_eq!(
            without_type("550 5.1.1 nope; really").as_deref(),
            Some("550 5.1.1 nope; really")
        );
        assert_eq!(without_type("smtp;").as_deref(), None);
        assert_eq!(without_type("a@b").as_deref(), Some("a@b"));
    }

    #[test]
    fn field_groups_unfold_and_split_on_blank_lines() {
        let groups = field_groups("A: 1\r\nB: two\r\n  more\r\n\r\n\r\nC: 3\n\tx\nnot a field\n");
        assert_eq!(
            groups,
            vec![
                vec![
                    ("A".to_string(), "1".to_string()),
                    ("B".to_string(), "two more".to_string())
                ],
                vec![("C".to_string(), "3 x".to_string())],
            ]
        );
    }
}
