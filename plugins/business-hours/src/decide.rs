//! The decision: open, nothing to say; closed, the after-hours team and, once per closed
//! period, an auto-reply. Pure: the time is `context.now_ms`, never the clock import, so the
//! same context always decides the same and tests build one by hand.

use switchboard_sdk::router::prelude::*;

use crate::hours::describe_opening;
use crate::settings::Settings;

/// What `{opens}` becomes when no opening is found ahead (holidays for over a year).
const OPENS_UNKNOWN: &str = "soon";

/// Decide for `context` under `settings`.
pub fn decide(context: &Context, settings: &Settings) -> Decision {
    let hours = &settings.hours;
    let Some((now_ms, now)) = i64::try_from(context.now_ms).ok().and_then(|at| Some((at, hours.local(at)?))) else {
        return Decision::because("the time is out of range: no decision");
    };
    if hours.is_open(now_ms) {
        return Decision::because("within business hours");
    }

    let opens = hours.next_opening(now_ms).map_or_else(|| OPENS_UNKNOWN.to_string(), |at| describe_opening(&at, &now));
    let mut decision = Decision::because(String::new());
    let mut notes: Vec<String> = Vec::new();

    if let Some(text) = &settings.auto_reply {
        match hold_back(context, settings, hours.closed_since(now_ms)) {
            Ok(()) => {
                decision.auto_reply = Some(text.replace("{opens}", &opens));
                notes.push("auto-reply".into());
            }
            Err(Some(why)) => notes.push(why.into()),
            Err(None) => {}
        }
    }

    if let Some(name) = &settings.after_hours_team {
        match context.team_named(name) {
            Some(team) => {
                decision.team = Some(team.id);
                notes.push(format!("to {}", team.name));
            }
            None => notes.push(format!("no team named '{name}'")),
        }
    }

    decision.reason = if notes.is_empty() {
        format!("out of hours (opens {opens})")
    } else {
        format!("out of hours (opens {opens}): {}", notes.join(", "))
    };
    decision
}

