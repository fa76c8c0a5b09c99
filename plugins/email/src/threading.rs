//! Which conversation a message belongs to.
//!
//! Why it exists: email has no conversation id. A reply names the message it answers in
//! `In-Reply-To` and the chain before it in `References` (RFC 5322 §3.6.4), and the host
//! finds the conversation by looking those ids up among the messages it sent or received.
//! Some clients (Outlook above all, and many ticket forms) drop both headers; for them the
//! channel sends from a plus-address such as `support+ab12cd@example.com`, and the token in
//! the address the customer replies to identifies the conversation.

use crate::inbound::ParsedMail;

/// Message ids to look up, in the order a host should try them: `In-Reply-To` first (the
/// message directly answered), then `References` from newest to oldest (header order is
/// oldest first). Each id appears once, at its first position.
pub fn thread_keys(mail: &ParsedMail) -> Vec<String> {
    let mut keys: Vec<String> = Vec::with_capacity(mail.in_reply_to.len() + mail.references.len());
    for id in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
        if !id.is_empty() && !keys.contains(id) {
            keys.push(id.clone());
        }
    }
    keys
}

/// Shortest and longest accepted reply token: shorter ones are guessable, longer ones are
/// not ours.
const TOKEN_LEN: std::ops::RangeInclusive<usize> = 4..=64;

/// The reply token of the first recipient that is a plus-address of a served address:
/// `support+ab12cd@example.com` with `support@example.com` served gives `ab12cd`. Local part
/// and domain are compared case-insensitively; tokens that are not 4–64 characters of
/// `[A-Za-z0-9_-]` are ignored (so `support+newsletter.2026@…` is not a token). The token is
/// returned as written.
pub fn plus_token(recipients: &[String], served: &[String]) -> Option<String> {
    let served: Vec<String> = served
        .iter()
        .map(|s| bare_address(s).to_lowercase())
        .collect();
    recipients.iter().find_map(|recipient| {
        let (local, domain) = bare_address(recipient).rsplit_once('@')?;
        let (base, token) = local.split_once('+')?;
        let base_address = format!("{base}@{domain}").to_lowercase();
        (served.contains(&base_address) && is_token(token)).then(|| token.to_string())
    })
}

/// Whether `token` has the shape of a reply token (4–64 characters of `[A-Za-z0-9_-]`): what
/// [`plus_token`] accepts, and so what [`crate::compose`] may put in a `Reply-To`.
pub fn is_token(token: &str) -> bool {
    TOKEN_LEN.contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `" <a@b> "` → `a@b`: tolerates the angle brackets and spaces of a header value.
fn bare_address(address: &str) -> &str {
    let address = address.trim();
    address
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(address)
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::parsed as mail;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn in_reply_to_first_then_references_newest_first_deduplicated() {
        let mut m = mail(b"From: a@b.test\r\n\r\n");
        m.in_reply_to = strings(&["r3@x"]);
        m.references = strings(&["r1@x", "r2@x", "r3@x"]);
        assert_eq!(thread_keys(&m), strings(&["r3@x", "r2@x", "r1@x"]));

        m.in_reply_to = strings(&["r9@x", "r9@x"]);
        m.references = strings(&["r1@x", "r1@x", "r2@x"]);
        assert_eq!(thread_keys(&m), strings(&["r9@x", "r2@x", "r1@x"]));
    }

    #[test]
    fn thread_keys_of_fixtures() {
        let gmail = mail(include_bytes!(
            "../../../tests/fixtures/email/gmail_reply.eml"
        ));
        assert_eq!(
            thread_keys(&gmail),
            strings(&[
                "reply-41@switchboard.test",
                "5f1c2a9e-0b7d-4c1e-9a43-first@customer.test"
            ])
        );
        let apple = mail(include_bytes!(
            "../../../tests/fixtures/email/apple_reply.eml"
        ));
        assert_eq!(
            thread_keys(&apple),
            strings(&["reply-77@switchboard.test", "reply-76@switchboard.test"])
        );
        // In-Reply-To without References.
        let french = mail(include_bytes!(
            "../../../tests/fixtures/email/windows1252_french.eml"
        ));
        assert_eq!(
            thread_keys(&french),
            strings(&["reply-61@switchboard.test"])
        );
        // Neither header: nothing to look up, the plus token has to do.
        let outlook = mail(include_bytes!(
            "../../../tests/fixtures/email/outlook_reply.eml"
        ));
        assert!(thread_keys(&outlook).is_empty());
        let first = mail(include_bytes!(
            "../../../tests/fixtures/email/first_message.eml"
        ));
        assert!(thread_keys(&first).is_empty());
    }

    #[test]
    fn outlook_fixture_plus_token() {
        let outlook = mail(include_bytes!(
            "../../../tests/fixtures/email/outlook_reply.eml"
        ));
        let recipients: Vec<String> = outlook
            .to
            .iter()
            .chain(&outlook.cc)
            .map(|m| m.address.clone())
            .collect();
        assert_eq!(
            plus_token(&recipients, &strings(&["support@example.com"])),
            Some("Tk7q2Xw9".to_string())
        );
        // Not served: no token.
        assert_eq!(
            plus_token(&recipients, &strings(&["sales@example.com"])),
            None
        );
    }

    #[test]
    fn plus_token_matches_case_insensitively_and_returns_the_token_as_written() {
        let served = strings(&["Support@Example.COM"]);
        assert_eq!(
            plus_token(&strings(&["SUPPORT+Ab12_cd-9@example.com"]), &served),
            Some("Ab12_cd-9".to_string())
        );
        assert_eq!(
            plus_token(&strings(&[" <support+ab12cd@EXAMPLE.com> "]), &served),
            Some("ab12cd".to_string())
        );
    }

    #[test]
    fn plus_token_first_matching_recipient_wins() {
        let served = strings(&["support@example.com", "billing@example.com"]);
        let recipients = strings(&[
            "ann@customer.test",
            "support+bad!@example.com",
            "billing+tok1@example.com",
            "support+tok2@example.com",
        ]);
        assert_eq!(plus_token(&recipients, &served), Some("tok1".to_string()));
    }

    #[test]
    fn plus_token_rejects_bad_tokens() {
        let served = strings(&["support@example.com"]);
        for recipient in [
            "support@example.com",                 // no token
            "support+@example.com",                // empty
            "support+abc@example.com",             // too short
            "support+newsletter.2026@example.com", // '.'
            "support+a+b+c+d@example.com",         // '+'
            "support+ab cd@example.com",           // space
            "support+äöüß@example.com",            // not ASCII
            "support+ab12cd@other.example.com",    // another domain
            "helpdesk+ab12cd@example.com",         // another local part
            "support+ab12cd",                      // no domain
        ] {
            assert_eq!(
                plus_token(&strings(&[recipient]), &served),
                None,
                "{recipient}"
            );
        }
        let longest = format!("support+{}@example.com", "a".repeat(64));
        assert_eq!(plus_token(&[longest], &served), Some("a".repeat(64)));
        let too_long = format!("support+{}@example.com", "a".repeat(65));
        assert_eq!(plus_token(&[too_long], &served), None);
        assert_eq!(
            plus_token(&strings(&["support+abcd@example.com"]), &served),
            Some("abcd".to_string())
        );
    }

    #[test]
    fn plus_token_with_nothing_served_or_no_recipients() {
        assert_eq!(
            plus_token(&strings(&["support+ab12cd@example.com"]), &[]),
            None
        );
        assert_eq!(plus_token(&[], &strings(&["support@example.com"])), None);
    }
}
