//! Whether a mail's sender is who its `From` says: from the `Authentication-Results` header
//! (RFC 8601) that a mail server the instance trusts added when it received the message.
//!
//! The plugin checks no signatures itself (that needs DNS, which a sandboxed plugin does not
//! have, and belongs to the MTA in front of Switchboard). It believes one server's verdict: the
//! topmost `Authentication-Results` whose authserv-id is the instance's `trusted_authserv_id`
//! (a conforming server removes any such header a sender forged before adding its own, and adds
//! its own on top). The sender counts as authenticated when that header says `dmarc=pass` for
//! the `From` domain. Without a trusted server configured, no sender is authenticated: a
//! claimed address could be anyone's, and the host then links nobody to a contact by it.

/// Whether `results` (topmost first) hold a DMARC pass for `from_domain` from `trusted`.
pub fn sender_authenticated(results: &[String], trusted: Option<&str>, from_domain: &str) -> bool {
    let Some(trusted) = trusted.map(str::trim).filter(|t| !t.is_empty()) else { return false };
    let Some(header) = results.iter().find(|header| authserv_id(header).is_some_and(|id| id.eq_ignore_ascii_case(trusted))) else {
        return false;
    };
    header.split(';').skip(1).any(|result| dmarc_pass_for(result, from_domain))
}

/// The authserv-id: the first token, before `;` (and an optional version number).
fn authserv_id(header: &str) -> Option<&str> {
    header.split(';').next()?.split_whitespace().next()
}

/// `dmarc=pass … header.from=<domain>` with the domain equal to `from_domain`.
fn dmarc_pass_for(result: &str, from_domain: &str) -> bool {
    let without_comments = strip_comments(result);
    let mut words = without_comments.split_whitespace();
    let Some(method) = words.next() else { return false };
    if !method.eq_ignore_ascii_case("dmarc=pass") {
        return false;
    }
    words
        .filter_map(|word| word.split_once('='))
        .any(|(property, value)| property.eq_ignore_ascii_case("header.from") && value.trim_matches('"').eq_ignore_ascii_case(from_domain))
}

/// The text without `( … )` comments (RFC 5322 CFWS, which results may carry anywhere).
fn strip_comments(text: &str) -> String {
    let mut depth = 0usize;
    text.chars()
        .filter(|&c| match c {
            '(' => {
                depth += 1;
                false
            }
            ')' => {
                depth = depth.saturating_sub(1);
                false
            }
            _ => depth == 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(headers: &[&str]) -> Vec<String> {
        headers.iter().map(|h| h.to_string()).collect()
    }

    const GOOGLE: &str = "mx.google.com; dkim=pass header.i=@customer.test header.s=s1; spf=pass (google.com: domain of ann@customer.test designates 192.0.2.7 as permitted sender) smtp.mailfrom=ann@customer.test; dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=customer.test";

    #[test]
    fn a_dmarc_pass_from_the_trusted_server_authenticates_the_from_domain() {
        assert!(sender_authenticated(&results(&[GOOGLE]), Some("mx.google.com"), "customer.test"));
        assert!(sender_authenticated(&results(&[GOOGLE]), Some("MX.Google.com"), "Customer.TEST"), "names compare without case");
        assert!(!sender_authenticated(&results(&[GOOGLE]), Some("mx.google.com"), "other.test"), "another domain's pass says nothing");
        assert!(!sender_authenticated(&results(&[GOOGLE]), None, "customer.test"), "no trusted server: nobody is authenticated");
        assert!(!sender_authenticated(&results(&[GOOGLE]), Some("mx.example.net"), "customer.test"), "a server we do not trust");
    }

    #[test]
    fn only_the_topmost_header_of_the_trusted_server_counts() {
        let failed = "mx.google.com; dkim=none; spf=softfail smtp.mailfrom=evil.test; dmarc=fail (p=NONE) header.from=customer.test";
        // A forger's header below the trusted server's own verdict is never read.
        assert!(!sender_authenticated(&results(&[failed, GOOGLE]), Some("mx.google.com"), "customer.test"));
        let version = "mx.google.com 1; dmarc=pass header.from=customer.test";
        assert!(sender_authenticated(&results(&["other.example; dmarc=fail header.from=customer.test", version]), Some("mx.google.com"), "customer.test"));
        assert!(!sender_authenticated(&results(&["mx.google.com; dkim=pass header.d=customer.test"]), Some("mx.google.com"), "customer.test"), "DKIM alone is not alignment");
        assert!(!sender_authenticated(&results(&["mx.google.com; none"]), Some("mx.google.com"), "customer.test"));
        assert!(!sender_authenticated(&results(&["mx.google.com; dmarc=pass (header.from=customer.test)"]), Some("mx.google.com"), "customer.test"), "a comment is not a property");
    }
}
