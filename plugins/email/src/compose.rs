//! An agent's reply → the mail the relay sends (`switchboard:channel/mail.send`). Pure: the
//! instance's settings and the time come in as arguments, so it is tested natively by parsing
//! the bytes back with `mail-parser`.
//!
//! What the mail carries, and why:
//!
//! - `From`: the instance's `from` setting, and `MAIL FROM` its bare address, so that bounces
//!   come back to an address the channel serves and fail the reply they report on.
//! - `Subject`: `Re: ` and the conversation's subject, unless that already starts with a reply
//!   prefix (`Re:`, `Aw:`, `Sv:`, `Antw:`, any case), so clients group the mail with the thread.
//! - `Message-ID`: `<sb.{message id}@{from domain}>`, made from the host's message id and not
//!   at random: the outbox retries a send that failed half-way with the same id, and a relay
//!   or the customer's client that already has the first attempt recognises the second.
//! - `In-Reply-To` and `References`: the conversation's earlier ids, so the reply threads in
//!   the customer's client and the customer's answer names a message the host knows.
//! - `Reply-To`: `{local}+{token}@{domain}` when the conversation has a reply token, for the
//!   clients (Outlook) that answer without `In-Reply-To`: the token in the address they answer
//!   to still finds the conversation ([`crate::threading::plus_token`]).
//! - The body: the text as `text/plain` (UTF-8), and as a `text/html` alternative with the
//!   text escaped and line breaks kept, so HTML clients do not reflow it into one paragraph.
//!
//! Everything but `Date` is a function of the message and the thread, boundary included: two
//! calls with the same arguments give the same bytes.

use crate::inbound::{normalize_message_id, Mailbox};
use crate::threading::is_token;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use mail_parser::MessageParser;
use switchboard_sdk::prelude::*;

/// The instance settings a reply is composed with (`[config]` `from` and `default_subject`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings<'a> {
    /// The sender, `Acme Support <support@example.com>` or a bare address. Required.
    pub from: Option<&'a str>,
    /// The subject of a reply in a conversation that has none.
    pub default_subject: Option<&'a str>,
}

/// A composed reply: what to hand to `outbound-mail.send`, and the receipt's external id.
#[derive(Debug, Clone)]
pub struct Composed {
    pub envelope: RelayEnvelope,
    /// The whole RFC 5322 message.
    pub raw: Vec<u8>,
    /// The `Message-ID` without angle brackets: a customer's reply names it in `In-Reply-To`,
    /// and a bounce reports on it.
    pub external_id: String,
}

/// The subject when neither the conversation nor `default_subject` has one.
pub const FALLBACK_SUBJECT: &str = "Re: your message";

/// How many ids `References` keeps: the first (the conversation's root) and the latest ones.
/// Long threads would otherwise grow the header without bound; clients thread on the root and
/// the latest ids (RFC 5322 §3.6.4 leaves trimming to the sender, as common clients do).
pub const MAX_REFERENCES: usize = 20;

/// Compose `message` as a reply in the conversation `thread` describes, dated `now_ms`.
///
/// Errors, none retryable (a retry would compose the same mail): a missing or unreadable
/// `from` (`other`, naming the setting), a recipient without a usable address
/// (`invalid-recipient`), a template (`unsupported`: mail has none).
pub fn compose(message: &OutboundMessage, thread: &ThreadContext, settings: &Settings<'_>, now_ms: u64) -> Result<Composed, SendError> {
    let from = sender(settings.from)?;
    let to = recipient(&message.recipient)?;
    let (text, html) = bodies(&message.content)?;
    let external_id = message_id(&message.message_id, &from.address)?;
    let references = references(&thread.references, message.reply_to.as_deref());
    let boundary = boundary(&external_id, &[&text, &html]);

    let mut builder = MessageBuilder::new()
        .date(Date::new(i64::try_from(now_ms / 1000).unwrap_or(i64::MAX)))
        .from(address(&from))
        .to(address(&to));
    if let Some(reply_to) = reply_to(&from, thread.token.as_deref()) {
        builder = builder.reply_to(address(&reply_to));
    }
    builder = builder
        .subject(reply_subject(thread.subject.as_deref(), settings.default_subject))
        .message_id(external_id.clone());
    if let Some(last) = references.last() {
        builder = builder.in_reply_to(last.clone()).references(MessageId::new_list(references.iter().cloned()));
    }
    // Text is encoded in its canonical form, CRLF line breaks (RFC 2045 §6.8): a base64 part
    // would otherwise carry bare LFs, which some clients show as one line.
    let body = MimePart::new(
        ContentType::new("multipart/alternative").attribute("boundary", boundary),
        vec![MimePart::new("text/plain", crlf(&text)), MimePart::new("text/html", crlf(&html))],
    );
    let mut raw = Vec::new();
    builder.body(body).serialize(&mut raw);

    Ok(Composed {
        envelope: RelayEnvelope { mail_from: from.address, rcpt_to: vec![to.address] },
        raw,
        external_id,
    })
}

