//! Mail in through Mailgun: an inbound route whose action forwards to our webhook URL
//! (`/webhooks/{channel-id}`) posts each received mail there, for deployments that cannot take
//! SMTP themselves. Everything here is pure: the HMAC, the replay claim, the digest and the time
//! come in as arguments, so every decision is tested natively.
//!
//! - **Shape.** The route must forward to `{webhook URL}?format=mime`: Mailgun posts the whole
//!   message only to a URL that ends in `mime`, in the `body-mime` field, beside `recipient`
//!   and `sender` (the SMTP envelope), `from`, `subject`, and the signature fields. The post is
//!   `multipart/form-data` or `application/x-www-form-urlencoded`; both are read.
//! - **Authenticity** ([`check_request`]). Mailgun signs `timestamp` + `token` (not the body)
//!   with the domain's HTTP webhook signing key: `signature` = lowercase hex
//!   HMAC-SHA256(key, timestamp ‖ token). A post is accepted only with that signature, a
//!   timestamp within [`WINDOW_MS`] of now (either way: clocks drift), and a token never seen
//!   before (claimed for [`REPLAY_TTL_MS`], twice the window, so no token can be replayed while
//!   its timestamp is still fresh). Without `mailgun_signing_key` the instance takes mail over
//!   SMTP only, and every post is refused as `forbidden`.
//! - **Meaning** ([`parse`]). `body-mime` goes through [`crate::receive::receive`] exactly like
//!   a mail that arrived over SMTP, with the envelope Mailgun reports.
//!
//! **Limits of webhook mail**, because `parse` can only answer events (the 0.1.0 shape; the
//! `blobs` and `threads` of `mail.receive` have no place in it):
//!
//! - attachments cannot be handed over: their references are dropped, and their names, types
//!   and sizes kept in the message's `extra-json` as `attachments_omitted`;
//! - threading hints are lost: the host threads Mailgun mail by its contact only, not by
//!   `In-Reply-To`, `References` or a reply token.

use crate::receive::receive;
use mail_parser::{Encoding, MessageParser, MimeHeaders, PartType};
use switchboard_sdk::decode::form_bytes;
use switchboard_sdk::prelude::*;
use switchboard_sdk::signature::{constant_time_eq, decode_hex};

/// How far a post's `timestamp` may be from now, either way: 15 minutes.
pub const WINDOW_MS: u64 = 15 * 60 * 1000;

/// How long a post's token stays claimed: twice [`WINDOW_MS`], so a token outlives every
/// timestamp it could be replayed with.
pub const REPLAY_TTL_MS: u64 = 2 * WINDOW_MS;

/// Why a post is refused when the instance has no signing key.
pub const NOT_CONFIGURED: &str = "this instance takes mail over SMTP only; set mailgun_signing_key to accept Mailgun";

/// Why a post without `body-mime` is refused.
pub const NO_BODY_MIME: &str =
    "the post has no `body-mime` field: the Mailgun route must forward to the webhook URL ending in `mime` (add `?format=mime`)";

/// A Mailgun post's fields, in order, each value as the bytes sent.
#[derive(Debug, Clone, Default)]
pub struct Form {
    fields: Vec<(String, Vec<u8>)>,
}

impl Form {
    /// The first value of field `name`, as sent.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_slice())
    }

    /// The first value of field `name` as text, trimmed; `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        let value = String::from_utf8_lossy(self.bytes(name)?).trim().to_string();
        (!value.is_empty()).then_some(value)
    }
}

/// Read a post's body by its `Content-Type`.
pub fn read_form(content_type: Option<&str>, body: &[u8]) -> Result<Form, Rejection> {
    let content_type = content_type.map(str::trim).unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let fields = match media_type.as_str() {
        "application/x-www-form-urlencoded" => form_bytes(body),
        "multipart/form-data" => multipart_fields(content_type, body)?,
        _ => {
            return Err(Rejection::bad_request(format!(
                "a Mailgun post is multipart/form-data or application/x-www-form-urlencoded, not `{content_type}`"
            )));
        }
    };
    Ok(Form { fields })
}

