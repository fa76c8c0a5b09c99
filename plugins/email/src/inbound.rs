//! One raw message → [`ParsedMail`].
//!
//! Why it exists: the host hands the channel the bytes an MTA received, in whatever charset,
//! transfer encoding and MIME structure the sender's client produced. Everything downstream
//! (classification, quote stripping, threading, the conversation the agent sees) wants the
//! same few fields as plain Rust values. MIME, RFC 2047 encoded words, RFC 2231 parameters,
//! quoted-printable/base64 and charset decoding are `mail-parser`'s job; this module picks
//! the fields, normalises message ids and chooses the text an agent reads.
//!
//! Leniency: only input that is not a message at all (no header fields) or that has no `From`
//! address is an error. Everything else (missing subject, date, ids, bodies) is `None`/empty.

use mail_parser::{
    Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use crate::classify::{MailKind, classify};
use crate::html::html_to_text;

/// Why a message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Empty input, or a body without any header fields: not an RFC 5322 message.
    #[error("not an email message: no header fields found")]
    NoHeaders,
    /// There is no `From` header, or it holds no address: there is nobody to answer.
    #[error("the message has no From address")]
    NoFrom,
}

/// An address with its display name, both decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// `user@example.com`, as written (not lower-cased: the local part is case-sensitive).
    pub address: String,
    /// The display name, if the header had one.
    pub name: Option<String>,
}

/// An attachment or inline part (an image referenced as `cid:` from the HTML, a PDF, a
/// returned message in a bounce, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The decoded file name (`Content-Disposition` `filename`, else `Content-Type` `name`).
    pub filename: Option<String>,
    /// `type/subtype`, lower-cased; `application/octet-stream` when the part has none.
    pub mime_type: String,
    /// Size of the decoded content in bytes.
    pub size: usize,
    /// The `Content-ID`, without angle brackets: what `cid:` URLs in the HTML point at.
    pub content_id: Option<String>,
    /// Meant to be shown in the body (`Content-Disposition: inline`, or no disposition and a
    /// `Content-ID`) rather than offered as a download.
    pub inline: bool,
    /// The decoded content (transfer encoding removed). For a `message/rfc822` part, the raw
    /// bytes of the enclosed message.
    pub content: Vec<u8>,
}

/// The fields of one message that the channel works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: Option<String>,
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// `In-Reply-To` ids, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// `References` ids in header order (oldest first), without angle brackets.
    pub references: Vec<String>,
    /// The `Date` header in milliseconds since the Unix epoch; `None` if absent or invalid.
    pub date: Option<i64>,
    /// The plain-text body. For HTML-only mail, the HTML rendered as plain text (see
    /// [`crate::html`]). Empty when the message has no text at all.
    pub text: String,
    /// The original HTML body, if the message has one.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub kind: MailKind,
    /// Every `Authentication-Results` header, unfolded, topmost (the newest) first.
    pub authentication_results: Vec<String>,
}

/// Parses one raw RFC 5322 message.
pub fn parse_mail(raw: &[u8]) -> Result<ParsedMail, MailError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(MailError::NoHeaders)?;
    if message.headers().is_empty() {
        return Err(MailError::NoHeaders);
    }
    let from = message
        .from()
        .and_then(|from| mailboxes(from).into_iter().next())
        .ok_or(MailError::NoFrom)?;

    Ok(ParsedMail {
        from,
        to: message.to().map(mailboxes).unwrap_or_default(),
        cc: message.cc().map(mailboxes).unwrap_or_default(),
        subject: message
            .subject()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        message_id: message.message_id().and_then(normalize_message_id),
        in_reply_to: message_ids(message.in_reply_to()),
        references: message_ids(message.references()),
        date: message
            .date()
            .filter(|date| date.is_valid())
            .map(|date| date.to_timestamp().saturating_mul(1000)),
        text: body_text(&message),
        html: body_html(&message),
        attachments: message.attachments().map(attachment).collect(),
        kind: classify(&message),
        authentication_results: message
            .headers_raw()
            .filter(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))
            .map(|(_, value)| crate::classify::unfold(value))
            .collect(),
    })
}