fn address(mailbox: &Mailbox) -> Address<'static> {
    Address::new_address(mailbox.name.clone(), mailbox.address.clone())
}

/// The `from` setting as a mailbox. It must be one plain ASCII address (the domain names our
/// `Message-ID`s, which must be ASCII), with or without a display name.
fn sender(from: Option<&str>) -> Result<Mailbox, SendError> {
    const EXAMPLE: &str = "e.g. `Acme Support <support@example.com>`";
    let value = from.map(str::trim).filter(|value| !value.is_empty()).ok_or_else(|| {
        SendError::new(SendErrorKind::Other, format!("config value `from` is not set: set it to the address replies are sent from, {EXAMPLE}"), false)
    })?;
    parse_mailbox(value).filter(|mailbox| mailbox.address.is_ascii()).ok_or_else(|| {
        SendError::new(SendErrorKind::Other, format!("config value `from` (`{value}`) is not one ASCII email address, {EXAMPLE}"), false)
    })
}

/// One mailbox, `Name <address>` or a bare address, parsed the way a `From` header is (quoted
/// names and encoded words included). `None` for anything that is not exactly one address.
pub fn parse_mailbox(value: &str) -> Option<Mailbox> {
    // A line break would end the header we parse it as, and start another.
    if value.contains(['\r', '\n']) {
        return None;
    }
    let header = format!("From: {value}\r\n\r\n");
    let message = MessageParser::default().parse(header.as_bytes())?;
    let from = message.from()?;
    let mut addresses = from.iter();
    let first = addresses.next()?;
    if addresses.next().is_some() {
        return None;
    }
    let address = first.address()?.trim();
    is_address(address).then(|| Mailbox { address: address.to_string(), name: first.name().and_then(clean_phrase) })
}

/// Whether `address` is a plain `local@domain` address that is safe in a header and an SMTP
/// envelope: no spaces, control characters or specials, a dot-atom local part (quoted local
/// parts are not supported) and a domain of labels. Non-ASCII is allowed (SMTPUTF8); the relay
/// refuses it if it cannot carry it.
pub fn is_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else { return false };
    let atext = |c: char| !c.is_ascii() || c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom = |part: &str, allowed: &dyn Fn(char) -> bool| {
        !part.is_empty() && part.split('.').all(|atom| !atom.is_empty() && atom.chars().all(allowed))
    };
    let label = |c: char| !c.is_ascii() || c.is_ascii_alphanumeric() || c == '-';
    dot_atom(local, &atext) && dot_atom(domain, &label) && !address.chars().any(char::is_control)
}

/// The contact's address: its `email`, else its id (an email party's id is its address).
fn recipient(party: &Party) -> Result<Mailbox, SendError> {
    let given = party.email.as_deref().map(str::trim).filter(|email| !email.is_empty()).unwrap_or(party.id.trim());
    let address = normalize_message_id(given).unwrap_or_default();
    if !is_address(&address) {
        return Err(SendError::new(
            SendErrorKind::InvalidRecipient,
            format!("the contact's email address `{given}` is not an address mail can be sent to"),
            false,
        ));
    }
    Ok(Mailbox { address, name: party.display_name.as_deref().and_then(clean_phrase) })
}

