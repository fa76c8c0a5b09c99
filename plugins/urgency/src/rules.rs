//! What counts as urgent: the default keywords, the configured keywords and patterns, and how
//! each matches a message. Pure: no host imports, tested natively.
//!
//! Keywords match on words, ignoring case and accents, from the start of a word; the last word
//! of a keyword may go on, so `cancel` matches "Cancelled" and "cancellation" and `refund`
//! matches "refunds", but `urgent` never matches "insurgent". A keyword of several words
//! ("cuanto antes") matches those words in a row, whatever separates them. Patterns are
//! regular expressions, matched case-insensitively against the message as written and with its
//! accents removed, so `devolu[cç][aã]o` and `devolucao` both find "devolução".

use regex::{Regex, RegexBuilder};
use serde_json::Value;
use switchboard_sdk::router::prelude::*;

use crate::fold::{fold, words};

/// The keywords that are on unless `replace_defaults = true`: language, level, keywords.
/// Word forms are chosen for the prefix rule: `complain` also finds "complaint" and
/// "complaining"; plurals that are not a prefix of their singular are listed ("devoluções").
pub const DEFAULT_KEYWORDS: &[(&str, Priority, &[&str])] = &[
    ("en", Priority::Urgent, &["urgent", "asap", "emergency", "emergencies", "immediately"]),
    ("es", Priority::Urgent, &["urgente", "inmediatamente", "cuanto antes"]),
    ("pt", Priority::Urgent, &["urgente", "imediatamente", "o mais rápido possível"]),
    ("en", Priority::High, &["refund", "cancel", "complain", "chargeback"]),
    ("es", Priority::High, &["reembolso", "reembolsar", "devolución", "cancelar", "queja", "reclamación"]),
    (
        "pt",
        Priority::High,
        &["reembolso", "reembolsar", "devolução", "devoluções", "cancelar", "reclamação", "reclamações", "estorno"],
    ),
];

/// A compiled pattern may take this much memory; a pattern that needs more is refused rather
/// than slowing every routing run.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// One keyword or pattern, at its level.
#[derive(Debug, Clone)]
pub struct Term {
    /// As configured, for the reason: "matched 'refund'".
    pub text: String,
    pub level: Priority,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    /// The folded words, in order.
    Keyword(Vec<String>),
    Pattern(Regex),
}

/// A message prepared for matching once, whatever the number of terms.
pub struct Text<'a> {
    original: &'a str,
    folded: String,
}

impl<'a> Text<'a> {
    pub fn new(original: &'a str) -> Self {
        Self { original, folded: fold(original) }
    }

    fn words(&self) -> Vec<&str> {
        words(&self.folded)
    }
}

impl Term {
    /// A keyword; `None` when it has no letters or digits to match.
    pub fn keyword(text: &str, level: Priority) -> Option<Self> {
        let folded = fold(text);
        let keyword_words: Vec<String> = words(&folded).into_iter().map(str::to_string).collect();
        (!keyword_words.is_empty()).then(|| Self {
            text: text.trim().into(),
            level,
            matcher: Matcher::Keyword(keyword_words),
        })
    }

    /// A pattern, case-insensitive; the error is the regex crate's own explanation.
    pub fn pattern(text: &str, level: Priority) -> Result<Self, String> {
        let regex = RegexBuilder::new(text)
            .case_insensitive(true)
            .size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map_err(|error| regex_problem(&error))?;
        Ok(Self { text: text.into(), level, matcher: Matcher::Pattern(regex) })
    }