/// The fields of a `multipart/form-data` body (RFC 7578).
///
/// Why mail-parser: form-data is MIME multipart, which mail-parser already parses (boundaries,
/// part headers, RFC 2231 parameters) and is fuzzed for; a hand-rolled parser would be a second
/// one to get right. The body is given a `Content-Type` header (the request's) and parsed as a
/// message. Each value is the part's exact body bytes (its offsets into what was parsed), not
/// mail-parser's decoding of it as text: `body-mime` is a whole mail in any charset and must
/// reach [`receive`] unchanged. Only a part that declares a transfer encoding (which RFC 7578
/// deprecates) is taken decoded.
fn multipart_fields(content_type: &str, body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Rejection> {
    let bad = |why: &str| Rejection::bad_request(format!("unreadable multipart/form-data body: {why}"));
    // A line break would end the header we prepend, and let the request write its own.
    if content_type.contains(['\r', '\n']) {
        return Err(bad("the content type spans lines"));
    }
    let mut raw = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    raw.extend_from_slice(body);
    let message = MessageParser::default().parse(&raw).ok_or_else(|| bad("not MIME"))?;
    let Some(PartType::Multipart(children)) = message.parts.first().map(|root| &root.body) else {
        return Err(bad("no parts (is the boundary right?)"));
    };
    let mut fields = Vec::with_capacity(children.len());
    for part in children.iter().filter_map(|&id| message.part(id)) {
        let Some(name) = part.content_disposition().and_then(|cd| cd.attribute("name")) else { continue };
        let value = match part.encoding {
            Encoding::None => {
                let start = part.raw_body_offset() as usize;
                let end = (part.raw_end_offset() as usize).min(raw.len());
                raw.get(start..end).unwrap_or_default().to_vec()
            }
            _ => part.contents().to_vec(),
        };
        fields.push((name.to_string(), value));
    }
    Ok(fields)
}

/// `verify`'s decision on a webhook request: refuse it unless it is a signed, fresh and unseen
/// Mailgun post, in that order (the cheap checks first, the claim last, so only an authentic
/// post can claim a token). `signing_key` is the `mailgun_signing_key` secret, `hmac_sha256`
/// the host's crypto, `claim` the host's replay claim.
pub fn check_request(
    request: &IncomingRequest,
    signing_key: Option<&str>,
    now_ms: u64,
    hmac_sha256: impl Fn(&[u8], &[u8]) -> Vec<u8>,
    claim: impl FnOnce(&str, u64) -> bool,
) -> Result<(), Rejection> {
    let Some(signing_key) = signing_key.map(str::trim).filter(|key| !key.is_empty()) else {
        return Err(Rejection::forbidden(NOT_CONFIGURED));
    };
    if request.method != "POST" {
        return Err(Rejection::forbidden(format!("Mailgun posts inbound mail (HTTP POST), not {}", request.method)));
    }
    let form = read_form(header(request, "content-type"), &request.body)?;
    check_signature(&form, signing_key, now_ms, hmac_sha256, claim)
}

/// The signature, freshness and replay checks of a post's fields.
pub fn check_signature(
    form: &Form,
    signing_key: &str,
    now_ms: u64,
    hmac_sha256: impl Fn(&[u8], &[u8]) -> Vec<u8>,
    claim: impl FnOnce(&str, u64) -> bool,
) -> Result<(), Rejection> {
    let (Some(timestamp), Some(token), Some(signature)) = (form.text("timestamp"), form.text("token"), form.text("signature")) else {
        return Err(Rejection::unauthorized("the post lacks Mailgun's `timestamp`, `token` or `signature` field"));
    };
    // Refuse what cannot be a SHA-256 digest before hashing: forged posts must cost little.
    let Some(given) = decode_hex(&signature).filter(|digest| digest.len() == 32) else {
        return Err(Rejection::unauthorized("`signature` is not a hex HMAC-SHA256 digest"));
    };
    let expected = hmac_sha256(signing_key.as_bytes(), format!("{timestamp}{token}").as_bytes());
    if !constant_time_eq(&expected, &given) {
        return Err(Rejection::unauthorized(
            "`signature` does not match: mailgun_signing_key must be the domain's HTTP webhook signing key",
        ));
    }
    let Some(sent_ms) = timestamp.parse::<u64>().ok().map(|secs| secs.saturating_mul(1000)) else {
        return Err(Rejection::unauthorized("`timestamp` is not a Unix time in seconds"));
    };
    if sent_ms.abs_diff(now_ms) > WINDOW_MS {
        return Err(Rejection::unauthorized(format!(
            "stale post: its timestamp is more than {} minutes from now",
            WINDOW_MS / 60_000
        )));
    }
    if !claim(&token, REPLAY_TTL_MS) {
        return Err(Rejection::unauthorized("replayed post: its token was already used"));
    }
    Ok(())
}

/// `parse`'s events for a verified post: `body-mime` read like a mail that arrived over SMTP,
/// from the envelope Mailgun reports (`sender`, `recipient`), with attachment references
/// dropped (see the module docs). `served` are the instance's addresses; `digest` names a
/// message without a `Message-ID` by its bytes (the host's SHA-256), so a redelivery is
/// recognised.
pub fn parse(form: &Form, served: &[String], now_ms: u64, digest: impl Fn(&[u8]) -> String) -> Result<Vec<Event>, Rejection> {
    let mime = form.bytes("body-mime").filter(|mime| !mime.is_empty()).ok_or_else(|| Rejection::bad_request(NO_BODY_MIME))?;
    let envelope = Envelope {
        mail_from: form.text("sender").unwrap_or_default(),
        rcpt_to: form
            .text("recipient")
            .unwrap_or_default()
            .split(',')
            .map(|address| address.trim().to_string())
            .filter(|address| !address.is_empty())
            .collect(),
        remote_addr: "mailgun".into(),
        helo: None,
        tls: true,
    };
    // Webhook mail hands over no thread hints (see the module doc), so no sender is
    // authenticated through them either.
    let received = receive(&envelope, mime, served, None, &digest(mime), now_ms)?;
    Ok(without_blobs(received.events, &received.blobs))
}

/// `events` with every `blob:` attachment reference removed, since a webhook cannot hand the
/// bytes over: each one is listed in the message's `extra-json` as `attachments_omitted`
/// (`filename`, `mime_type`, `size` in bytes). A message left with neither text nor attachments
/// says in its text what was not received, so an agent does not see an empty message.
pub fn without_blobs(events: Vec<Event>, blobs: &[Blob]) -> Vec<Event> {
    events
        .into_iter()
        .map(|event| match event {
            Event::Message(message) => Event::Message(omit_blob_attachments(message, blobs)),
            other => other,
        })
        .collect()
}

fn omit_blob_attachments(mut message: InboundMessage, blobs: &[Blob]) -> InboundMessage {
    let (kept, omitted): (Vec<Attachment>, Vec<Attachment>) =
        std::mem::take(&mut message.attachments).into_iter().partition(|a| !a.reference.starts_with("blob:"));
    message.attachments = kept;
    if omitted.is_empty() {
        return message;
    }
    let listed: Vec<serde_json::Value> = omitted
        .iter()
        .map(|attachment| {
            let id = attachment.reference.trim_start_matches("blob:");
            let size = blobs.iter().find(|blob| blob.id == id).map(|blob| blob.data.len());
            serde_json::json!({ "filename": attachment.filename, "mime_type": attachment.mime_type, "size": size })
        })
        .collect();
    let mut extra = message
        .extra_json
        .as_deref()
        .and_then(|json| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json).ok())
        .unwrap_or_default();
    extra.insert("attachments_omitted".into(), listed.into());
    message.extra_json = Some(serde_json::Value::Object(extra).to_string());
    if message.attachments.is_empty() {
        message.kind = MessageKind::Text;
        if message.text.is_none() {
            let names: Vec<&str> = omitted.iter().map(|a| a.filename.as_deref().unwrap_or("unnamed")).collect();
            message.text = Some(format!("[attachments not received through Mailgun: {}]", names.join(", ")));
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    use std::cell::RefCell;
    use switchboard_sdk::testing::{extra, messages};

    const KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
    const NOW_MS: u64 = 1_767_225_600_000;
    const TOKEN: &str = "2b90a03befc0b98ae2b641b0080850cada918a2d2f670e0141";
    const BOUNDARY: &str = "----mg-boundary-7f3a";

    fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
        match Hmac::<Sha256>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Err(e) => panic!("{e}"),
        }
    }

    fn sign(timestamp: &str, token: &str) -> String {
        hmac_sha256(KEY.as_bytes(), format!("{timestamp}{token}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/../../tests/fixtures/email/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A post as Mailgun shapes it for a `…mime` route, signed at `timestamp`.
    fn fields(mime: &[u8], timestamp: &str) -> Vec<(String, Vec<u8>)> {
        [
            ("recipient", b"support@example.com".to_vec()),
            ("sender", b"zoe.mueller@customer.test".to_vec()),
            ("from", "Zoë Müller <zoe.mueller@customer.test>".as_bytes().to_vec()),
            ("subject", b"Where is my order?".to_vec()),
            ("body-mime", mime.to_vec()),
            ("timestamp", timestamp.as_bytes().to_vec()),
            ("token", TOKEN.as_bytes().to_vec()),
            ("signature", sign(timestamp, TOKEN).into_bytes()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn multipart(fields: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
            body.extend_from_slice(value);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    }

    fn urlencoded(fields: &[(String, Vec<u8>)]) -> Vec<u8> {
        let escape = |bytes: &[u8]| -> String {
            bytes
                .iter()
                .map(|&b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") })
                .collect()
        };
        fields.iter().map(|(k, v)| format!("{}={}", escape(k.as_bytes()), escape(v))).collect::<Vec<_>>().join("&").into_bytes()
    }

    fn request(content_type: &str, body: Vec<u8>) -> IncomingRequest {
        IncomingRequest {
            method: "POST".into(),
            url: "https://chat.example.com/webhooks/email?format=mime".into(),
            query: vec![("format".into(), "mime".into())],
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    fn multipart_request(fields: &[(String, Vec<u8>)]) -> IncomingRequest {
        request(&format!("multipart/form-data; boundary={BOUNDARY}"), multipart(fields))
    }

    fn now_secs() -> String {
        (NOW_MS / 1000).to_string()
    }

    /// `check_request` with the test key and a claim that records its nonce and answers `fresh`.
    fn check(request: &IncomingRequest, fresh: bool) -> (Result<(), Rejection>, Vec<(String, u64)>) {
        let claims = RefCell::new(Vec::new());
        let result = check_request(request, Some(KEY), NOW_MS, hmac_sha256, |nonce, ttl| {
            claims.borrow_mut().push((nonce.to_string(), ttl));
            fresh
        });
        (result, claims.into_inner())
    }

    fn refused(result: Result<(), Rejection>) -> (RejectionKind, String) {
        match result {
            Ok(()) => panic!("accepted"),
            Err(rejection) => (rejection.kind, rejection.message),
        }
    }

    #[test]
    fn a_signed_fresh_post_is_accepted_and_claims_its_token() {
        let mime = fixture("first_message.eml");
        for request in [multipart_request(&fields(&mime, &now_secs())), request("application/x-www-form-urlencoded", urlencoded(&fields(&mime, &now_secs())))] {
            let (result, claims) = check(&request, true);
            assert!(result.is_ok(), "{result:?}");
            assert_eq!(claims, vec![(TOKEN.to_string(), REPLAY_TTL_MS)]);
        }
        // Within the window, either way.
        for skew in [-(14 * 60), 14 * 60] {
            let timestamp = ((NOW_MS / 1000) as i64 + skew).to_string();
            assert!(check(&multipart_request(&fields(&mime, &timestamp)), true).0.is_ok(), "skew {skew}");
        }
    }

    #[test]
    fn a_wrong_or_missing_signature_is_unauthorized_and_claims_nothing() {
        let mime = fixture("first_message.eml");
        let mut forged = fields(&mime, &now_secs());
        forged[7].1 = sign(&now_secs(), "another-token").into_bytes();
        let mut not_hex = fields(&mime, &now_secs());
        not_hex[7].1 = b"sha256=nothex".to_vec();
        let mut uppercase_is_fine = fields(&mime, &now_secs());
        uppercase_is_fine[7].1 = uppercase_is_fine[7].1.to_ascii_uppercase();
        assert!(check(&multipart_request(&uppercase_is_fine), true).0.is_ok());
        for (name, post) in [("forged", forged), ("not hex", not_hex)] {
            let (result, claims) = check(&multipart_request(&post), true);
            assert_eq!(refused(result).0, RejectionKind::Unauthorized, "{name}");
            assert!(claims.is_empty(), "{name}: a forged post claims no token");
        }
        let wrong_key = check_request(&multipart_request(&fields(&mime, &now_secs())), Some("another-key"), NOW_MS, hmac_sha256, |_, _| true);
        assert_eq!(refused(wrong_key).0, RejectionKind::Unauthorized);
    }

    #[test]
    fn missing_fields_are_unauthorized() {
        let mime = fixture("first_message.eml");
        for missing in ["timestamp", "token", "signature"] {
            let post: Vec<(String, Vec<u8>)> = fields(&mime, &now_secs()).into_iter().filter(|(k, _)| k != missing).collect();
            let (kind, message) = refused(check(&multipart_request(&post), true).0);
            assert_eq!(kind, RejectionKind::Unauthorized, "{missing}");
            assert!(message.contains("signature"), "{message}");
        }
    }

    #[test]
    fn stale_and_future_timestamps_are_unauthorized() {
        let mime = fixture("first_message.eml");
        for skew in [-(16 * 60), 16 * 60, -(30 * 24 * 3600)] {
            let timestamp = ((NOW_MS / 1000) as i64 + skew).to_string();
            let (result, claims) = check(&multipart_request(&fields(&mime, &timestamp)), true);
            let (kind, message) = refused(result);
            assert_eq!(kind, RejectionKind::Unauthorized, "skew {skew}");
            assert!(message.contains("stale"), "{message}");
            assert!(claims.is_empty());
        }
        let (kind, _) = refused(check(&multipart_request(&fields(&mime, "soon")), true).0);
        assert_eq!(kind, RejectionKind::Unauthorized);
    }

    #[test]
    fn a_replayed_token_is_unauthorized() {
        let (kind, message) = refused(check(&multipart_request(&fields(&fixture("first_message.eml"), &now_secs())), false).0);
        assert_eq!(kind, RejectionKind::Unauthorized);
        assert!(message.contains("replayed"), "{message}");
    }

    #[test]
    fn without_a_signing_key_every_post_is_forbidden() {
        let request = multipart_request(&fields(&fixture("first_message.eml"), &now_secs()));
        for key in [None, Some(""), Some("  ")] {
            let result = check_request(&request, key, NOW_MS, hmac_sha256, |_, _| panic!("no claim without a key"));
            assert_eq!(refused(result), (RejectionKind::Forbidden, NOT_CONFIGURED.to_string()), "{key:?}");
        }
    }

    #[test]
    fn other_methods_and_bodies_are_refused() {
        let mut get = multipart_request(&fields(&fixture("first_message.eml"), &now_secs()));
        get.method = "GET".into();
        assert_eq!(refused(check(&get, true).0).0, RejectionKind::Forbidden);
        let json = request("application/json", b"{}".to_vec());
        assert_eq!(refused(check(&json, true).0).0, RejectionKind::BadRequest);
        let no_boundary = request("multipart/form-data", b"garbage".to_vec());
        assert_eq!(refused(check(&no_boundary, true).0).0, RejectionKind::BadRequest);
        let injected = request("multipart/form-data; boundary=x\r\nX-Evil: 1", b"--x--".to_vec());
        assert_eq!(refused(check(&injected, true).0).0, RejectionKind::BadRequest);
    }

    #[test]
    fn multipart_values_are_the_exact_bytes() {
        // A Latin-1 mail, not UTF-8: it must reach the MIME parser unchanged.
        let mime = fixture("latin1_portuguese.eml");
        let mut post = fields(&mime, &now_secs());
        post.push(("empty".into(), Vec::new()));
        let form = match read_form(Some(&format!("multipart/form-data; boundary=\"{BOUNDARY}\"")), &multipart(&post)) {
            Ok(form) => form,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(form.bytes("body-mime"), Some(mime.as_slice()));
        assert_eq!(form.text("from").as_deref(), Some("Zoë Müller <zoe.mueller@customer.test>"));
        assert_eq!(form.bytes("empty"), Some(&b""[..]));
        assert_eq!(form.bytes("absent"), None);
        let urlencoded = read_form(Some("application/x-www-form-urlencoded; charset=utf-8"), &urlencoded(&post)).unwrap_or_default();
        assert_eq!(urlencoded.bytes("body-mime"), Some(mime.as_slice()));

        // A part with its own content type, as some senders label a whole message; a nested
        // multipart message (its own boundaries inside the part).
        for (content_type, mime) in [("message/rfc822", fixture("first_message.eml")), ("text/plain; charset=utf-8", fixture("attachments.eml"))] {
            let mut body = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"body-mime\"; filename=\"message.eml\"\r\nContent-Type: {content_type}\r\n\r\n").into_bytes();
            body.extend_from_slice(&mime);
            body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
            let form = read_form(Some(&format!("multipart/form-data; boundary={BOUNDARY}")), &body).unwrap_or_default();
            assert!(form.bytes("body-mime") == Some(mime.as_slice()), "{content_type}");
        }
    }

    fn parsed_events(post: &[(String, Vec<u8>)]) -> Vec<Event> {
        let form = match read_form(Some(&format!("multipart/form-data; boundary={BOUNDARY}")), &multipart(post)) {
            Ok(form) => form,
            Err(e) => panic!("{e:?}"),
        };
        match parse(&form, &["support@example.com".to_string()], NOW_MS, |bytes| format!("sha256:{}", bytes.len())) {
            Ok(events) => events,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn a_post_becomes_the_message_smtp_would_give() {
        let mime = fixture("gmail_reply.eml");
        let events = parsed_events(&fields(&mime, &now_secs()));
        let envelope = Envelope {
            mail_from: "zoe.mueller@customer.test".into(),
            rcpt_to: vec!["support@example.com".into()],
            remote_addr: "mailgun".into(),
            helo: None,
            tls: true,
        };
        let over_smtp = match receive(&envelope, &mime, &["support@example.com".to_string()], None, "x", NOW_MS) {
            Ok(received) => received.events,
            Err(e) => panic!("{e:?}"),
        };
        switchboard_sdk::testing::assert_same(events, over_smtp);
    }

    #[test]
    fn attachments_are_listed_as_omitted_not_referenced() {
        let events = parsed_events(&fields(&fixture("attachments.eml"), &now_secs()));
        let found = messages(&events);
        let [message] = found.as_slice() else { panic!("one message") };
        assert!(message.attachments.iter().all(|a| !a.reference.starts_with("blob:")), "no dangling blob references");
        let extra = extra(message);
        let omitted = extra["attachments_omitted"].as_array().cloned().unwrap_or_default();
        assert!(omitted.len() >= 2, "{extra}");
        assert!(omitted.iter().any(|a| a["mime_type"] == "application/pdf" && a["size"].as_u64().is_some_and(|n| n > 0)), "{extra}");
        assert!(extra["subject"].is_string(), "the rest of extra-json is kept: {extra}");
    }

    #[test]
    fn an_attachment_only_mail_says_what_was_not_received() {
        let message = InboundMessage {
            external_id: "x@y".into(),
            sender: Party { id: "a@b.test".into(), phone: None, email: None, display_name: None, username: None },
            recipient: None,
            kind: MessageKind::Image,
            text: None,
            attachments: vec![Attachment {
                kind: MediaKind::Image,
                reference: "blob:0".into(),
                url: None,
                mime_type: Some("image/png".into()),
                filename: Some("photo.png".into()),
                caption: None,
                sha256: None,
            }],
            reply_to: None,
            timestamp_ms: 1,
            echo: false,
            extra_json: None,
        };
        let blob = Blob { id: "0".into(), mime_type: "image/png".into(), data: vec![1, 2, 3] };
        let events = without_blobs(vec![Event::Message(message)], &[blob]);
        let found = messages(&events);
        let [message] = found.as_slice() else { panic!("one message") };
        assert_eq!(message.kind, MessageKind::Text);
        assert!(message.text.as_deref().is_some_and(|t| t.contains("photo.png")));
        assert_eq!(extra(message)["attachments_omitted"][0]["size"], 3);
    }

    #[test]
    fn a_post_without_body_mime_asks_for_a_mime_route() {
        let post: Vec<(String, Vec<u8>)> = fields(b"", &now_secs()).into_iter().filter(|(k, _)| k != "body-mime").collect();
        let form = read_form(Some(&format!("multipart/form-data; boundary={BOUNDARY}")), &multipart(&post)).unwrap_or_default();
        let Err(rejection) = parse(&form, &[], NOW_MS, |_| String::new()) else { panic!("accepted") };
        assert_eq!(rejection.kind, RejectionKind::BadRequest);
        assert!(rejection.message.contains("mime"), "{}", rejection.message);
    }
}