/// A display name or subject on one line: runs of whitespace (line breaks included) become one
/// space. `None` when nothing is left.
fn clean_phrase(text: &str) -> Option<String> {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!joined.is_empty()).then_some(joined)
}

/// `Re: {subject}`, unless the subject already starts with a reply prefix; `default` (as
/// written) when there is no subject, else [`FALLBACK_SUBJECT`].
pub fn reply_subject(subject: Option<&str>, default: Option<&str>) -> String {
    match subject.and_then(clean_phrase) {
        Some(subject) if has_reply_prefix(&subject) => subject,
        Some(subject) => format!("Re: {subject}"),
        None => default.and_then(clean_phrase).unwrap_or_else(|| FALLBACK_SUBJECT.to_string()),
    }
}

/// Whether `subject` starts with a reply prefix: `Re`, `Aw` (German), `Sv` (Scandinavian) or
/// `Antw` (Dutch), in any case, optionally counted (`Re[2]`), then `:`.
fn has_reply_prefix(subject: &str) -> bool {
    let Some((prefix, _)) = subject.split_once(':') else { return false };
    let prefix = prefix.trim_end();
    let prefix = match prefix.strip_suffix(']').and_then(|p| p.rsplit_once('[')) {
        Some((word, count)) if count.chars().all(|c| c.is_ascii_digit()) => word,
        _ => prefix,
    };
    ["re", "aw", "sv", "antw"].iter().any(|word| prefix.eq_ignore_ascii_case(word))
}

/// `sb.{id}@{domain of from}`, the host's id escaped to characters every `Message-ID` parser
/// takes: ASCII letters, digits, `-` and `_` as they are, every other byte as `=XX`. The escape
/// is reversible, so two host ids never share a `Message-ID`.
fn message_id(host_id: &str, from_address: &str) -> Result<String, SendError> {
    if host_id.is_empty() {
        return Err(SendError::new(SendErrorKind::InvalidRequest, "the message has no id to derive its Message-ID from", false));
    }
    let domain = from_address.rsplit_once('@').map_or("localhost", |(_, domain)| domain).to_ascii_lowercase();
    let mut id = String::with_capacity(host_id.len() + domain.len() + 4);
    id.push_str("sb.");
    for byte in host_id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            id.push(char::from(byte));
        } else {
            id.push_str(&format!("={byte:02X}"));
        }
    }
    id.push('@');
    id.push_str(&domain);
    Ok(id)
}

/// The ids for `References`, oldest first, without angle brackets: the thread's, or, when it
/// has none, the message the reply answers. Ids that would break the header (spaces, angle
/// brackets, control characters) are dropped, repeats keep their latest place (the last id is
/// the one replied to), and more than [`MAX_REFERENCES`] are cut to the first and the latest.
fn references(thread: &[String], reply_to: Option<&str>) -> Vec<String> {
    let usable = |id: &String| !id.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    let mut ids: Vec<String> = thread.iter().filter_map(|id| normalize_message_id(id)).filter(usable).collect();
    if ids.is_empty() {
        ids.extend(reply_to.and_then(normalize_message_id).filter(usable));
    }
    let mut latest_first: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids.into_iter().rev() {
        if !latest_first.contains(&id) {
            latest_first.push(id);
        }
    }
    latest_first.reverse();
    let ids = latest_first;
    if ids.len() <= MAX_REFERENCES {
        return ids;
    }
    let mut capped = Vec::with_capacity(MAX_REFERENCES);
    capped.extend(ids.first().cloned());
    capped.extend(ids[ids.len() - (MAX_REFERENCES - 1)..].iter().cloned());
    capped
}

