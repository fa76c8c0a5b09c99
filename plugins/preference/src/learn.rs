//! Which channel the customer answers on: what the host learned about each of the contact's
//! channels (replies, median reply time) decides the reply channel. Pure, so every case is
//! tested natively.
//!
//! Volume comes first, because a channel the customer answers on many times is one they
//! watch; speed breaks near-ties, because a handful of answers less says little while
//! answering in minutes instead of hours is what the customer feels.

use std::cmp::Ordering;

use switchboard_sdk::router::prelude::*;

use switchboard_sdk::router::human_duration as human;
use crate::settings::Settings;

/// A channel whose replies are at least this share of the top count (in fifths: 4/5 = 80%)
/// competes with the top channel on speed.
const NEAR_TOP_FIFTHS: u64 = 4;

/// Prefer the channel the contact answers on most often and fastest. Sets `reply_channel`
/// whenever some channel has `min_replies` answers, also when it is the channel the message
/// came on (so a later policy, or the host's default, does not move the reply elsewhere); an
/// earlier policy's reply channel does not hold it back, since the chain's order decides which
/// opinion wins.
pub fn decide(context: &Context, _so_far: &Decision, settings: &Settings) -> Decision {
    let counting: Vec<&ReachableChannel> =
        context.contact.channels.iter().filter(|channel| channel.replies >= settings.min_replies).collect();
    let Some(top) = counting.iter().map(|channel| channel.replies).max() else {
        return Decision::because(format!(
            "not enough answers to learn from (no channel has {} yet)",
            replies(settings.min_replies)
        ));
    };
    let near_top = |channel: &&&ReachableChannel| u64::from(channel.replies) * 5 >= u64::from(top) * NEAR_TOP_FIFTHS;
    let Some(pick) = counting.iter().filter(near_top).min_by(|a, b| faster(a, b)) else {
        // Unreachable: the top channel itself is near the top.
        return Decision::because("not enough answers to learn from");
    };
    let reason = if pick.replies == top {
        format!("answers on {} most often ({})", pick.channel_id, summary(pick))
    } else {
        // Picked for speed over a channel with more answers: name that one too.
        let most = counting.iter().filter(|channel| channel.replies == top).min_by(|a, b| faster(a, b));
        match most {
            Some(most) => format!("answers on {} fastest ({}; {}: {})", pick.channel_id, summary(pick), most.channel_id, summary(most)),
            None => format!("answers on {} fastest ({})", pick.channel_id, summary(pick)),
        }
    };
    Decision { reply_channel: Some(pick.channel_id.clone()), ..Decision::because(reason) }
}

/// The better of two channels near the top: the lower median reply time (unknown counts as
/// slowest), then more messages, then the channel id, so the choice never depends on the
/// order the host listed them in.
fn faster(a: &ReachableChannel, b: &ReachableChannel) -> Ordering {
    let median = |channel: &ReachableChannel| channel.median_reply_ms.unwrap_or(u64::MAX);
    median(a).cmp(&median(b)).then(b.messages.cmp(&a.messages)).then_with(|| a.channel_id.cmp(&b.channel_id))
}

/// "6 replies, median 2 min".
fn summary(channel: &ReachableChannel) -> String {
    match channel.median_reply_ms {
        Some(ms) => format!("{}, median {}", replies(channel.replies), human(ms)),
        None => replies(channel.replies),
    }
}

