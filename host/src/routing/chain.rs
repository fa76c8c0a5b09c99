//! Running the policy chain: each policy in config order, each seeing the decision so far.
//! A later policy's field wins and labels add up. A policy that traps, times out or answers
//! with an error is skipped (logged and counted); the chain goes on without it. Parts of a
//! decision that name what does not exist (a team, an agent, a channel the contact cannot be
//! reached on) are dropped and noted on the step.

use super::types::{Context, Decision};
use crate::plugins::router::PolicyPlugin;
use crate::store::routing::{Credit, Outcome, Step, StepDecision};
use crate::telemetry;
use std::sync::Arc;

pub async fn run(policies: &[Arc<PolicyPlugin>], context: &Context) -> Outcome {
    let mut outcome = Outcome::default();
    // Who set each field last, merged into one credit per policy at the end.
    let mut owners: Vec<Owner> = Vec::new();
    for policy in policies {
        let name = policy.name().to_string();
        let decided = match policy.route(context, &outcome.decision).await {
            Ok(Ok(decision)) => decision,
            Ok(Err(message)) => {
                tracing::warn!(policy = name, conversation = context.conversation.id, message, "routing policy declined with an error; skipped");
                metrics::counter!(telemetry::ROUTING_POLICY_SKIPPED, "policy" => name.clone(), "reason" => "error").increment(1);
                outcome.steps.push(Step { policy: name, decision: None, error: Some(first_line(&message)), ignored: Vec::new() });
                continue;
            }
            Err(error) => {
                tracing::error!(policy = name, conversation = context.conversation.id, %error, "routing policy failed; skipped");
                metrics::counter!(telemetry::ROUTING_POLICY_SKIPPED, "policy" => name.clone(), "reason" => error.reason()).increment(1);
                outcome.steps.push(Step { policy: name, decision: None, error: Some(first_line(&error.to_string())), ignored: Vec::new() });
                continue;
            }
        };
        let (decided, ignored) = checked(decided, context);
        merge(&mut outcome, &mut owners, &name, &decided);
        outcome.steps.push(Step { policy: name, decision: Some(StepDecision::from(&decided)), error: None, ignored });
    }
    // Labels already on the conversation are not news.
    outcome.decision.add_labels.retain(|label| !context.conversation.labels.contains(label));
    outcome.auto_reply_channel = context.messages.last().map(|message| message.channel_id.clone());
    outcome.credits = credits(&owners, context);
    outcome
}

/// What a step records of an error: its first line, at most 300 characters (a trap's message
/// carries the guest's backtrace; the log has all of it).
fn first_line(error: &str) -> String {
    let line = error.lines().next().unwrap_or_default();
    match line.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// `decision` without the parts that name nothing real, and what was dropped.
fn checked(mut decision: Decision, context: &Context) -> (Decision, Vec<String>) {
    let mut ignored = Vec::new();
    if let Some(team) = decision.team.filter(|team| !context.teams.iter().any(|known| known.id == *team)) {
        ignored.push(format!("no team {team}"));
        decision.team = None;
    }
    if let Some(agent) = decision.agent.filter(|agent| !context.agents.iter().any(|known| known.id == *agent)) {
        ignored.push(format!("no agent {agent}"));
        decision.agent = None;
    }
    if let Some(channel) = decision.reply_channel.take() {
        if context.contact.channels.iter().any(|known| known.channel_id == channel) {
            decision.reply_channel = Some(channel);
        } else {
            ignored.push(format!("the contact cannot be reached on {channel}"));
        }
    }
    (decision, ignored)
}

/// The policy that set one field of the merged decision last.
struct Owner {
    /// `team`, `agent`, `priority`, `reply_channel`, `auto_reply` or `label` (labels add up,
    /// so each has its own owner).
    field: &'static str,
    policy: String,
    what: String,
    reason: String,
}

fn merge(outcome: &mut Outcome, owners: &mut Vec<Owner>, policy: &str, decided: &Decision) {
    let mut own = |field: &'static str, what: String| {
        owners.retain(|owner| field == "label" || owner.field != field);
        owners.push(Owner { field, policy: policy.to_string(), what, reason: decided.reason.clone() });
    };
    let merged = &mut outcome.decision;
    if let Some(team) = decided.team {
        merged.team = Some(team);
        own("team", format!("team:{team}"));
    }
    if let Some(agent) = decided.agent {
        merged.agent = Some(agent);
        own("agent", format!("agent:{agent}"));
    }
    if let Some(priority) = decided.priority {
        merged.priority = Some(priority);
        own("priority", format!("as {}", priority.as_str()));
    }
    if let Some(channel) = &decided.reply_channel {
        merged.reply_channel = Some(channel.clone());
        own("reply_channel", format!("with replies on {channel}"));
    }
    if let Some(reply) = &decided.auto_reply {
        merged.auto_reply = Some(reply.clone());
        outcome.auto_reply_policy = Some(policy.to_string());
        own("auto_reply", "with an auto-reply".to_string());
    }
    for label in &decided.add_labels {
        if !merged.add_labels.contains(label) {
            merged.add_labels.push(label.clone());
            own("label", format!("with the label {label}"));
        }
    }
    if !decided.reason.is_empty() {
        merged.reason = decided.reason.clone();
    }
}

/// One thread line per policy that set something: what it set, in words, and its reason.
fn credits(owners: &[Owner], context: &Context) -> Vec<Credit> {
    let mut credits: Vec<Credit> = Vec::new();
    for owner in owners {
        let what = describe(&owner.what, context);
        match credits.iter_mut().find(|credit| credit.policy == owner.policy) {
            Some(credit) => {
                credit.what.push_str(", ");
                credit.what.push_str(&what);
            }
            None => credits.push(Credit { policy: owner.policy.clone(), what, reason: owner.reason.clone() }),
        }
    }
    credits
}

/// `team:3` → "to Billing", `agent:7` → "to Ana"; anything else as it is: the thread
/// reads "Routed to Billing, as urgent by urgency: matched 'refund'".
fn describe(what: &str, context: &Context) -> String {
    if let Some(id) = what.strip_prefix("team:").and_then(|id| id.parse::<i64>().ok()) {
        let name = context.teams.iter().find(|team| team.id == id).map_or_else(|| format!("team {id}"), |team| team.name.clone());
        return format!("to {name}");
    }
    if let Some(id) = what.strip_prefix("agent:").and_then(|id| id.parse::<i64>().ok()) {
        let name = context.agents.iter().find(|agent| agent.id == id).map_or_else(|| format!("agent {id}"), |agent| agent.name.clone());
        return format!("to {name}");
    }
    what.to_string()
}