/// The plus-address of `from` with the conversation's token (`support+tok@example.com`), under
/// `from`'s name. None without a token, or with one [`crate::threading::plus_token`] would not
/// read back (then the reply still threads by `In-Reply-To`).
fn reply_to(from: &Mailbox, token: Option<&str>) -> Option<Mailbox> {
    let token = token?.trim();
    if !is_token(token) {
        return None;
    }
    let (local, domain) = from.address.rsplit_once('@')?;
    // `from` may itself be a plus-address; the token replaces its tag.
    let base = local.split_once('+').map_or(local, |(base, _)| base);
    Some(Mailbox { address: format!("{base}+{token}@{domain}"), name: from.name.clone() })
}

/// The plain text and HTML bodies of `content`. Media goes as its caption and a link: the mail
/// cannot attach what only the host could fetch.
fn bodies(content: &OutboundContent) -> Result<(String, String), SendError> {
    match content {
        OutboundContent::Text(text) => {
            let text = text.replace("\r\n", "\n");
            let html = html_document(&escape_html(&text));
            Ok((text, html))
        }
        OutboundContent::Media(media) => {
            let label = media.filename.as_deref().and_then(clean_phrase).unwrap_or_else(|| "Attachment".to_string());
            let caption = media.caption.as_deref().map(|c| c.replace("\r\n", "\n")).filter(|c| !c.trim().is_empty());
            let url = media.url.trim();
            let mut text = String::new();
            let mut html = String::new();
            if let Some(caption) = &caption {
                text.push_str(caption);
                text.push_str("\n\n");
                html.push_str(&escape_html(caption));
                html.push_str("<br>\n<br>\n");
            }
            text.push_str(&format!("{label}: {url}"));
            let is_web = url.starts_with("https://") || url.starts_with("http://");
            if is_web {
                html.push_str(&format!("<a href=\"{}\">{}</a>", escape_html(url), escape_html(&label)));
            } else {
                html.push_str(&escape_html(&format!("{label}: {url}")));
            }
            Ok((text, html_document(&html)))
        }
        OutboundContent::Template(_) => Err(SendError::new(
            SendErrorKind::Unsupported,
            "email has no message templates: send the text instead",
            false,
        )),
    }
}

/// `text` with every line break as CRLF.
fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// `text` safe inside HTML, line breaks as `<br>`.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn html_document(body: &str) -> String {
    format!("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body><div dir=\"auto\">{body}</div></body></html>\n")
}

