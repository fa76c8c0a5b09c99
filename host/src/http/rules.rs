//! Input rules shared by the handlers, written to mean exactly what the OpenAPI document's
//! patterns and types say, so a request the document allows is one the handlers take.
//!
//! The document's regular expressions are ECMA-262's (JSON Schema's dialect), whose `\s` is not
//! Unicode's White_Space that Rust's `char::is_whitespace` and `str::trim` use: it includes
//! U+FEFF and leaves out U+0085. Checks of "not only spaces" (`\S`) and "no spaces" use
//! [`is_space`] for that reason.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// A JSON request body that must be an object, as every body in the document is. (serde's
/// derived `Deserialize` also takes a struct as an array of its fields in order, so `[null]`
/// would pass for an object whose fields are all optional.) Errors are the JSON ones every
/// body gets: `415` without a JSON content type, `400` for bad syntax, `422` for the wrong
/// shape, and the body-reading `413`/`408`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<mime::Mime>().ok())
            .is_some_and(|mime| mime.type_() == "application" && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json")));
        if !json {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "the body must be `application/json`"));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::from(axum::extract::rejection::JsonRejection::BytesRejection(rejection)))?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') && serde_json::from_slice::<serde_json::Value>(&bytes).is_ok() {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", "the body must be a JSON object"));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Self(value))
    }
}

/// The check the document's email pattern (`^[^@\s]+@[^@\s]+\.[^@\s]+$`) describes.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    let clean = |part: &str| !part.is_empty() && !part.contains(|c: char| c == '@' || is_space(c));
    clean(local) && clean(domain) && domain.char_indices().any(|(i, c)| c == '.' && i > 0 && i + 1 < domain.len()) && email.chars().count() <= 320
}

/// ECMA-262's `\s`: WhiteSpace and LineTerminator.
pub fn is_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// Whether `text` has nothing but spaces (fails the document's `\S`).
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_space)
}

/// `text` without leading and trailing spaces.
pub fn trim(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// [`integer`], for a field that must be there.
pub fn required_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    integer(deserializer)?.ok_or_else(|| serde::de::Error::custom("expected an integer"))
}

/// An optional integer that also takes a float with no fractional part (`151.0`): JSON
/// Schema's `integer` is a mathematical integer, not a JSON number without a dot.
pub fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    // Past 2^53 a float no longer holds every integer, so an out-of-range literal such as
    // -9223372036854775809 would round into range: only smaller integral floats are taken.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match number.as_f64() {
        Some(f) if !number.is_u64() && f.fract() == 0.0 && f.abs() < EXACT => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!("expected an integer of 64 bits, not {number}"))),
    }
}

/// A field that may be absent (`None`), `null` (`Some(None)`: clear it) or an integer.
pub fn nullable_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<i64>>, D::Error> {
    integer(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_are_ecma_262_spaces() {
        assert!(is_blank(" \t\u{feff}\u{3000}"));
        assert!(!is_blank("\u{85}"), "NEL is not \\s in ECMA-262");
        assert_eq!(trim("\u{feff} a \u{a0}"), "a");
    }

    #[test]
    fn integers_take_integral_floats() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "integer")]
            n: Option<i64>,
        }
        let n = |json: &str| serde_json::from_str::<T>(json).map(|t| t.n);
        assert_eq!(n(r#"{"n": 151}"#).unwrap(), Some(151));
        assert_eq!(n(r#"{"n": 151.0}"#).unwrap(), Some(151));
        assert_eq!(n(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(n(r#"{}"#).unwrap(), None);
        assert!(n(r#"{"n": 1.5}"#).is_err());
        assert!(n(r#"{"n": 9223372036854775808}"#).is_err(), "one past i64::MAX");
        assert!(n(r#"{"n": 9.3e18}"#).is_err());
        assert_eq!(n(r#"{"n": -9223372036854775808}"#).unwrap(), Some(i64::MIN));
        assert!(n(r#"{"n": -9223372036854775809}"#).is_err(), "one below i64::MIN");
        assert!(n(r#"{"n": "1"}"#).is_err());
    }
}