/// Strips surrounding whitespace and one pair of angle brackets; `None` if nothing is left.
pub fn normalize_message_id(id: &str) -> Option<String> {
    let id = id.trim();
    let id = id
        .strip_prefix('<')
        .and_then(|id| id.strip_suffix('>'))
        .unwrap_or(id)
        .trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// The ids of a `Message-ID`-style header, in header order.
fn message_ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => normalize_message_id(id).into_iter().collect(),
        HeaderValue::TextList(ids) => ids
            .iter()
            .filter_map(|id| normalize_message_id(id))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every address of an address header, groups flattened; entries without an address (a bare
/// group name, an unparsable fragment) are skipped.
fn mailboxes(address: &Address<'_>) -> Vec<Mailbox> {
    address
        .iter()
        .filter_map(|addr| {
            let address = addr.address()?.trim();
            (!address.is_empty()).then(|| Mailbox {
                address: address.to_string(),
                name: addr
                    .name()
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_string),
            })
        })
        .collect()
}

/// The plain text of all text body parts, HTML ones rendered as text, joined by a blank line.
fn body_text(message: &Message<'_>) -> String {
    let parts: Vec<String> = message
        .text_bodies()
        .filter_map(|part| match &part.body {
            PartType::Text(text) => Some(text.replace("\r\n", "\n")),
            PartType::Html(html) => Some(html_to_text(html)),
            _ => None,
        })
        .map(|text| text.trim_end().to_string())
        .filter(|text| !text.is_empty())
        .collect();
    parts.join("\n\n")
}

/// The original HTML of the HTML body parts (not mail-parser's HTML rendering of text parts).
fn body_html(message: &Message<'_>) -> Option<String> {
    let parts: Vec<&str> = message
        .html_bodies()
        .filter_map(|part| match &part.body {
            PartType::Html(html) => Some(html.as_ref()),
            _ => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

fn attachment(part: &MessagePart<'_>) -> Attachment {
    let mime_type = part.content_type().map_or_else(
        || "application/octet-stream".to_string(),
        |ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
    );
    let content_id = part.content_id().and_then(normalize_message_id);
    let disposition = part
        .content_disposition()
        .map(|cd| cd.ctype().to_ascii_lowercase());
    let inline = match disposition.as_deref() {
        Some("inline") => true,
        Some(_) => false,
        None => content_id.is_some(),
    };
    let content = part.contents().to_vec();
    Attachment {
        filename: part
            .attachment_name()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_string),
        mime_type,
        size: content.len(),
        content_id,
        inline,
        content,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::parsed as fixture;

    /// Milliseconds since the epoch for a UTC date and time (civil-from-days, Howard Hinnant),
    /// so the date assertions do not repeat the code under test.
    fn utc_ms(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        ((days * 86_400) + hh * 3600 + mm * 60 + ss) * 1000
    }

    #[test]
    fn first_customer_message() {
        let mail = fixture(include_bytes!(
            "../../../tests/fixtures/email/first_message.eml"
        ));
        assert_eq!(
            mail.from,
            Mailbox {
                address: "zoe.mueller@customer.test".into(),
                name: Some("Zoë Müller".into())
            }
        );
        assert_eq!(
            mail.to,
            vec![Mailbox {
                address: "support@example.com".into(),
                name: Some("Switchboard Support".into())
            }]
        );
        assert!(mail.cc.is_empty());
        assert_eq!(mail.subject.as_deref(), Some("Order #1042 arrived damaged"));
        assert_eq!(
            mail.message_id.as_deref(),
            Some("5f1c2a9e-0b7d-4c1e-9a43-first@customer.test")
        );
        assert!(mail.in_reply_to.is_empty());
        assert!(mail.references.is_empty());
        // Mon, 2 Mar 2026 09:41:02 +0100
        assert_eq!(mail.date, Some(utc_ms(2026, 3, 2, 8, 41, 2)));
        assert!(
            mail.text
                .starts_with("Hello,\n\nmy order #1042 (the “Nordlicht” lamp, 89,90 €)")
        );
        assert!(
            mail.text.contains("\n-- \nZoë Müller\nGrünstraße 12"),
            "{:?}",
            mail.text
        );
        assert!(!mail.text.contains('\r'));
        assert_eq!(mail.html, None);
        assert!(mail.attachments.is_empty());
        assert_eq!(mail.kind, MailKind::Personal);
    }

    #[test]
    fn gmail_reply_headers_and_alternative_bodies() {
        let mail = fixture(include_bytes!(
            "../../../tests/fixtures/email/gmail_reply.eml"
        ));
        assert_eq!(mail.in_reply_to, vec!["reply-41@switchboard.test"]);
        assert_eq!(
            mail.references,
            vec![
                "5f1c2a9e-0b7d-4c1e-9a43-first@customer.test",
                "reply-41@switchboard.test"
            ]
        );
        assert_eq!(
            mail.message_id.as_deref(),
            Some("CAF7x0q1sLk2vR9Yq3mZ+8bXgW1d=Hp4xJt5uV6wO7N8aB9cD0e@mail.gmail.test")
        );
        assert_eq!(
            mail.cc,
            vec![
                Mailbox {
                    address: "max.mueller@customer.test".into(),
                    name: Some("Max Müller".into())
                },
                Mailbox {
                    address: "orders@customer.test".into(),
                    name: None
                },
            ]
        );
        // The text part is used as is (not the HTML rendering) ...
        assert!(mail.text.starts_with("Thank you! The replacement can go to the same address.\n\nOn Tue, Mar 3, 2026 at 10:15\u{202f}AM Switchboard Support <\nsupport@example.com> wrote:"));
        // ... and the HTML part is kept, decoded from quoted-printable.
        let html = mail.html.as_deref().unwrap_or_default();
        assert!(html.starts_with("<div dir=\"ltr\">Thank you!"), "{html}");
        assert!(html.contains("class=\"gmail_quote"));
        assert_eq!(mail.date, Some(utc_ms(2026, 3, 3, 10, 2, 45)));
        assert_eq!(mail.kind, MailKind::Personal);
    }

    #[test]
    fn outlook_reply_without_in_reply_to_keeps_the_plus_address() {
        let mail = fixture(include_bytes!(
            "../../../tests/fixtures/email/outlook_reply.eml"
        ));
        assert!(mail.in_reply_to.is_empty());
        assert!(mail.references.is_empty());
        // A folded Message-ID header (id on the continuation line) still parses.
        assert_eq!(
            mail.message_id.as_deref(),
            Some(
                "AM6PR07MB5621E1A2B3C4D5E6F7A8B9C0D1E2F3A4@AM6PR07MB5621.eurprd07.prod.outlook.test"
            )
        );
        assert_eq!(mail.to.len(), 1);
        assert_eq!(mail.to[0].address, "support+Tk7q2Xw9@example.com");
        assert_eq!(
            mail.subject.as_deref(),
            Some("RE: Your ticket about a missing invoice")
        );
        // X-Auto-Response-Suppress alone does not make a personal reply automatic.
        assert_eq!(mail.kind, MailKind::Personal);
        assert!(
            mail.text
                .contains("________________________________\nFrom: Switchboard Support")
        );
    }

    #[test]
    fn apple_mail_reply() {
        let mail = fixture(include_bytes!(
            "../../../tests/fixtures/email/apple_reply.eml"
        ));
        assert_eq!(mail.from.name.as_deref(), Some("Priya Raman"));
        assert_eq!(mail.in_reply_to, vec!["reply-77@switchboard.test"]);
        assert_eq!(
            mail.references,
            vec!["reply-76@switchboard.test", "reply-77@switchboard.test"]
        );
        // Wed, 4 Mar 2026 08:05:33 +0530
        assert_eq!(mail.date, Some(utc_ms(2026, 3, 4, 2, 35, 33)));
        assert!(
            mail.text
                .contains("Sent from my iPhone\n\n> On 3 Mar 2026, at 18:30,")
        );
    }

    #[test]
    fn iso_8859_1_quoted_printable_portuguese() {
        let mail = fixture(include_bytes!(
            "../../../tests/fixtures/email/latin1_portuguese.eml"
        ));
        assert_eq!(mail.from.name.as_deref(), Some("João Conceição"));
        assert_eq!(
            mail.subject.as_deref(),
            Some("Re: Encomenda nº 1042 não chegou")
        );
        assert!(
            mail.text.starts_with(
                "Olá,\n\nA minha encomenda nº 1042 ainda não chegou. Já passaram três semanas.\n"
            ),
            "{:?}",
            mail.text
        );
        assert!(mail.text.contains("Em ter., 3 de mar. de 2026 às 10:15"));
        // Wed, 4 Mar 2026 16:12:09 -0300
        assert_eq!(mail.date, Some(utc_ms(2026, 3, 4, 19, 12, 9)));
    }

    #[test]
    fn windows_1252_curly_quotes_euro_and_dash() {
        let mail = fixture(include_bytes!(
            "../../../tests/fixtures/email/windows1252_french.eml"
        ));
        assert_eq!(mail.from.name.as_deref(), Some("Élodie François"));
        // 0x96 in Windows-1252 is an en dash (it is a C1 control in ISO-8859-1).
        assert_eq!(
            mail.subject.as_deref(),
            Some("Double débit – commande 3307")
        );
        assert!(mail.text.contains("J’ai été débité deux fois : 49,00 € le 1er mars et 49,00 € le 2 mars – pouvez-vous vérifier ?"), "{:?}", mail.text);
        assert!(mail.text.contains("« facture en double »"));
        assert_eq!(
            mail.message_id.as_deref(),
            Some("000001dc8c7a$1f2e3d40$5d6c7b80$@client.test")
        );
    }

    #[test]
    fn iso_2022_jp_japanese() {
        let mail = fixture(include_bytes!(
            "../../../tests/fixtures/email/iso2022jp.eml"
        ));
        assert_eq!(mail.from.name.as_deref(), Some("山田太郎"));
        assert_eq!(mail.subject.as_deref(), Some("注文について"));
        assert_eq!(
            mail.text,
            "サポートご担当者様\n\nお世話になっております。\n注文番号1042の商品がまだ届いていません。\nご確認いただけますでしょうか。\n\n山田太郎"
        );
    }

    #[test]
    fn gb18030_chinese_with_a_four_byte_sequence() {
        let mail = fixture(include_bytes!("../../../tests/fixtures/email/gb18030.eml"));
        assert_eq!(mail.from.name.as_deref(), Some("李明"));
        assert_eq!(mail.subject.as_deref(), Some("退款申请 订单1042"));
        // 🙂 is a four-byte GB18030 sequence: GBK alone could not decode it.
        assert_eq!(
            mail.text,
            "您好，\n\n我想申请订单1042的退款，商品有质量问题。\n请尽快处理，谢谢 🙂\n\n李明"
        );
        assert!(!mail.text.contains('\u{fffd}'));
    }

    #[test]
    fn html_only_mail_is_rendered_as_plain_text() {
        let mail = fixture(include_bytes!(
            "../../../tests/fixtures/email/html_only.eml"
        ));
        assert_eq!(
            mail.text,
            concat!(
                "Return request\n\n",
                "Hello team,\n\n",
                "I’d like to return these items & get a refund of €42 total:\n\n",
                "- Blue mug – 2×\n",
                "- Tea towel\n\n",
                "Order: view order #1042 (https://shop.example.com/orders/1042?ref=mail&lang=en)\n",
                "Café <Ernesto> “Hamburg”\n\n",
                "Regards,\n",
                "Lena\n\n",
                "Sent via the shop contact form"
            )
        );
        let html = mail.html.as_deref().unwrap_or_default();
        assert!(html.contains("<script type=\"text/javascript\">"));
        assert!(html.contains("<li>Tea towel</li>"));
    }

    #[test]
    fn html_only_rendering_drops_scripts_styles_and_the_head() {
        let mail = fixture(include_bytes!(
            "../../../tests/fixtures/email/html_only.eml"
        ));
        for hidden in [
            "window.track",
            "font-family",
            "Support request",
            "<",
            "&amp;",
            "&nbsp;",
        ] {
            assert!(
                !mail.text.contains(hidden) || (hidden == "<" && mail.text.contains("<Ernesto>")),
                "{hidden:?} leaked into {:?}",
                mail.text
            );
        }
        assert_eq!(
            mail.text.matches('<').count(),
            1,
            "only the decoded &lt; remains"
        );
    }

    #[test]
    fn attachments_pdf_and_inline_image() {
        let mail = fixture(include_bytes!(
            "../../../tests/fixtures/email/attachments.eml"
        ));
        assert_eq!(mail.attachments.len(), 2, "{:#?}", mail.attachments);

        let image = &mail.attachments[0];
        assert_eq!(image.mime_type, "image/png");
        assert_eq!(image.filename.as_deref(), Some("logo.png"));
        assert_eq!(image.content_id.as_deref(), Some("logo-1042@customer.test"));
        assert!(image.inline);
        assert_eq!(image.size, image.content.len());
        assert!(image.content.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(image.content.ends_with(b"IEND\xaeB`\x82"));

        let pdf = &mail.attachments[1];
        assert_eq!(pdf.mime_type, "application/pdf");
        // RFC 2231 `filename*` wins over the `name` parameter, and is percent-decoded.
        assert_eq!(pdf.filename.as_deref(), Some("Rechnung-März-1042.pdf"));
        assert_eq!(pdf.content_id, None);
        assert!(!pdf.inline);
        assert!(pdf.content.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.content.ends_with(b"%%EOF\n"));
        assert_eq!(pdf.size, 125);

        // The HTML references the inline image by the same id.
        let html = mail.html.as_deref().unwrap_or_default();
        assert!(html.contains("src=\"cid:logo-1042@customer.test\""));
        assert!(mail.text.starts_with("Hi,\n\nattached is the invoice"));
        assert!(mail.text.ends_with("Kind regards,\nZoë"));
    }

    #[test]
    fn auto_reply_list_and_bounce_fixtures_parse_with_their_kind() {
        let auto = fixture(include_bytes!(
            "../../../tests/fixtures/email/auto_reply.eml"
        ));
        assert_eq!(auto.kind, MailKind::AutoReply);
        assert_eq!(auto.in_reply_to, vec!["reply-42@switchboard.test"]);

        let list = fixture(include_bytes!(
            "../../../tests/fixtures/email/list_mail.eml"
        ));
        assert_eq!(list.kind, MailKind::List);

        let bounce = fixture(include_bytes!("../../../tests/fixtures/email/bounce.eml"));
        assert_eq!(bounce.kind, MailKind::Bounce);
        assert_eq!(bounce.from.address, "MAILER-DAEMON@mx.example.com");
        // The returned headers' In-Reply-To is not mistaken for the bounce's own.
        assert!(bounce.in_reply_to.is_empty());
        assert!(
            bounce
                .text
                .starts_with("This is the mail system at host mx.example.com.")
        );
        let types: Vec<&str> = bounce
            .attachments
            .iter()
            .map(|a| a.mime_type.as_str())
            .collect();
        assert_eq!(
            types,
            vec!["message/delivery-status", "text/rfc822-headers"]
        );
    }

    #[test]
    fn message_ids_are_trimmed_and_unbracketed() {
        assert_eq!(normalize_message_id("  <a@b>  ").as_deref(), Some("a@b"));
        assert_eq!(normalize_message_id("< a@b >").as_deref(), Some("a@b"));
        assert_eq!(normalize_message_id("a@b").as_deref(), Some("a@b"));
        assert_eq!(normalize_message_id("<>"), None);
        assert_eq!(normalize_message_id("   "), None);

        let mail = fixture(
            b"From: a@b.test\r\nMessage-ID:   <x1@b.test>  \r\nIn-Reply-To: <p1@b.test>\r\n \
              <p2@b.test>\r\nReferences: <r1@b.test>\r\n\t<r2@b.test> <r3@b.test>\r\n\r\nhi\r\n",
        );
        assert_eq!(mail.message_id.as_deref(), Some("x1@b.test"));
        assert_eq!(mail.in_reply_to, vec!["p1@b.test", "p2@b.test"]);
        assert_eq!(mail.references, vec!["r1@b.test", "r2@b.test", "r3@b.test"]);
    }

    #[test]
    fn no_headers_is_an_error() {
        assert_eq!(parse_mail(b""), Err(MailError::NoHeaders));
        assert_eq!(
            parse_mail(b"just some text\r\nwithout headers\r\n"),
            Err(MailError::NoHeaders)
        );
        assert_eq!(
            parse_mail(b"\r\nbody after an empty header block\r\n"),
            Err(MailError::NoHeaders)
        );
    }

    #[test]
    fn no_from_is_an_error() {
        assert_eq!(
            parse_mail(b"To: a@b.test\r\nSubject: hi\r\n\r\nbody\r\n"),
            Err(MailError::NoFrom)
        );
        assert_eq!(
            parse_mail(b"From: Undisclosed\r\nSubject: hi\r\n\r\nbody\r\n"),
            Err(MailError::NoFrom)
        );
        assert_eq!(
            parse_mail(b"From: \r\n\r\nbody\r\n"),
            Err(MailError::NoFrom)
        );
    }

    #[test]
    fn minimal_mail_is_accepted_leniently() {
        let mail = fixture(b"From: someone@b.test\r\n\r\n");
        assert_eq!(mail.from.address, "someone@b.test");
        assert_eq!(mail.from.name, None);
        assert_eq!(mail.subject, None);
        assert_eq!(mail.message_id, None);
        assert_eq!(mail.date, None);
        assert_eq!(mail.text, "");
        assert_eq!(mail.html, None);
        assert_eq!(mail.kind, MailKind::Personal);
    }

    #[test]
    fn invalid_date_is_none_not_an_error() {
        let mail = fixture(b"From: a@b.test\r\nDate: sometime next week\r\n\r\nhi\r\n");
        assert_eq!(mail.date, None);
        assert_eq!(mail.text, "hi");
    }

    #[test]
    fn group_syntax_and_first_from_address() {
        let mail = fixture(
            b"From: First <first@b.test>, second@b.test\r\n\
              To: team: ann@b.test, Bob <bob@b.test>;, carol@b.test\r\n\r\nhi\r\n",
        );
        assert_eq!(mail.from.address, "first@b.test");
        let to: Vec<&str> = mail.to.iter().map(|m| m.address.as_str()).collect();
        assert_eq!(to, vec!["ann@b.test", "bob@b.test", "carol@b.test"]);
    }
}