    /// Where the term matches: the index of each word a keyword starts at, or `None` for a
    /// pattern that matches (a pattern has no word position).
    pub fn find(&self, text: &Text, message_words: &[&str]) -> Vec<Option<usize>> {
        match &self.matcher {
            Matcher::Keyword(keyword) => keyword_positions(keyword, message_words).into_iter().map(Some).collect(),
            Matcher::Pattern(regex) => {
                if regex.is_match(text.original) || regex.is_match(&text.folded) {
                    vec![None]
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// How much of a message a keyword covers, to prefer "urgente" over "urgent" where both
    /// start at the same word.
    fn length(&self) -> usize {
        match &self.matcher {
            Matcher::Keyword(keyword) => keyword.iter().map(String::len).sum::<usize>() + keyword.len(),
            Matcher::Pattern(_) => 0,
        }
    }
}

/// The word indices where `keyword` starts in `message`: every word equal but the last, which
/// need only start with the keyword's last word.
fn keyword_positions(keyword: &[String], message: &[&str]) -> Vec<usize> {
    let Some((last, whole)) = keyword.split_last() else { return Vec::new() };
    if message.len() < keyword.len() {
        return Vec::new();
    }
    (0..=message.len() - keyword.len())
        .filter(|&at| {
            whole.iter().zip(&message[at..]).all(|(want, word)| want == word)
                && message[at + whole.len()].starts_with(last.as_str())
        })
        .collect()
}

/// The regex crate's explanation, on one line: its syntax errors span several, with the
/// pattern repeated and a caret under the fault.
fn regex_problem(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "), str::to_string)
}

/// A term that matched: its text as configured, and its level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit<'a> {
    pub text: &'a str,
    pub level: Priority,
}

/// The terms matching any of `texts` (messages, oldest first), strongest first, then in the
/// order they appear; each term once. Where several keywords start at the same word, only the
/// strongest and then longest counts there ("URGENTE" is 'urgente', not also 'urgent').
pub fn scan<'t>(terms: &'t [Term], texts: &[&str]) -> Vec<Hit<'t>> {
    // (message, position, term); a pattern's position sorts after every word.
    let mut found: Vec<(usize, usize, usize)> = Vec::new();
    for (message, original) in texts.iter().enumerate() {
        let text = Text::new(original);
        let message_words = text.words();
        for (index, term) in terms.iter().enumerate() {
            for at in term.find(&text, &message_words) {
                found.push((message, at.unwrap_or(usize::MAX), index));
            }
        }
    }
    // At each word, the best keyword only.
    found.sort_by_key(|&(message, at, index)| {
        let term = &terms[index];
        (message, at, std::cmp::Reverse((term.level.rank(), term.length())), index)
    });
    found.dedup_by(|later, kept| later.1 != usize::MAX && (later.0, later.1) == (kept.0, kept.1));
    // Strongest first, then first seen; each text once.
    found.sort_by_key(|&(message, at, index)| (std::cmp::Reverse(terms[index].level.rank()), message, at, index));
    let mut hits: Vec<Hit> = Vec::new();
    for (_, _, index) in found {
        let term = &terms[index];
        if !hits.iter().any(|hit| hit.text == term.text) {
            hits.push(Hit { text: &term.text, level: term.level });
        }
    }
    hits
}

/// The default keywords as terms.
pub fn default_terms() -> Vec<Term> {
    DEFAULT_KEYWORDS
        .iter()
        .flat_map(|(_, level, keywords)| keywords.iter().filter_map(|keyword| Term::keyword(keyword, *level)))
        .collect()
}

/// What a `keywords` or `patterns` table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Keywords,
    Patterns,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Self::Keywords => "keywords",
            Self::Patterns => "patterns",
        }
    }
}

