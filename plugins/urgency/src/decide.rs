//! The decision: the strongest matched level, one level more when the customer keeps writing
//! without an answer, and never lower than where the conversation already stands. Pure: tests
//! build the context by hand.

use switchboard_sdk::router::prelude::*;

use crate::rules::{Hit, scan};
use crate::settings::Settings;

/// Matched terms quoted in the reason; the rest are counted.
const QUOTED_TERMS: usize = 3;

/// Decide for `context`, after the policies before this one decided `so_far`.
pub fn decide(context: &Context, so_far: &Decision, settings: &Settings) -> Decision {
    let current = so_far
        .priority
        .map_or(context.conversation.priority, |earlier| highest(context.conversation.priority, earlier));
    // Machine-sent messages (auto-responders) say "urgent" for their own reasons.
    let texts: Vec<&str> = context
        .messages
        .iter()
        .filter(|message| !message.automated)
        .filter_map(|message| message.text.as_deref())
        .collect();
    let hits = scan(&settings.terms, &texts);
    let matched = hits.first().map(|hit| hit.level);

    let waiting = keeps_writing(context, settings.repeat_threshold);
    let target = match (matched, waiting) {
        (matched, true) => matched.map_or(current, |level| highest(current, level)).raised(),
        (Some(level), false) => level,
        (None, false) => current,
    };

    let mut decision = Decision::because(reason(&hits, waiting.then_some(context.conversation.unanswered)));
    if target.rank() > current.rank() {
        decision.priority = Some(target);
    } else if !hits.is_empty() || waiting {
        decision.reason.push_str(&format!(" (already {})", current.as_str()));
    }
    if let Some(label) = settings.label.as_ref().filter(|_| !hits.is_empty()) {
        let present = |labels: &[String]| labels.iter().any(|have| have.eq_ignore_ascii_case(label));
        if !present(&context.conversation.labels) && !present(&so_far.add_labels) {
            decision.add_labels.push(label.clone());
        }
    }
    decision
}

/// Whether the customer kept writing without an answer: new messages from a person (an
/// auto-responder's do not count) and `unanswered` at the threshold. Each further message
/// while nobody answers raises the priority again, up to urgent; a capacity run, with no new
/// message, raises nothing.
fn keeps_writing(context: &Context, threshold: u32) -> bool {
    threshold > 0
        && context.trigger == Trigger::Message
        && context.messages.iter().any(|message| !message.automated)
        && context.conversation.unanswered >= threshold
}

/// "matched 'urgent', 'refund'", "3 messages without an answer", both, or "no urgent words".
fn reason(hits: &[Hit], unanswered: Option<u32>) -> String {
    let mut parts = Vec::new();
    if !hits.is_empty() {
        let quoted: Vec<String> = hits.iter().take(QUOTED_TERMS).map(|hit| format!("'{}'", hit.text)).collect();
        let more = hits.len().saturating_sub(QUOTED_TERMS);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        parts.push(format!("matched {}{more}", quoted.join(", ")));
    }
    if let Some(count) = unanswered {
        parts.push(format!("{count} messages without an answer"));
    }
    if parts.is_empty() { "no urgent words".into() } else { parts.join("; ") }
}