/// Whether the auto-reply goes out: `Ok` to send it, `Err(Some(why))` to hold it back and say
/// so, `Err(None)` to hold it back silently (no customer wrote: a capacity run).
///
/// It is sent once per closed period: an earlier auto-reply of this policy sent since
/// `closed_since` (the last closing) already told the customer, and a second one reads as
/// spam; one from an earlier closed period does not count, since the customer has been
/// answered in between. Machine-sent messages are never answered (reply loops).
fn hold_back(context: &Context, settings: &Settings, closed_since: i64) -> Result<(), Option<&'static str>> {
    if context.trigger != Trigger::Message || context.messages.is_empty() {
        return Err(None);
    }
    if context.messages.iter().all(|message| message.automated) {
        return Err(Some("no auto-reply to an automated message"));
    }
    let sent_this_period = context.conversation.auto_replies.iter().any(|reply| {
        reply.policy == settings.name && i64::try_from(reply.sent_at_ms).unwrap_or(i64::MAX) >= closed_since
    });
    if sent_this_period {
        return Err(Some("auto-reply already sent"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{DEFAULT_AUTO_REPLY, Raw};
    use chrono::TimeZone;
    use chrono_tz::Europe::Madrid;
    use serde_json::json;

    /// Mon–Fri 09:00–13:00 and 14:00–18:00 in Madrid, with the after-hours team.
    fn settings() -> Settings {
        let split = json!(["09:00-13:00", "14:00-18:00"]);
        Settings::new(Raw {
            name: Some("hours".into()),
            timezone: Some("Europe/Madrid".into()),
            schedule: Some(json!({"mon": split, "tue": split, "wed": split, "thu": split, "fri": split})),
            holidays: vec!["2025-06-09".into()],
            after_hours_team: Some("after HOURS".into()),
            ..Raw::default()
        })
        .expect("valid settings")
    }

    fn madrid(y: i32, m: u32, d: u32, h: u32, min: u32) -> u64 {
        let at = Madrid.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("local time");
        u64::try_from(at.timestamp_millis()).expect("after 1970")
    }

    fn message(text: &str, automated: bool) -> Message {
        Message {
            id: 1,
            channel_id: "whatsapp-main".into(),
            kind: "text".into(),
            text: Some(text.into()),
            received_at_ms: 0,
            automated,
        }
    }

    /// A customer's message arriving at `now_ms`.
    fn context(now_ms: u64) -> Context {
        Context {
            trigger: Trigger::Message,
            conversation: Conversation {
                id: 7,
                status: Status::Open,
                priority: Priority::Normal,
                assignee: None,
                team: None,
                labels: Vec::new(),
                waiting_since_ms: Some(now_ms),
                unanswered: 1,
                auto_replies: Vec::new(),
            },
            contact: Contact { id: 3, name: Some("Ana".into()), channels: Vec::new() },
            messages: vec![message("hola", false)],
            now_ms,
            agents: Vec::new(),
            teams: vec![Team { id: 1, name: "Sales".into() }, Team { id: 2, name: "After hours".into() }],
        }
    }

    #[test]
    fn open_decides_nothing() {
        let decision = decide(&context(madrid(2025, 6, 2, 10, 0)), &settings());
        assert!(decision.is_empty());
        assert_eq!(decision.reason, "within business hours");
    }

    #[test]
    fn closed_sends_the_auto_reply_and_hands_to_the_after_hours_team() {
        let decision = decide(&context(madrid(2025, 6, 3, 22, 0)), &settings());
        assert_eq!(decision.team, Some(2));
        assert_eq!(decision.priority, None);
        assert_eq!(
            decision.auto_reply.as_deref(),
            Some("Thanks for your message. We're closed right now and will answer when we open (Wed 09:00).")
        );
        assert_eq!(decision.reason, "out of hours (opens Wed 09:00): auto-reply, to After hours");
    }

    #[test]
    fn opens_is_replaced_in_a_custom_text() {
        let settings = Settings { auto_reply: Some("Cerrado. Abrimos {opens}; {opens}!".into()), ..settings() };
        let decision = decide(&context(madrid(2025, 6, 2, 13, 30)), &settings);
        assert_eq!(decision.auto_reply.as_deref(), Some("Cerrado. Abrimos Mon 14:00; Mon 14:00!"));
    }

    #[test]
    fn the_weekend_and_a_holiday_push_the_opening() {
        // Monday 9 June is a holiday.
        let decision = decide(&context(madrid(2025, 6, 7, 11, 0)), &settings());
        assert!(decision.reason.starts_with("out of hours (opens Tue 09:00)"), "{}", decision.reason);
        assert!(decision.auto_reply.is_some_and(|text| text.contains("(Tue 09:00)")));
    }

    #[test]
    fn one_auto_reply_per_closed_period() {
        let now = madrid(2025, 6, 3, 22, 0);
        let mut context = context(now);
        // Sent at 19:00, after Tuesday's 18:00 closing: already told.
        context.conversation.auto_replies =
            vec![AutoReply { policy: "hours".into(), sent_at_ms: madrid(2025, 6, 3, 19, 0) }];
        let decision = decide(&context, &settings());
        assert_eq!(decision.auto_reply, None);
        assert_eq!(decision.team, Some(2));
        assert_eq!(decision.reason, "out of hours (opens Wed 09:00): auto-reply already sent, to After hours");

        // Sent exactly at the closing counts too.
        context.conversation.auto_replies[0].sent_at_ms = madrid(2025, 6, 3, 18, 0);
        assert_eq!(decide(&context, &settings()).auto_reply, None);
    }

    #[test]
    fn an_auto_reply_from_an_earlier_closed_period_does_not_count() {
        let mut context = context(madrid(2025, 6, 3, 22, 0));
        // Sent at lunch (13:30): the business was open again since.
        context.conversation.auto_replies =
            vec![AutoReply { policy: "hours".into(), sent_at_ms: madrid(2025, 6, 3, 13, 30) }];
        assert!(decide(&context, &settings()).auto_reply.is_some());
    }

    #[test]
    fn another_policy_s_auto_reply_does_not_count() {
        let mut context = context(madrid(2025, 6, 3, 22, 0));
        context.conversation.auto_replies =
            vec![AutoReply { policy: "welcome".into(), sent_at_ms: madrid(2025, 6, 3, 21, 0) }];
        assert!(decide(&context, &settings()).auto_reply.is_some());
    }

    #[test]
    fn the_closed_period_spans_the_weekend_and_the_holiday() {
        // Tuesday 10 June 08:00, after the weekend and Monday's holiday: one sent on Saturday
        // still counts, one sent on Friday before the closing does not.
        let mut context = context(madrid(2025, 6, 10, 8, 0));
        context.conversation.auto_replies =
            vec![AutoReply { policy: "hours".into(), sent_at_ms: madrid(2025, 6, 7, 10, 0) }];
        assert_eq!(decide(&context, &settings()).auto_reply, None);
        context.conversation.auto_replies[0].sent_at_ms = madrid(2025, 6, 6, 17, 0);
        assert!(decide(&context, &settings()).auto_reply.is_some());
    }

    #[test]
    fn automated_messages_get_no_auto_reply() {
        let mut context = context(madrid(2025, 6, 3, 22, 0));
        context.messages = vec![message("I am out of the office", true)];
        let decision = decide(&context, &settings());
        assert_eq!(decision.auto_reply, None);
        assert_eq!(decision.team, Some(2));
        assert!(decision.reason.contains("no auto-reply to an automated message"), "{}", decision.reason);

        // One human message among them is enough.
        context.messages.push(message("and a real question", false));
        assert!(decide(&context, &settings()).auto_reply.is_some());
    }

    #[test]
    fn capacity_runs_send_no_auto_reply() {
        let mut context = context(madrid(2025, 6, 3, 22, 0));
        context.trigger = Trigger::Capacity;
        context.messages.clear();
        let decision = decide(&context, &settings());
        assert_eq!(decision.auto_reply, None);
        assert_eq!(decision.team, Some(2));
        assert_eq!(decision.reason, "out of hours (opens Wed 09:00): to After hours");
    }

    #[test]
    fn a_missing_team_is_said() {
        let settings = Settings { after_hours_team: Some("Night shift".into()), ..settings() };
        let decision = decide(&context(madrid(2025, 6, 3, 22, 0)), &settings);
        assert_eq!(decision.team, None);
        assert!(decision.auto_reply.is_some());
        assert_eq!(decision.reason, "out of hours (opens Wed 09:00): auto-reply, no team named 'Night shift'");
    }

    #[test]
    fn no_team_and_no_auto_reply_configured() {
        let settings = Settings { after_hours_team: None, auto_reply: None, ..settings() };
        let decision = decide(&context(madrid(2025, 6, 3, 22, 0)), &settings);
        assert!(decision.is_empty());
        assert_eq!(decision.reason, "out of hours (opens Wed 09:00)");
    }

    #[test]
    fn the_default_text_names_the_opening() {
        assert!(DEFAULT_AUTO_REPLY.contains("{opens}"));
    }
}