/// The terms of a `keywords` or `patterns` setting: a table of languages to a table of levels
/// to a list of strings (one string is a list of one). Errors name the setting and the entry.
pub fn parse_terms(kind: Kind, value: &Value) -> Result<Vec<Term>, String> {
    let key = kind.key();
    let shape = || {
        format!(
            r#"config value `{key}` must be a table of languages to levels to lists, like `en = {{ urgent = ["outage"] }}`"#
        )
    };
    let Value::Object(languages) = value else { return Err(shape()) };
    let mut terms = Vec::new();
    for (language, levels) in languages {
        let Value::Object(levels) = levels else { return Err(shape()) };
        for (level_name, items) in levels {
            let entry = format!("{language}.{level_name}");
            let level = Priority::parse(level_name).ok_or_else(|| {
                format!("config value `{key}`: `{entry}` is not a level (low, normal, high or urgent)")
            })?;
            let items: Vec<&str> = match items {
                Value::String(item) => vec![item.as_str()],
                Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .ok_or_else(|| format!("config value `{key}`: `{entry}` must be a list of strings"))
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(format!("config value `{key}`: `{entry}` must be a list of strings")),
            };
            for item in items {
                terms.push(match kind {
                    Kind::Keywords => Term::keyword(item, level).ok_or_else(|| {
                        format!("config value `{key}`: `{entry}` keyword `{item}` has no letters or digits")
                    })?,
                    Kind::Patterns => Term::pattern(item, level).map_err(|problem| {
                        format!("config value `{key}`: `{entry}` pattern `{item}` is invalid: {problem}")
                    })?,
                });
            }
        }
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hits<'t>(terms: &'t [Term], texts: &[&str]) -> Vec<(&'t str, Priority)> {
        scan(terms, texts).into_iter().map(|hit| (hit.text, hit.level)).collect()
    }

    /// The first hit among the defaults.
    fn first(texts: &[&str]) -> Option<String> {
        scan(&default_terms(), texts).first().map(|hit| hit.text.to_string())
    }

    #[test]
    fn english_defaults() {
        assert_eq!(first(&["URGENT refund please"]).as_deref(), Some("urgent"));
        assert_eq!(first(&["Please reply ASAP"]).as_deref(), Some("asap"));
        assert_eq!(first(&["I want a refund"]).as_deref(), Some("refund"));
        assert_eq!(first(&["I'd like to file a complaint"]).as_deref(), Some("complain"));
        assert_eq!(first(&["my order was cancelled"]).as_deref(), Some("cancel"));
        assert_eq!(first(&["about the cancellation"]).as_deref(), Some("cancel"));
        assert_eq!(first(&["this is an emergency"]).as_deref(), Some("emergency"));
        assert_eq!(first(&["What are your opening hours?"]).as_deref(), None);
    }

    #[test]
    fn spanish_defaults_with_and_without_accents() {
        assert_eq!(first(&["Es URGENTE"]).as_deref(), Some("urgente"));
        assert_eq!(first(&["quiero una devolución"]).as_deref(), Some("devolución"));
        assert_eq!(first(&["quiero una devolucion"]).as_deref(), Some("devolución"), "no accent");
        assert_eq!(first(&["DEVOLUCIÓN"]).as_deref(), Some("devolución"));
        assert_eq!(first(&["dos devoluciones"]).as_deref(), Some("devolución"), "plural by prefix");
        assert_eq!(first(&["respondan cuanto antes por favor"]).as_deref(), Some("cuanto antes"));
        assert_eq!(first(&["respondan cuanto, antes"]).as_deref(), Some("cuanto antes"), "punctuation between");
        assert_eq!(first(&["tengo una reclamacion"]).as_deref(), Some("reclamación"));
        assert_eq!(first(&["quiero cancelar"]).as_deref(), Some("cancelar"), "longer than 'cancel' at the same word");
    }

    #[test]
    fn portuguese_defaults() {
        assert_eq!(first(&["preciso disso o mais rápido possível"]).as_deref(), Some("o mais rápido possível"));
        assert_eq!(first(&["O MAIS RAPIDO POSSIVEL"]).as_deref(), Some("o mais rápido possível"));
        assert_eq!(first(&["quero o estorno"]).as_deref(), Some("estorno"));
        assert_eq!(first(&["duas devoluções"]).as_deref(), Some("devoluções"));
        assert_eq!(first(&["Imediatamente!"]).as_deref(), Some("imediatamente"));
    }

    #[test]
    fn words_start_where_words_start() {
        assert_eq!(first(&["the insurgent army"]).as_deref(), None);
        assert_eq!(first(&["nonrefundable ticket"]).as_deref(), None);
        assert_eq!(first(&["precancel"]).as_deref(), None);
        assert_eq!(first(&["urgently"]).as_deref(), Some("urgent"), "the last word may go on");
        assert_eq!(first(&["cuantos antes"]).as_deref(), None, "only the last word of a phrase may go on");
    }

    #[test]
    fn the_strongest_comes_first_then_the_first_seen() {
        let terms = default_terms();
        assert_eq!(
            hits(&terms, &["I want a refund", "and cancel it, urgent!"]),
            [("urgent", Priority::Urgent), ("refund", Priority::High), ("cancel", Priority::High)]
        );
        assert_eq!(hits(&terms, &["refund", "refund again"]), [("refund", Priority::High)], "each once");
    }

    #[test]
    fn the_same_word_in_two_languages_counts_once() {
        let terms = default_terms();
        assert_eq!(hits(&terms, &["URGENTE"]), [("urgente", Priority::Urgent)]);
        assert_eq!(
            hits(&terms, &["urgente y urgently"]),
            [("urgente", Priority::Urgent), ("urgent", Priority::Urgent)]
        );
    }

    #[test]
    fn configured_keywords() {
        let terms = parse_terms(
            Kind::Keywords,
            &json!({"en": {"urgent": ["outage", "Down Time"]}, "de": {"high": "Rückerstattung"}}),
        )
        .expect("valid");
        assert_eq!(hits(&terms, &["Major OUTAGES here"]), [("outage", Priority::Urgent)]);
        assert_eq!(hits(&terms, &["down-time again"]), [("Down Time", Priority::Urgent)]);
        assert_eq!(hits(&terms, &["Ruckerstattung bitte"]), [("Rückerstattung", Priority::High)]);
    }

    #[test]
    fn configured_patterns_ignore_case_and_accents() {
        let terms = parse_terms(
            Kind::Patterns,
            &json!({"en": {"urgent": [r"\border\s*#?\d{6}\b"]}, "pt": {"high": ["devolucao"]}}),
        )
        .expect("valid");
        assert_eq!(hits(&terms, &["ORDER #123456 is late"]), [(r"\border\s*#?\d{6}\b", Priority::Urgent)]);
        assert_eq!(hits(&terms, &["order 12345"]), []);
        assert_eq!(hits(&terms, &["Quero a DEVOLUÇÃO"]), [("devolucao", Priority::High)]);
        let accented = parse_terms(Kind::Patterns, &json!({"pt": {"high": ["devolução"]}})).expect("valid");
        assert_eq!(hits(&accented, &["quero a DEVOLUÇÃO"]), [("devolução", Priority::High)]);
    }

    #[test]
    fn bad_tables_name_the_setting_and_the_entry() {
        let cases = [
            (Kind::Keywords, json!(["urgent"]), "`keywords`"),
            (Kind::Keywords, json!({"en": ["urgent"]}), "`keywords`"),
            (Kind::Keywords, json!({"en": {"critical": ["down"]}}), "`en.critical`"),
            (Kind::Keywords, json!({"en": {"urgent": [1]}}), "`en.urgent`"),
            (Kind::Keywords, json!({"en": {"urgent": 1}}), "`en.urgent`"),
            (Kind::Keywords, json!({"en": {"urgent": ["!!!"]}}), "`!!!`"),
            (Kind::Patterns, json!({"en": {"urgent": ["(unclosed"]}}), "`(unclosed`"),
            (Kind::Patterns, json!({"en": {"urgent": ["[z-a]"]}}), "`[z-a]`"),
        ];
        for (kind, value, names) in cases {
            let error = parse_terms(kind, &value).map(|_| ()).expect_err("invalid");
            assert!(error.starts_with(&format!("config value `{}`", kind.key())), "{error}");
            assert!(error.contains(names), "{names}: {error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }

    #[test]
    fn a_regex_error_explains_itself() {
        let error = parse_terms(Kind::Patterns, &json!({"en": {"high": ["(unclosed"]}})).map(|_| ()).expect_err("bad");
        assert!(error.ends_with("unclosed group"), "{error}");
    }

    #[test]
    fn every_default_keyword_is_usable() {
        let count: usize = DEFAULT_KEYWORDS.iter().map(|(_, _, keywords)| keywords.len()).sum();
        assert_eq!(default_terms().len(), count);
    }
}