fn highest(a: Priority, b: Priority) -> Priority {
    if b.rank() > a.rank() { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Raw;
    use serde_json::json;

    fn settings() -> Settings {
        Settings::new(Raw::default()).expect("valid settings")
    }

    fn message(text: Option<&str>, automated: bool) -> Message {
        Message {
            id: 1,
            channel_id: "sms".into(),
            kind: if text.is_some() { "text" } else { "image" }.into(),
            text: text.map(Into::into),
            received_at_ms: 0,
            automated,
        }
    }

    /// A normal-priority conversation with the customer's new messages.
    fn context(texts: &[&str]) -> Context {
        Context {
            trigger: Trigger::Message,
            conversation: Conversation {
                id: 7,
                status: Status::Open,
                priority: Priority::Normal,
                assignee: None,
                team: None,
                labels: Vec::new(),
                waiting_since_ms: Some(0),
                unanswered: u32::try_from(texts.len()).expect("few"),
                auto_replies: Vec::new(),
            },
            contact: Contact { id: 3, name: None, channels: Vec::new() },
            messages: texts.iter().map(|text| message(Some(text), false)).collect(),
            now_ms: 0,
            agents: Vec::new(),
            teams: Vec::new(),
        }
    }

    fn nothing() -> Decision {
        Decision::because("")
    }

    #[test]
    fn urgent_refund_is_urgent() {
        let decision = decide(&context(&["URGENT refund please"]), &nothing(), &settings());
        assert_eq!(decision.priority, Some(Priority::Urgent));
        assert_eq!(decision.reason, "matched 'urgent', 'refund'");
    }

    #[test]
    fn a_refund_is_high() {
        let decision = decide(&context(&["I want a refund"]), &nothing(), &settings());
        assert_eq!(decision.priority, Some(Priority::High));
        assert_eq!(decision.reason, "matched 'refund'");
    }

    #[test]
    fn spanish_and_portuguese() {
        let decision = decide(&context(&["Necesito una devolucion YA"]), &nothing(), &settings());
        assert_eq!((decision.priority, decision.reason.as_str()), (Some(Priority::High), "matched 'devolución'"));
        let decision = decide(&context(&["Preciso disso o mais rapido possivel"]), &nothing(), &settings());
        assert_eq!(decision.priority, Some(Priority::Urgent));
        assert_eq!(decision.reason, "matched 'o mais rápido possível'");
    }

    #[test]
    fn nothing_matched_decides_nothing() {
        let decision = decide(&context(&["What are your opening hours?"]), &nothing(), &settings());
        assert!(decision.is_empty());
        assert_eq!(decision.reason, "no urgent words");
    }

    #[test]
    fn every_message_is_read_and_missing_text_is_fine() {
        let mut context = context(&["hello", "where is my order?"]);
        context.messages.insert(0, message(None, false));
        context.messages.push(message(Some("it's an emergency"), false));
        context.conversation.unanswered = 1;
        let decision = decide(&context, &nothing(), &settings());
        assert_eq!(decision.priority, Some(Priority::Urgent));
        assert_eq!(decision.reason, "matched 'emergency'");
    }

    #[test]
    fn automated_messages_are_not_read() {
        let mut context = context(&[]);
        context.messages = vec![message(Some("Auto-reply: for urgent matters call us"), true)];
        context.conversation.unanswered = 5;
        let decision = decide(&context, &nothing(), &settings());
        assert!(decision.is_empty(), "{decision:?}");
    }

    #[test]
    fn never_lowers_the_conversation() {
        let mut context = context(&["I want a refund"]);
        context.conversation.priority = Priority::Urgent;
        let decision = decide(&context, &nothing(), &settings());
        assert_eq!(decision.priority, None);
        assert_eq!(decision.reason, "matched 'refund' (already urgent)");
    }

    #[test]
    fn never_lowers_an_earlier_policy_s_decision() {
        let so_far = Decision { priority: Some(Priority::Urgent), ..nothing() };
        let decision = decide(&context(&["I want a refund"]), &so_far, &settings());
        assert_eq!(decision.priority, None);
        let so_far = Decision { priority: Some(Priority::Low), ..nothing() };
        let decision = decide(&context(&["I want a refund"]), &so_far, &settings());
        assert_eq!(decision.priority, Some(Priority::High), "the conversation's normal counts too");
    }

    #[test]
    fn same_level_is_not_set_again() {
        let mut context = context(&["cancel my plan"]);
        context.conversation.priority = Priority::High;
        assert_eq!(decide(&context, &nothing(), &settings()).priority, None);
    }

    #[test]
    fn repeated_messages_raise_one_level() {
        let decision = decide(&context(&["hello?", "anyone?", "hello??"]), &nothing(), &settings());
        assert_eq!(decision.priority, Some(Priority::High));
        assert_eq!(decision.reason, "3 messages without an answer");

        let below = decide(&context(&["hello?", "anyone?"]), &nothing(), &settings());
        assert_eq!(below.priority, None);
    }

    #[test]
    fn repetition_raises_above_the_strongest_of_everything() {
        let decision = decide(&context(&["refund", "please", "now"]), &nothing(), &settings());
        assert_eq!(decision.priority, Some(Priority::Urgent), "high from the keyword, one more");
        assert_eq!(decision.reason, "matched 'refund'; 3 messages without an answer");

        let mut context = context(&["hi", "hi", "hi", "hi"]);
        context.conversation.priority = Priority::Low;
        let so_far = Decision { priority: Some(Priority::High), ..nothing() };
        assert_eq!(decide(&context, &so_far, &settings()).priority, Some(Priority::Urgent));

        context.conversation.priority = Priority::Urgent;
        let decision = decide(&context, &nothing(), &settings());
        assert_eq!(decision.priority, None, "urgent stays urgent");
        assert_eq!(decision.reason, "4 messages without an answer (already urgent)");
    }

    #[test]
    fn the_threshold_is_configurable_and_zero_turns_it_off() {
        let five = Settings { repeat_threshold: 5, ..settings() };
        assert_eq!(decide(&context(&["a", "b", "c"]), &nothing(), &five).priority, None);
        let off = Settings { repeat_threshold: 0, ..settings() };
        assert_eq!(decide(&context(&["a"; 9]), &nothing(), &off).priority, None);
    }

    #[test]
    fn a_capacity_run_does_not_escalate() {
        let mut context = context(&[]);
        context.trigger = Trigger::Capacity;
        context.conversation.unanswered = 6;
        assert!(decide(&context, &nothing(), &settings()).is_empty());
    }

    #[test]
    fn the_label_comes_with_a_match() {
        let settings = Settings { label: Some("urgent".into()), ..settings() };
        let decision = decide(&context(&["refund!"]), &nothing(), &settings);
        assert_eq!(decision.add_labels, ["urgent"]);

        let mut context = context(&["refund!"]);
        context.conversation.labels = vec!["Urgent".into()];
        assert!(decide(&context, &nothing(), &settings).add_labels.is_empty(), "already there");

        let decision = decide(&self::context(&["hello", "hello", "hello"]), &nothing(), &settings);
        assert!(decision.add_labels.is_empty(), "escalation alone is not a match");
    }

    #[test]
    fn the_label_comes_even_when_the_priority_stays() {
        let settings = Settings { label: Some("refund".into()), ..settings() };
        let mut context = context(&["refund!"]);
        context.conversation.priority = Priority::Urgent;
        let decision = decide(&context, &nothing(), &settings);
        assert_eq!((decision.priority, decision.add_labels), (None, vec!["refund".to_string()]));
    }

    #[test]
    fn configured_terms_and_levels() {
        let settings = Settings::new(Raw {
            keywords: Some(json!({"en": {"urgent": ["outage"]}, "de": {"high": ["rückerstattung"]}})),
            patterns: Some(json!({"en": {"urgent": [r"\bdown\s+for\s+\d+\s+hours?\b"]}})),
            ..Raw::default()
        })
        .expect("valid");
        let decision = decide(&context(&["Total OUTAGE since noon"]), &nothing(), &settings);
        assert_eq!((decision.priority, decision.reason.as_str()), (Some(Priority::Urgent), "matched 'outage'"));
        let decision = decide(&context(&["Rückerstattung bitte"]), &nothing(), &settings);
        assert_eq!((decision.priority, decision.reason.as_str()), (Some(Priority::High), "matched 'rückerstattung'"));
        let decision = decide(&context(&["site DOWN for 3 hours"]), &nothing(), &settings);
        assert_eq!(decision.priority, Some(Priority::Urgent));
        assert_eq!(decision.reason, r"matched '\bdown\s+for\s+\d+\s+hours?\b'");
    }

    #[test]
    fn a_configured_word_can_raise_a_default_one() {
        let settings = Settings::new(Raw { keywords: Some(json!({"en": {"urgent": ["refund"]}})), ..Raw::default() })
            .expect("valid");
        assert_eq!(decide(&context(&["refund"]), &nothing(), &settings).priority, Some(Priority::Urgent));
    }

    #[test]
    fn replaced_defaults_no_longer_match() {
        let settings = Settings::new(Raw {
            keywords: Some(json!({"en": {"urgent": ["outage"]}})),
            replace_defaults: Some(true),
            ..Raw::default()
        })
        .expect("valid");
        assert!(decide(&context(&["URGENT refund"]), &nothing(), &settings).is_empty());
    }

    #[test]
    fn many_matches_are_counted_past_three() {
        let decision = decide(&context(&["urgent asap refund cancel complaint"]), &nothing(), &settings());
        assert_eq!(decision.reason, "matched 'urgent', 'asap', 'refund' and 2 more");
    }
}
