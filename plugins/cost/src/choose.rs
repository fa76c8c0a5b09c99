//! Which channel a reply costs least on, among those it may still be sent on. Pure (the time
//! is the context's `now_ms`, not the clock import), so every case is tested natively.
//!
//! Providers with a customer-service window (WhatsApp, Messenger, Instagram) accept a free-form
//! reply only within it; after that only a pre-approved template goes through, so a closed
//! window leaves "a template or another channel". A cheap channel the reply cannot be sent on
//! is no saving.

use std::cmp::Ordering;

use switchboard_sdk::router::prelude::*;

use switchboard_sdk::router::human_duration as human;
use crate::settings::Settings;

/// Whether a reply can leave on a priced channel now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// No window, or inside it: anything may be sent.
    Open,
    /// Its window is closed but a fitting template is approved.
    ByTemplate(Closed),
    /// Its window is closed and no template helps.
    Shut { closed: Closed, sends_templates: bool },
}

/// How long ago a window closed; `None` when the contact never wrote there, so it never opened.
type Closed = Option<u64>;

struct Priced<'a> {
    channel: &'a ReachableChannel,
    cost: f64,
    standing: Standing,
}

/// Set the reply channel to the cheapest one that can carry a reply now. Channels without a
/// configured cost are not considered; equal costs go to the channel the customer's newest
/// message came on (no reason to switch for nothing), then to the channel id.
pub fn decide(context: &Context, _so_far: &Decision, settings: &Settings) -> Decision {
    let priced: Vec<Priced> = context
        .contact
        .channels
        .iter()
        .filter_map(|channel| {
            let cost = settings.cost(channel)?;
            Some(Priced { channel, cost, standing: standing(channel, context.now_ms, settings) })
        })
        .collect();
    if priced.is_empty() {
        return Decision::because("no priced channel");
    }
    let came_on = context.messages.iter().max_by_key(|message| message.received_at_ms).map(|message| &message.channel_id);
    let order = |a: &&Priced, b: &&Priced| -> Ordering {
        let not_came_on = |p: &Priced| Some(&p.channel.channel_id) != came_on;
        a.cost
            .total_cmp(&b.cost)
            .then(not_came_on(a).cmp(&not_came_on(b)))
            .then_with(|| a.channel.channel_id.cmp(&b.channel.channel_id))
    };
    let mut shut: Vec<&Priced> = priced.iter().filter(|p| matches!(p.standing, Standing::Shut { .. })).collect();
    shut.sort_by(order);
    let Some(pick) = priced.iter().filter(|p| !matches!(p.standing, Standing::Shut { .. })).min_by(order) else {
        let why: Vec<String> = shut.iter().map(|p| why_shut(p)).collect();
        return Decision::because(format!("no priced channel is open: {}", why.join("; ")));
    };
    let mut reason = format!("{} is cheapest ({})", pick.channel.channel_id, pick.cost);
    if let Standing::ByTemplate(closed) = pick.standing {
        reason.push_str(&format!(", by template: {}", window_closed("its", closed)));
    }
    // The channels that would have been as cheap or cheaper, had their window been open.
    for passed in shut.iter().filter(|p| p.cost <= pick.cost) {
        reason.push_str("; ");
        reason.push_str(&why_shut(passed));
    }
    Decision { reply_channel: Some(pick.channel.channel_id.clone()), ..Decision::because(reason) }
}

fn standing(channel: &ReachableChannel, now_ms: u64, settings: &Settings) -> Standing {
    let Some(window_ms) = settings.window_ms(channel) else { return Standing::Open };
    let closed = match channel.last_inbound_ms {
        // A last message "in the future" (clocks disagree) counts as just now.
        Some(at) if now_ms.saturating_sub(at) < window_ms => return Standing::Open,
        Some(at) => Some(now_ms.saturating_sub(at) - window_ms),
        None => None,
    };
    if channel.templates && settings.has_template(channel) {
        Standing::ByTemplate(closed)
    } else {
        Standing::Shut { closed, sends_templates: channel.templates }
    }
}

/// "whatsapp's window closed 2 days ago and no template fits".
fn why_shut(priced: &Priced) -> String {
    let Standing::Shut { closed, sends_templates } = priced.standing else { return String::new() };
    let owner = format!("{}'s", priced.channel.channel_id);
    let template = if sends_templates { "no template fits" } else { "it sends no templates" };
    format!("{} and {template}", window_closed(&owner, closed))
}