/// A MIME boundary from the message's id (FNV-1a), so the bytes are reproducible. It starts
/// with `=_`, which quoted-printable always escapes and base64 never produces; a part sent as
/// plain 7-bit text could still contain it, so a counter is added until no part does.
fn boundary(id: &str, parts: &[&str]) -> String {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    let base = format!("=_sb_{hash:016x}");
    let mut candidate = base.clone();
    let mut n = 0u32;
    while parts.iter().any(|part| part.contains(&candidate)) {
        n += 1;
        candidate = format!("{base}_{n}");
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::parsed;
    use mail_parser::{HeaderValue, MessageParser};

    const FROM: &str = "Acme Support <support@example.com>";
    const NOW_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn settings() -> Settings<'static> {
        Settings { from: Some(FROM), default_subject: None }
    }

    fn party(email: &str, name: Option<&str>) -> Party {
        Party { id: email.to_lowercase(), phone: None, email: Some(email.into()), display_name: name.map(Into::into), username: None }
    }

    fn text_message(id: &str, text: &str) -> OutboundMessage {
        OutboundMessage {
            message_id: id.into(),
            recipient: party("ana@customer.test", Some("Ana Lima")),
            content: OutboundContent::Text(text.into()),
            reply_to: None,
        }
    }

    fn thread(subject: Option<&str>, references: &[&str], token: Option<&str>) -> ThreadContext {
        ThreadContext {
            subject: subject.map(Into::into),
            references: references.iter().map(|r| r.to_string()).collect(),
            token: token.map(Into::into),
        }
    }

    fn composed(message: &OutboundMessage, thread: &ThreadContext) -> Composed {
        match compose(message, thread, &settings(), NOW_MS) {
            Ok(composed) => composed,
            Err(error) => panic!("compose failed: {error:?}"),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_reply_parses_back_with_every_threading_header() {
        let message = text_message("msg-42", "Hello Ana,\nyour order shipped.\n\nAcme");
        let thread = thread(Some("Where is my order?"), &["first@customer.test", "sb.msg-41@example.com", "second@customer.test"], Some("Tk7q2Xw9"));
        let out = composed(&message, &thread);

        assert_eq!(out.external_id, "sb.msg-42@example.com");
        assert_eq!(out.envelope.mail_from, "support@example.com");
        assert_eq!(out.envelope.rcpt_to, strings(&["ana@customer.test"]));

        let mail = parsed(&out.raw);
        assert_eq!(mail.from, Mailbox { address: "support@example.com".into(), name: Some("Acme Support".into()) });
        assert_eq!(mail.to, vec![Mailbox { address: "ana@customer.test".into(), name: Some("Ana Lima".into()) }]);
        assert_eq!(mail.subject.as_deref(), Some("Re: Where is my order?"));
        assert_eq!(mail.message_id.as_deref(), Some("sb.msg-42@example.com"));
        assert_eq!(mail.in_reply_to, strings(&["second@customer.test"]));
        assert_eq!(mail.references, strings(&["first@customer.test", "sb.msg-41@example.com", "second@customer.test"]));
        assert_eq!(mail.text, "Hello Ana,\nyour order shipped.\n\nAcme");
        let html = mail.html.unwrap_or_default().replace("\r\n", "\n");
        assert!(html.contains("Hello Ana,<br>\nyour order shipped."), "{html}");
        assert_eq!(mail.date, Some(NOW_MS as i64));
        assert_eq!(mail.kind, crate::classify::MailKind::Personal, "our own reply is not an auto-reply");

        let message = MessageParser::default().parse(&out.raw).unwrap_or_default();
        let reply_to = message.reply_to().and_then(|r| r.first()).and_then(|a| a.address()).map(str::to_string);
        assert_eq!(reply_to.as_deref(), Some("support+Tk7q2Xw9@example.com"));
        // What the customer's answer to the Reply-To address reads back as.
        assert_eq!(crate::threading::plus_token(&strings(&["support+Tk7q2Xw9@example.com"]), &strings(&["support@example.com"])), Some("Tk7q2Xw9".into()));
    }

    #[test]
    fn a_retry_composes_the_same_mail() {
        let message = text_message("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "Same text");
        let thread = thread(Some("Hi"), &["a@x.test"], None);
        let first = composed(&message, &thread);
        let again = composed(&message, &thread);
        assert_eq!(first.external_id, again.external_id);
        assert_eq!(first.raw, again.raw, "boundary and headers are derived, not random");
        let later = compose(&message, &thread, &settings(), NOW_MS + 60_000).map(|c| c.external_id).ok();
        assert_eq!(later.as_deref(), Some(first.external_id.as_str()), "a later retry keeps the Message-ID");
        let other = composed(&text_message("another", "Same text"), &thread);
        assert_ne!(other.external_id, first.external_id);
    }

    #[test]
    fn re_is_not_doubled_and_a_missing_subject_has_a_default() {
        for (subject, expected) in [
            ("Re: Order 12", "Re: Order 12"),
            ("RE: Order 12", "RE: Order 12"),
            ("re : Order 12", "re : Order 12"),
            ("Aw: Bestellung", "Aw: Bestellung"),
            ("SV: Beställning", "SV: Beställning"),
            ("Re[2]: Order", "Re[2]: Order"),
            ("Order 12", "Re: Order 12"),
            ("Reorder: 12 boxes", "Re: Reorder: 12 boxes"),
            ("Fwd: Invoice", "Re: Fwd: Invoice"),
            ("  Two\r\n lines  ", "Re: Two lines"),
        ] {
            assert_eq!(reply_subject(Some(subject), None), expected, "{subject}");
        }
        assert_eq!(reply_subject(None, None), FALLBACK_SUBJECT);
        assert_eq!(reply_subject(Some("  "), Some("Your request at Acme")), "Your request at Acme");
        let mail = parsed(&composed(&text_message("m", "x"), &thread(Some("Re: Order 12"), &[], None)).raw);
        assert_eq!(mail.subject.as_deref(), Some("Re: Order 12"));
    }

    #[test]
    fn non_ascii_subject_names_and_body_survive_encoding() {
        let mut message = text_message("m-ü", "Olá Zoë, 注文は発送されました 👋\nÇa va ?");
        message.recipient = party("zoe@customer.test", Some("Zoë Müller"));
        let settings = Settings { from: Some("Équipe Acme <support@example.com>"), default_subject: None };
        let out = compose(&message, &thread(Some("Commande n° 12 – où est-elle ?"), &[], None), &settings, NOW_MS).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(out.raw.is_ascii(), "headers and bodies are encoded for 7-bit transport");
        let mail = parsed(&out.raw);
        assert_eq!(mail.subject.as_deref(), Some("Re: Commande n° 12 – où est-elle ?"));
        assert_eq!(mail.from.name.as_deref(), Some("Équipe Acme"));
        assert_eq!(mail.to[0].name.as_deref(), Some("Zoë Müller"));
        assert_eq!(mail.text, "Olá Zoë, 注文は発送されました 👋\nÇa va ?");
        assert!(mail.html.unwrap_or_default().contains("Olá Zoë, 注文は発送されました 👋<br>"));
        assert_eq!(out.external_id, "sb.m-=C3=BC@example.com", "the host id is escaped to ASCII");
        assert_eq!(mail.message_id.as_deref(), Some(out.external_id.as_str()));
    }

    #[test]
    fn a_missing_or_unreadable_from_names_the_setting() {
        for from in [None, Some(""), Some("Acme Support"), Some("a@x.test, b@x.test"), Some("Acme <support@exämple.com>"), Some("x@y.test\r\nBcc: all@x.test")] {
            let settings = Settings { from, default_subject: None };
            let error = compose(&text_message("m", "x"), &thread(None, &[], None), &settings, NOW_MS).err();
            let Some(error) = error else { panic!("{from:?} was accepted") };
            assert!(error.message.contains("`from`"), "{from:?}: {}", error.message);
            assert_eq!((error.kind, error.retryable), (SendErrorKind::Other, false), "{from:?}");
        }
        let bare = Settings { from: Some("support@example.com"), default_subject: None };
        let out = compose(&text_message("m", "x"), &thread(None, &[], None), &bare, NOW_MS).map(|c| parsed(&c.raw).from).ok();
        assert_eq!(out, Some(Mailbox { address: "support@example.com".into(), name: None }));
    }

    #[test]
    fn templates_are_unsupported_and_bad_recipients_are_refused() {
        let mut message = text_message("m", "x");
        message.content = OutboundContent::Template(Template { name: "welcome".into(), language: "en".into(), parameters: Vec::new() });
        let error = compose(&message, &thread(None, &[], None), &settings(), NOW_MS).err().map(|e| (e.kind, e.retryable));
        assert_eq!(error, Some((SendErrorKind::Unsupported, false)));

        for address in ["not an address", "ana@", "ana@customer.test\r\nBcc: x@y.test", "<>"] {
            let mut message = text_message("m", "x");
            message.recipient = party(address, None);
            let error = compose(&message, &thread(None, &[], None), &settings(), NOW_MS).err().map(|e| (e.kind, e.retryable));
            assert_eq!(error, Some((SendErrorKind::InvalidRecipient, false)), "{address:?}");
        }
        // No `email`: the party id is the address.
        let mut message = text_message("m", "x");
        message.recipient = Party { id: "ana@customer.test".into(), phone: None, email: None, display_name: None, username: None };
        let out = composed(&message, &thread(None, &[], None));
        assert_eq!(out.envelope.rcpt_to, strings(&["ana@customer.test"]));
    }

    #[test]
    fn media_goes_as_caption_and_link() {
        let mut message = text_message("m", "x");
        message.content = OutboundContent::Media(OutboundMedia {
            kind: MediaKind::Document,
            url: "https://files.example.com/invoice.pdf?a=1&b=2".into(),
            caption: Some("Your invoice".into()),
            filename: Some("invoice.pdf".into()),
            mime_type: Some("application/pdf".into()),
        });
        let mail = parsed(&composed(&message, &thread(None, &[], None)).raw);
        assert_eq!(mail.text, "Your invoice\n\ninvoice.pdf: https://files.example.com/invoice.pdf?a=1&b=2");
        let html = mail.html.unwrap_or_default();
        assert!(html.contains("<a href=\"https://files.example.com/invoice.pdf?a=1&amp;b=2\">invoice.pdf</a>"), "{html}");
    }

    #[test]
    fn html_is_escaped() {
        let mail = parsed(&composed(&text_message("m", "<script>alert('x')</script> & \"q\""), &thread(None, &[], None)).raw);
        let html = mail.html.unwrap_or_default();
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"), "{html}");
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn references_are_bracketed_cleaned_and_capped_keeping_the_root() {
        let many: Vec<String> = (1..=30).map(|n| format!("r{n}@x.test")).collect();
        let capped = references(&many, None);
        assert_eq!(capped.len(), MAX_REFERENCES);
        assert_eq!(capped[0], "r1@x.test");
        assert_eq!(capped[1], "r12@x.test");
        assert_eq!(capped.last().map(String::as_str), Some("r30@x.test"));

        let messy = strings(&["<a@x.test>", " b@x.test ", "bad id@x.test", "", "a@x.test", "c@x.test"]);
        assert_eq!(references(&messy, Some("ignored@x.test")), strings(&["b@x.test", "a@x.test", "c@x.test"]));
        assert_eq!(references(&[], Some("<only@x.test>")), strings(&["only@x.test"]));
        assert!(references(&[], None).is_empty());

        let raw = composed(&text_message("m", "x"), &thread(None, &many.iter().map(String::as_str).collect::<Vec<_>>(), None)).raw;
        let message = MessageParser::default().parse(&raw).unwrap_or_default();
        let count = match message.references() {
            HeaderValue::TextList(ids) => ids.len(),
            HeaderValue::Text(_) => 1,
            _ => 0,
        };
        assert_eq!(count, MAX_REFERENCES);
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("In-Reply-To: <r30@x.test>"), "{text}");
        assert!(text.lines().all(|line| line.len() <= 998), "header lines are folded");
    }

    #[test]
    fn no_thread_means_no_threading_headers_and_bad_tokens_no_reply_to() {
        let out = composed(&text_message("m", "x"), &thread(None, &[], Some("bad token!")));
        let message = MessageParser::default().parse(&out.raw).unwrap_or_default();
        assert!(message.reply_to().is_none());
        assert!(message.in_reply_to().is_empty() && message.references().is_empty());
        assert_eq!(message.subject(), Some(FALLBACK_SUBJECT));

        let plus = Mailbox { address: "support+old@example.com".into(), name: None };
        assert_eq!(reply_to(&plus, Some("Tk7q2Xw9")).map(|m| m.address), Some("support+Tk7q2Xw9@example.com".into()));
    }

    #[test]
    fn addresses() {
        for good in ["a@b", "ana.lima+tag@customer.test", "o'brien@x.ie", "zoë@exämple.de"] {
            assert!(is_address(good), "{good}");
        }
        for bad in ["", "a", "@b", "a@", "a b@c", "a@b c", "a..b@c", ".a@c", "a@.c", "a@b..c", "\"q\"@c", "a@b\r\n", "<a@b>", "a@[1.2.3.4]"] {
            assert!(!is_address(bad), "{bad:?}");
        }
    }

    #[test]
    fn boundaries_avoid_the_parts() {
        let plain = boundary("m", &["text"]);
        assert!(plain.starts_with("=_sb_") && plain.len() <= 70);
        assert_ne!(boundary("m", &[&format!("x {plain} y")]), plain);
    }
}