fn replies(count: u32) -> String {
    if count == 1 { "1 reply".to_string() } else { format!("{count} replies") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000_000;
    const MINUTE: u64 = 60_000;

    /// A conversation whose contact is reachable on `channels` and who just wrote on `came_on`.
    fn context(channels: Vec<ReachableChannel>, came_on: &str) -> Context {
        Context {
            trigger: Trigger::Message,
            conversation: Conversation {
                id: 1,
                status: Status::Open,
                priority: Priority::Normal,
                assignee: None,
                team: None,
                labels: Vec::new(),
                waiting_since_ms: Some(NOW),
                unanswered: 1,
                auto_replies: Vec::new(),
            },
            contact: Contact { id: 7, name: None, channels },
            messages: vec![Message {
                id: 100,
                channel_id: came_on.into(),
                kind: "text".into(),
                text: Some("hello".into()),
                received_at_ms: NOW,
                automated: false,
            }],
            now_ms: NOW,
            agents: Vec::new(),
            teams: Vec::new(),
        }
    }

    /// A channel the contact answered on `replies` times, with a median of `median_min`
    /// minutes, and `messages` messages in all.
    fn channel(id: &str, replies: u32, median_min: Option<u64>, messages: u32) -> ReachableChannel {
        ReachableChannel {
            channel_id: id.into(),
            plugin: id.into(),
            address: "+15550100".into(),
            templates: false,
            last_inbound_ms: Some(NOW - 3_600_000),
            messages,
            replies,
            median_reply_ms: median_min.map(|minutes| minutes * MINUTE),
        }
    }

    fn run(channels: Vec<ReachableChannel>) -> Decision {
        decide(&context(channels, "email"), &Decision::because(""), &Settings::default())
    }

    #[test]
    fn the_channel_answered_on_most_wins() {
        let decision = run(vec![channel("email", 2, Some(90), 4), channel("sms", 6, Some(2), 9)]);
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
        assert_eq!(decision.reason, "answers on sms most often (6 replies, median 2 min)");
    }

    #[test]
    fn near_the_top_the_faster_channel_wins() {
        // 5 of 6 is within 80%: speed decides.
        let decision = run(vec![channel("whatsapp", 6, Some(180), 10), channel("sms", 5, Some(2), 5)]);
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
        assert_eq!(decision.reason, "answers on sms fastest (5 replies, median 2 min; whatsapp: 6 replies, median 3 h)");
    }

    #[test]
    fn below_eighty_percent_volume_wins_over_speed() {
        // 4 of 6 is 67%: too few to compete.
        let decision = run(vec![channel("whatsapp", 6, Some(180), 10), channel("sms", 4, Some(1), 5)]);
        assert_eq!(decision.reply_channel.as_deref(), Some("whatsapp"));
    }

    #[test]
    fn exactly_eighty_percent_competes() {
        let decision = run(vec![channel("whatsapp", 10, Some(60), 10), channel("sms", 8, Some(5), 8)]);
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
    }

    #[test]
    fn equal_speed_goes_to_more_messages_then_channel_id() {
        let decision = run(vec![channel("sms", 5, Some(10), 5), channel("whatsapp", 5, Some(10), 12)]);
        assert_eq!(decision.reply_channel.as_deref(), Some("whatsapp"));
        let decision = run(vec![channel("whatsapp", 5, Some(10), 5), channel("sms", 5, Some(10), 5)]);
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
    }

    #[test]
    fn an_unknown_median_counts_as_slowest() {
        let decision = run(vec![channel("email", 5, None, 5), channel("sms", 5, Some(600), 5)]);
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
        let decision = run(vec![channel("email", 5, None, 5)]);
        assert_eq!(decision.reason, "answers on email most often (5 replies)");
    }

    #[test]
    fn channels_below_min_replies_do_not_count() {
        // One very fast answer on sms says little; email has the answers.
        let decision = run(vec![channel("sms", 1, Some(1), 1), channel("email", 2, Some(300), 3)]);
        assert_eq!(decision.reply_channel.as_deref(), Some("email"));
    }

    #[test]
    fn not_enough_answers_decides_nothing() {
        let decision = run(vec![channel("sms", 1, Some(1), 3), channel("email", 0, None, 1)]);
        assert!(decision.is_empty());
        assert_eq!(decision.reason, "not enough answers to learn from (no channel has 2 replies yet)");
        assert!(run(Vec::new()).is_empty());
    }

    #[test]
    fn min_replies_is_configurable() {
        let channels = vec![channel("sms", 1, Some(1), 1)];
        let one = Settings { min_replies: 1 };
        let decision = decide(&context(channels.clone(), "sms"), &Decision::because(""), &one);
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
        assert_eq!(decision.reason, "answers on sms most often (1 reply, median 1 min)");
        let five = Settings { min_replies: 5 };
        let decision = decide(&context(channels, "sms"), &Decision::because(""), &five);
        assert_eq!(decision.reason, "not enough answers to learn from (no channel has 5 replies yet)");
    }

    #[test]
    fn the_channel_the_message_came_on_is_still_set() {
        let decision = decide(&context(vec![channel("sms", 3, Some(5), 3)], "sms"), &Decision::because(""), &Settings::default());
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
    }

    #[test]
    fn an_earlier_reply_channel_does_not_hold_it_back() {
        let so_far = Decision { reply_channel: Some("email".into()), ..Decision::because("email is cheapest (0)") };
        let decision = decide(&context(vec![channel("sms", 3, Some(5), 3)], "email"), &so_far, &Settings::default());
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
    }

    #[test]
    fn only_the_reply_channel_is_decided() {
        let decision = run(vec![channel("sms", 3, Some(5), 3)]);
        assert_eq!((decision.team, decision.agent, decision.priority, decision.auto_reply), (None, None, None, None));
        assert!(decision.add_labels.is_empty());
    }
}
