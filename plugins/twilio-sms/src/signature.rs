//! Twilio's webhook signature, `X-Twilio-Signature`, as Twilio documents it
//! (<https://www.twilio.com/docs/usage/webhooks/webhooks-security>) and its helper libraries
//! compute it:
//!
//! 1. take the full URL Twilio called, query string included;
//! 2. sort the `POST` body parameters by name (values of a repeated name by value) and append
//!    each one's name immediately followed by its value, with no separators;
//! 3. HMAC-SHA1 that string under the account's auth token and base64-encode the digest.
//!
//! Query parameters are part of the URL only, never appended as parameters. Like Twilio's own
//! validators, a URL without a port is also tried with the scheme's default port added
//! (`:443`, `:80`), and a URL with the default port also without it: depending on how a
//! webhook URL was entered, Twilio signs one form or the other.
//!
//! Everything here is pure; the HMAC itself comes in as a function, so the host's
//! `crypto.hmac-sha1` is used in the plugin and a native implementation in tests.

use switchboard_sdk::encoding::base64_encode;
use switchboard_sdk::signature::constant_time_eq;

/// The string Twilio signs: `url` followed by every parameter's `name` + `value`, sorted.
pub fn signing_string(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut out = String::with_capacity(url.len() + params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>());
    out.push_str(url);
    for (name, value) in sorted {
        out.push_str(name);
        out.push_str(value);
    }
    out
}

/// The signature Twilio sends for `url` and `params`: base64(HMAC-SHA1(auth token, signing string)).
pub fn compute(hmac_sha1: impl Fn(&[u8], &[u8]) -> Vec<u8>, auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    base64_encode(&hmac_sha1(auth_token.as_bytes(), signing_string(url, params).as_bytes()))
}

/// The URLs a signature may have been computed over: `url` itself, and `url` with its
/// default port added (when it has none) or removed (when it has the scheme's default).
/// Twilio's helper libraries accept either form; so do we.
pub fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // Credentials are never part of a webhook URL we are given; leave such URLs alone.
    if authority.contains('@') || authority.is_empty() {
        return variants;
    }
    // An IPv6 literal keeps its brackets; a port follows the closing bracket.
    let host_end = if authority.starts_with('[') { authority.find(']').map_or(authority.len(), |i| i + 1) } else { 0 };
    let (host, port) = match authority[host_end..].rfind(':') {
        Some(index) => (&authority[..host_end + index], Some(&authority[host_end + index + 1..])),
        None => (authority, None),
    };
    match port {
        None => variants.push(format!("{scheme}://{host}:{default_port}{tail}")),
        Some(port) if port == default_port => variants.push(format!("{scheme}://{host}{tail}")),
        Some(_) => {}
    }
    variants
}

