//! The policy's settings, checked. Pure: [`Settings::new`] takes the values as the SDK's config
//! helpers read them, so the checks are tested natively.

use serde_json::Value;

use crate::rules::{Kind, Term, default_terms, parse_terms};

/// Customer messages in a row without an answer that raise the priority a level.
pub const DEFAULT_REPEAT_THRESHOLD: u32 = 3;

/// The config values, as read: strings trimmed and `None` when blank, JSON ones parsed.
#[derive(Debug, Clone, Default)]
pub struct Raw {
    pub keywords: Option<Value>,
    pub patterns: Option<Value>,
    pub replace_defaults: Option<bool>,
    pub repeat_threshold: Option<u32>,
    pub label: Option<String>,
}

/// What [`crate::decide::decide`] works from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The defaults (unless replaced), then the configured keywords, then the patterns.
    pub terms: Vec<Term>,
    /// `unanswered` at or above this raises the priority; 0 turns that off.
    pub repeat_threshold: u32,
    /// Added to the conversation when a term matched.
    pub label: Option<String>,
}

impl Settings {
    /// Check the values. Errors name the setting, for the admin reading the host's log.
    pub fn new(raw: Raw) -> Result<Self, String> {
        let mut terms = if raw.replace_defaults == Some(true) { Vec::new() } else { default_terms() };
        if let Some(keywords) = &raw.keywords {
            terms.extend(parse_terms(Kind::Keywords, keywords)?);
        }
        if let Some(patterns) = &raw.patterns {
            terms.extend(parse_terms(Kind::Patterns, patterns)?);
        }
        Ok(Self { terms, repeat_threshold: raw.repeat_threshold.unwrap_or(DEFAULT_REPEAT_THRESHOLD), label: raw.label })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_on_by_default() {
        let settings = Settings::new(Raw::default()).expect("valid");
        assert_eq!(settings.terms.len(), default_terms().len());
        assert_eq!(settings.repeat_threshold, DEFAULT_REPEAT_THRESHOLD);
        assert_eq!(settings.label, None);
    }

    #[test]
    fn configured_terms_add_to_the_defaults() {
        let raw = Raw {
            keywords: Some(json!({"en": {"urgent": ["outage"]}})),
            patterns: Some(json!({"en": {"high": [r"\bsue\b"]}})),
            ..Raw::default()
        };
        let settings = Settings::new(raw).expect("valid");
        assert_eq!(settings.terms.len(), default_terms().len() + 2);
    }

    #[test]
    fn replace_defaults_keeps_only_the_configured() {
        let raw = Raw {
            keywords: Some(json!({"en": {"urgent": ["outage"]}})),
            replace_defaults: Some(true),
            ..Raw::default()
        };
        let settings = Settings::new(raw).expect("valid");
        assert_eq!(settings.terms.iter().map(|term| term.text.as_str()).collect::<Vec<_>>(), ["outage"]);
    }

    #[test]
    fn the_readme_example_is_valid() {
        // README.md's TOML as the host hands it over: tables as JSON text.
        let keywords = r#"{"en": {"urgent": ["outage", "down time"]},
            "de": {"urgent": ["dringend"], "high": ["rückerstattung", "stornieren"]}}"#;
        let patterns = r#"{"en": {"urgent": ["\\bdown\\s+for\\s+\\d+\\s+(hours?|days?)\\b"]}}"#;
        let settings = Settings::new(Raw {
            keywords: Some(serde_json::from_str(keywords).expect("json")),
            patterns: Some(serde_json::from_str(patterns).expect("json")),
            repeat_threshold: Some(3),
            label: Some("urgent".into()),
            replace_defaults: None,
        })
        .expect("valid");
        assert_eq!(settings.terms.len(), default_terms().len() + 6, "five keywords and a pattern");
    }

    #[test]
    fn bad_terms_fail_the_settings() {
        let raw = Raw { patterns: Some(json!({"en": {"urgent": ["(oops"]}})), ..Raw::default() };
        let error = Settings::new(raw).map(|_| ()).expect_err("invalid");
        assert!(error.contains("`patterns`") && error.contains("(oops"), "{error}");
    }
}