fn window_closed(owner: &str, closed: Closed) -> String {
    match closed {
        // "closed 0 s ago" reads like a glitch; under a minute is "just now".
        Some(ago) if ago < 60_000 => format!("{owner} window closed just now"),
        Some(ago) => format!("{owner} window closed {} ago", human(ago)),
        None => format!("{owner} window never opened (no message there)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000_000;
    const HOUR: u64 = 3_600_000;
    const DAY: u64 = 24 * HOUR;

    /// A contact reachable on `channels`, whose newest message came on `came_on`.
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
            messages: vec![message(1, "older", NOW - HOUR), message(2, came_on, NOW - 1_000)],
            now_ms: NOW,
            agents: Vec::new(),
            teams: Vec::new(),
        }
    }

    fn message(id: i64, channel_id: &str, received_at_ms: u64) -> Message {
        Message { id, channel_id: channel_id.into(), kind: "text".into(), text: None, received_at_ms, automated: false }
    }

    /// A channel of `plugin` where the contact last wrote `ago` ms ago (`None`: never).
    fn channel(id: &str, plugin: &str, ago: Option<u64>, templates: bool) -> ReachableChannel {
        ReachableChannel {
            channel_id: id.into(),
            plugin: plugin.into(),
            address: "+15550100".into(),
            templates,
            last_inbound_ms: ago.map(|ago| NOW - ago),
            messages: 3,
            replies: 1,
            median_reply_ms: None,
        }
    }

    fn settings(costs: &str, extra: &[(&str, &str)]) -> Settings {
        let parsed = Settings::parse(|key| {
            if key == "costs" { Some(costs.to_string()) } else { extra.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()) }
        });
        match parsed {
            Ok(settings) => settings,
            Err(error) => panic!("{error}"),
        }
    }

    const COSTS: &str = r#"{"whatsapp": 0.005, "twilio-sms": 0.0079, "email": 0.001, "webchat": 0.001}"#;

    fn run(channels: Vec<ReachableChannel>, settings: &Settings) -> Decision {
        decide(&context(channels, "sms"), &Decision::because(""), settings)
    }

    #[test]
    fn a_closed_whatsapp_window_without_a_template_goes_to_sms() {
        let channels = vec![channel("whatsapp", "whatsapp", Some(3 * DAY), true), channel("sms", "twilio-sms", Some(3 * DAY), false)];
        let decision = run(channels, &settings(COSTS, &[]));
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
        assert_eq!(decision.reason, "sms is cheapest (0.0079); whatsapp's window closed 2 days ago and no template fits");
    }

    #[test]
    fn an_open_window_keeps_the_cheaper_channel() {
        let channels = vec![channel("whatsapp", "whatsapp", Some(2 * HOUR), true), channel("sms", "twilio-sms", None, false)];
        let decision = run(channels, &settings(COSTS, &[]));
        assert_eq!(decision.reply_channel.as_deref(), Some("whatsapp"));
        assert_eq!(decision.reason, "whatsapp is cheapest (0.005)");
    }

    #[test]
    fn the_window_closes_at_exactly_its_length() {
        let just_in = vec![channel("whatsapp", "whatsapp", Some(DAY - 1), false), channel("sms", "twilio-sms", None, false)];
        assert_eq!(run(just_in, &settings(COSTS, &[])).reply_channel.as_deref(), Some("whatsapp"));
        let just_out = vec![channel("whatsapp", "whatsapp", Some(DAY), false), channel("sms", "twilio-sms", None, false)];
        let decision = run(just_out, &settings(COSTS, &[]));
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
        assert_eq!(decision.reason, "sms is cheapest (0.0079); whatsapp's window closed just now and it sends no templates");
    }

    #[test]
    fn a_listed_template_keeps_a_closed_channel() {
        let channels = vec![channel("whatsapp", "whatsapp", Some(3 * DAY), true), channel("sms", "twilio-sms", None, false)];
        let decision = run(channels, &settings(COSTS, &[("templates", r#"["whatsapp"]"#)]));
        assert_eq!(decision.reply_channel.as_deref(), Some("whatsapp"));
        assert_eq!(decision.reason, "whatsapp is cheapest (0.005), by template: its window closed 2 days ago");
    }

    #[test]
    fn a_listed_template_needs_the_channels_template_capability() {
        let channels = vec![channel("whatsapp", "whatsapp", Some(3 * DAY), false), channel("sms", "twilio-sms", None, false)];
        let decision = run(channels, &settings(COSTS, &[("templates", "whatsapp")]));
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
        assert!(decision.reason.ends_with("whatsapp's window closed 2 days ago and it sends no templates"), "{}", decision.reason);
    }

    #[test]
    fn a_window_that_never_opened_is_closed() {
        let channels = vec![channel("messenger", "messenger", None, true), channel("mail", "email", None, false)];
        let decision = run(channels, &settings(r#"{"messenger": 0, "email": 0.001}"#, &[]));
        assert_eq!(decision.reply_channel.as_deref(), Some("mail"));
        assert_eq!(decision.reason, "mail is cheapest (0.001); messenger's window never opened (no message there) and no template fits");
    }

    #[test]
    fn channels_without_a_window_are_always_open() {
        let channels = vec![channel("mail", "email", None, false), channel("sms", "twilio-sms", Some(300 * DAY), false)];
        let decision = run(channels, &settings(COSTS, &[]));
        assert_eq!(decision.reply_channel.as_deref(), Some("mail"));
        assert_eq!(decision.reason, "mail is cheapest (0.001)");
    }

    #[test]
    fn configured_windows_apply() {
        let channels = vec![channel("mail", "email", Some(2 * HOUR), false), channel("sms", "twilio-sms", None, false)];
        let decision = run(channels.clone(), &settings(COSTS, &[("windows", r#"{"email": 1}"#)]));
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
        assert_eq!(decision.reason, "sms is cheapest (0.0079); mail's window closed 1 h ago and it sends no templates");
        let wider = settings(COSTS, &[("windows", r#"{"whatsapp": 96}"#)]);
        let channels = vec![channel("whatsapp", "whatsapp", Some(3 * DAY), false), channel("sms", "twilio-sms", None, false)];
        assert_eq!(run(channels, &wider).reply_channel.as_deref(), Some("whatsapp"));
    }

    #[test]
    fn unpriced_channels_are_not_candidates() {
        let channels = vec![channel("tg", "telegram", None, false), channel("sms", "twilio-sms", None, false)];
        assert_eq!(run(channels, &settings(COSTS, &[])).reply_channel.as_deref(), Some("sms"));
        let decision = run(vec![channel("tg", "telegram", None, false)], &settings(COSTS, &[]));
        assert!(decision.is_empty());
        assert_eq!(decision.reason, "no priced channel");
        assert_eq!(run(Vec::new(), &settings(COSTS, &[])).reason, "no priced channel");
    }

    #[test]
    fn every_priced_channel_closed_decides_nothing() {
        let channels = vec![channel("whatsapp", "whatsapp", Some(3 * DAY), true), channel("ig", "instagram", Some(30 * HOUR), false)];
        let decision = run(channels, &settings(r#"{"whatsapp": 0.005, "instagram": 0}"#, &[]));
        assert!(decision.is_empty());
        assert_eq!(
            decision.reason,
            "no priced channel is open: ig's window closed 6 h ago and it sends no templates; whatsapp's window closed 2 days ago and no template fits"
        );
    }

    #[test]
    fn a_channel_id_price_wins_over_its_plugins() {
        let costs = r#"{"whatsapp": 0.005, "whatsapp-eu": 0.02, "twilio-sms": 0.0079}"#;
        let channels = vec![channel("whatsapp-eu", "whatsapp", Some(HOUR), false), channel("sms", "twilio-sms", None, false)];
        let decision = run(channels, &settings(costs, &[]));
        assert_eq!(decision.reply_channel.as_deref(), Some("sms"));
        assert_eq!(decision.reason, "sms is cheapest (0.0079)", "a more expensive channel passed over is not worth a word");
    }

    #[test]
    fn equal_costs_go_to_the_channel_the_message_came_on_then_the_id() {
        let costs = r#"{"email": 0, "webchat": 0}"#;
        let channels = vec![channel("mail", "email", None, false), channel("chat", "webchat", None, false)];
        let on_mail = decide(&context(channels.clone(), "mail"), &Decision::because(""), &settings(costs, &[]));
        assert_eq!(on_mail.reply_channel.as_deref(), Some("mail"));
        let on_sms = decide(&context(channels, "sms"), &Decision::because(""), &settings(costs, &[]));
        assert_eq!(on_sms.reply_channel.as_deref(), Some("chat"));
        assert_eq!(on_sms.reason, "chat is cheapest (0)");
    }

    #[test]
    fn the_newest_message_is_found_by_time() {
        let costs = r#"{"email": 0, "webchat": 0}"#;
        let channels = vec![channel("mail", "email", None, false), channel("chat", "webchat", None, false)];
        let mut context = context(channels, "chat");
        context.messages.reverse();
        context.messages.push(message(3, "mail", NOW - 2 * HOUR));
        let decision = decide(&context, &Decision::because(""), &settings(costs, &[]));
        assert_eq!(decision.reply_channel.as_deref(), Some("chat"));
    }

    #[test]
    fn a_capacity_run_without_messages_still_decides() {
        let costs = r#"{"email": 0, "webchat": 0}"#;
        let mut context = context(vec![channel("mail", "email", None, false), channel("chat", "webchat", None, false)], "mail");
        context.trigger = Trigger::Capacity;
        context.messages.clear();
        let decision = decide(&context, &Decision::because(""), &settings(costs, &[]));
        assert_eq!(decision.reply_channel.as_deref(), Some("chat"));
    }

    #[test]
    fn an_inbound_time_in_the_future_counts_as_now() {
        let mut whatsapp = channel("whatsapp", "whatsapp", None, false);
        whatsapp.last_inbound_ms = Some(NOW + 60_000);
        let decision = run(vec![whatsapp, channel("sms", "twilio-sms", None, false)], &settings(COSTS, &[]));
        assert_eq!(decision.reply_channel.as_deref(), Some("whatsapp"));
    }

    #[test]
    fn an_earlier_reply_channel_does_not_hold_it_back() {
        let so_far = Decision { reply_channel: Some("sms".into()), ..Decision::because("answers on sms most often") };
        let channels = vec![channel("mail", "email", None, false), channel("sms", "twilio-sms", None, false)];
        let decision = decide(&context(channels, "sms"), &so_far, &settings(COSTS, &[]));
        assert_eq!(decision.reply_channel.as_deref(), Some("mail"));
        assert_eq!((decision.team, decision.agent, decision.priority), (None, None, None));
    }
}