/// Whether `value` has the shape of a Twilio signature: the 28-character base64 encoding of a
/// 20-byte HMAC-SHA1 digest. A cheap check made before the body is parsed and hashed.
pub fn looks_like_signature(value: &str) -> bool {
    let value = value.trim();
    value.len() == 28
        && value.ends_with('=')
        && value[..27].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Whether `signature` (the header value) is Twilio's signature of this request under
/// `auth_token`, for `url` or one of its port variants. Compared in constant time.
pub fn is_valid(
    hmac_sha1: impl Fn(&[u8], &[u8]) -> Vec<u8>,
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let given = signature.trim().as_bytes();
    if given.is_empty() || auth_token.is_empty() {
        return false;
    }
    // Check every variant (no early exit), so timing does not tell which one matched.
    url_variants(url)
        .iter()
        .map(|candidate| constant_time_eq(compute(&hmac_sha1, auth_token, candidate, params).as_bytes(), given))
        .fold(false, |any, matched| any | matched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    #[test]
    fn only_digest_shaped_values_look_like_signatures() {
        assert!(looks_like_signature(SIGNATURE));
        assert!(looks_like_signature(&format!(" {SIGNATURE} ")));
        assert!(!looks_like_signature("x"));
        assert!(!looks_like_signature(&"A".repeat(28)));
        assert!(!looks_like_signature(&format!("{}=", "*".repeat(27))));
        assert!(!looks_like_signature(&"A".repeat(4000)));
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The example in Twilio's security documentation and the test suites of its helper
    /// libraries (twilio-python, twilio-node, twilio-java): auth token `12345`.
    const AUTH_TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const SIGNATURE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    fn documented_params() -> Vec<(String, String)> {
        // Deliberately not in sorted order.
        pairs(&[
            ("From", "+12349013030"),
            ("CallSid", "CA1234567890ABCDE"),
            ("To", "+18005551212"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
        ])
    }

    #[test]
    fn signing_string_matches_the_documented_construction() {
        assert_eq!(
            signing_string(URL, &documented_params()),
            "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030To+18005551212"
        );
        assert_eq!(signing_string(URL, &[]), URL);
    }

    #[test]
    fn documented_example_vector() {
        assert_eq!(compute(hmac_sha1, AUTH_TOKEN, URL, &documented_params()), SIGNATURE);
        assert!(is_valid(hmac_sha1, AUTH_TOKEN, URL, &documented_params(), SIGNATURE));
        // Surrounding whitespace in the header is tolerated.
        assert!(is_valid(hmac_sha1, AUTH_TOKEN, URL, &documented_params(), &format!(" {SIGNATURE}\t")));
    }

    #[test]
    fn port_variants_validate_the_same_signature() {
        // twilio-python / twilio-node: "should validate with and without the default port".
        for url in [
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
        ] {
            assert!(is_valid(hmac_sha1, AUTH_TOKEN, url, &documented_params(), SIGNATURE), "{url}");
        }
        // And the other way round: a signature made over the URL with the port.
        let with_port = compute(hmac_sha1, AUTH_TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", &documented_params());
        assert_ne!(with_port, SIGNATURE);
        assert!(is_valid(hmac_sha1, AUTH_TOKEN, URL, &documented_params(), &with_port));
        // A non-default port is part of the URL and not interchangeable.
        assert!(!is_valid(hmac_sha1, AUTH_TOKEN, "https://mycompany.com:8443/myapp.php?foo=1&bar=2", &documented_params(), SIGNATURE));
        // Plain http uses port 80.
        let http = compute(hmac_sha1, AUTH_TOKEN, "http://example.com/sms", &[]);
        assert!(is_valid(hmac_sha1, AUTH_TOKEN, "http://example.com:80/sms", &[], &http));
        assert!(!is_valid(hmac_sha1, AUTH_TOKEN, "http://example.com:443/sms", &[], &http));
    }

    #[test]
    fn anything_changed_fails() {
        let params = documented_params();
        // Wrong URL: path, query and scheme are all signed.
        for url in [
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            "https://mycompany.com/myapp.php",
            "https://mycompany.com/otherapp.php?foo=1&bar=2",
            "http://mycompany.com/myapp.php?foo=1&bar=2",
        ] {
            assert!(!is_valid(hmac_sha1, AUTH_TOKEN, url, &params, SIGNATURE), "{url}");
        }
        // A changed or added parameter.
        let mut tampered = params.clone();
        tampered[4].1 = "4321".into();
        assert!(!is_valid(hmac_sha1, AUTH_TOKEN, URL, &tampered, SIGNATURE));
        let mut extra = params.clone();
        extra.push(("Body".into(), "hi".into()));
        assert!(!is_valid(hmac_sha1, AUTH_TOKEN, URL, &extra, SIGNATURE));
        // Wrong token, empty or garbled signature, empty token.
        assert!(!is_valid(hmac_sha1, "54321", URL, &params, SIGNATURE));
        assert!(!is_valid(hmac_sha1, AUTH_TOKEN, URL, &params, ""));
        assert!(!is_valid(hmac_sha1, AUTH_TOKEN, URL, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ"));
        assert!(!is_valid(hmac_sha1, "", URL, &params, SIGNATURE));
    }

    #[test]
    fn repeated_names_sort_by_value_and_non_ascii_is_signed_as_utf8() {
        let params = pairs(&[("MediaUrl", "b"), ("Body", "Olá 👋"), ("MediaUrl", "a")]);
        assert_eq!(signing_string("https://x.test/s", &params), "https://x.test/sBodyOlá 👋MediaUrlaMediaUrlb");
        let signature = compute(hmac_sha1, "tok", "https://x.test/s", &params);
        let reordered = pairs(&[("MediaUrl", "a"), ("MediaUrl", "b"), ("Body", "Olá 👋")]);
        assert!(is_valid(hmac_sha1, "tok", "https://x.test/s", &reordered, &signature));
    }

    #[test]
    fn url_variant_forms() {
        assert_eq!(
            url_variants("https://switchboard.test/webhooks/sms"),
            ["https://switchboard.test/webhooks/sms", "https://switchboard.test:443/webhooks/sms"]
        );
        assert_eq!(
            url_variants("https://switchboard.test:443/webhooks/sms?x=1"),
            ["https://switchboard.test:443/webhooks/sms?x=1", "https://switchboard.test/webhooks/sms?x=1"]
        );
        assert_eq!(url_variants("http://h.test?x=1"), ["http://h.test?x=1", "http://h.test:80?x=1"]);
        assert_eq!(url_variants("https://h.test:8443/a"), ["https://h.test:8443/a"]);
        assert_eq!(url_variants("https://[2001:db8::1]/a"), ["https://[2001:db8::1]/a", "https://[2001:db8::1]:443/a"]);
        assert_eq!(url_variants("https://[2001:db8::1]:443/a"), ["https://[2001:db8::1]:443/a", "https://[2001:db8::1]/a"]);
        assert_eq!(url_variants("not a url"), ["not a url"]);
        assert_eq!(url_variants("ftp://h.test/a"), ["ftp://h.test/a"]);
    }
}
