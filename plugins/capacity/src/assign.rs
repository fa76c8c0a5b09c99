//! Who gets the conversation: the least-loaded agent of its team who has room, and among
//! equally loaded agents the one who waited longest for a new conversation (round robin without
//! state: the host hands every agent's `last-assigned-ms` in the context). Pure, so every case
//! is tested natively.

use switchboard_sdk::router::prelude::*;

use crate::settings::Settings;

/// Where the team came from. Only a team this policy picked itself (`default_team`) goes into
/// the decision: the others are recorded already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// An earlier policy in the chain (`so_far.team`).
    EarlierPolicy,
    /// The conversation's own team.
    Conversation,
    /// This policy's `default_team`.
    Default,
}

/// The team a conversation is assigned within.
struct Target {
    id: i64,
    /// Its name as the host knows it, or `team 7` for an id the context does not list.
    label: String,
    /// Whether the context lists it (only listed teams can be matched against `teams`).
    known: bool,
    source: Source,
}

/// Decide who takes the conversation. Gives no opinion when it is already taken care of
/// (assigned and staying in its team, or an earlier policy chose the agent), when its team is
/// not one this policy assigns for, or when it has no team and `any_team` is off.
pub fn decide(context: &Context, so_far: &Decision, settings: &Settings) -> Decision {
    if let Some(agent) = so_far.agent {
        return Decision::because(format!("an earlier policy chose the agent ({})", agent_label(context, agent)));
    }
    let conversation = &context.conversation;
    if let Some(assignee) = conversation.assignee {
        // A team change (by an earlier policy) moves the conversation, so it needs an agent of
        // the new team; otherwise the agent it has keeps it.
        if so_far.team.is_none_or(|team| Some(team) == conversation.team) {
            return Decision::because(format!("already assigned to {}", agent_label(context, assignee)));
        }
    }
    let team = match team(context, so_far, settings) {
        Ok(team) => team,
        Err(reason) => return Decision::because(reason),
    };
    let candidates: Vec<&Agent> = context
        .agents
        .iter()
        .filter(|agent| agent.has_room())
        .filter(|agent| team.as_ref().is_none_or(|team| agent.teams.contains(&team.id)))
        .collect();
    let Some(chosen) = candidates.iter().copied().min_by_key(|agent| (agent.open_conversations, agent.last_assigned_ms, agent.id))
    else {
        return match team {
            // Setting the team keeps it in that team's queue; the host routes it again
            // (`trigger::capacity`) when someone may have room.
            Some(team) => Decision { team: Some(team.id), ..Decision::because(format!("no agent of {} has room: waits in the queue", team.label)) },
            None => Decision::because("no agent has room: waits in the queue"),
        };
    };
    let tied = candidates.iter().filter(|agent| agent.open_conversations == chosen.open_conversations).count();
    let scope = match &team {
        Some(team) => format!("in {}", team.label),
        None => "of all agents".to_string(),
    };
    let turn = if tied > 1 { format!("; next in turn of {tied}") } else { String::new() };
    let reason = format!(
        "least loaded {scope}: {} ({} open of {}{turn})",
        display_name(chosen),
        chosen.open_conversations,
        chosen.max_conversations
    );
    Decision {
        agent: Some(chosen.id),
        team: team.filter(|team| team.source == Source::Default).map(|team| team.id),
        ..Decision::because(reason)
    }
}

/// The team to assign within: `Ok(None)` means any agent may take it (no team, `any_team` on);
/// `Err` is the reason this policy has no opinion.
fn team(context: &Context, so_far: &Decision, settings: &Settings) -> Result<Option<Target>, String> {
    let found = if let Some(id) = so_far.team {
        Some(known_team(context, id, Source::EarlierPolicy))
    } else if let Some(id) = context.conversation.team {
        Some(known_team(context, id, Source::Conversation))
    } else if let Some(name) = &settings.default_team {
        let Some(team) = context.team_named(name) else {
            return Err(format!("no team; the default team `{name}` does not exist"));
        };
        Some(Target { id: team.id, label: team.name.clone(), known: true, source: Source::Default })
    } else {
        None
    };
    match found {
        // A team the context does not list has no name to match against `teams`.
        Some(team) if !(settings.teams.is_empty() || (team.known && settings.covers(&team.label))) => {
            Err(format!("{} is not a team this policy assigns for", team.label))
        }
        Some(team) => Ok(Some(team)),
        // Restricted to some teams, this policy has no business with conversations of none.
        None if !settings.teams.is_empty() => Err(format!("no team; this policy assigns for {} only", settings.teams.join(", "))),
        None if settings.any_team => Ok(None),
        None => Err("no team to assign within".to_string()),
    }
}

fn known_team(context: &Context, id: i64, source: Source) -> Target {
    match context.teams.iter().find(|team| team.id == id) {
        Some(team) => Target { id, label: team.name.clone(), known: true, source },
        None => Target { id, label: format!("team {id}"), known: false, source },
    }
}

fn agent_label(context: &Context, id: i64) -> String {
    context.agents.iter().find(|agent| agent.id == id).map(display_name).unwrap_or_else(|| format!("agent {id}"))
}

fn display_name(agent: &Agent) -> String {
    let name = agent.name.trim();
    if name.is_empty() { format!("agent {}", agent.id) } else { name.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000_000;
    const BILLING: i64 = 10;
    const SALES: i64 = 20;

    /// A conversation of nobody, in no team, with teams Billing and Sales and no agents.
    fn context() -> Context {
        Context {
            trigger: Trigger::Message,
            conversation: Conversation {
                id: 1,
                status: Status::Open,
                priority: Priority::Normal,
                assignee: None,
                team: None,
                labels: Vec::new(),
                waiting_since_ms: Some(NOW - 60_000),
                unanswered: 1,
                auto_replies: Vec::new(),
            },
            contact: Contact { id: 7, name: Some("Customer".into()), channels: Vec::new() },
            messages: Vec::new(),
            now_ms: NOW,
            agents: Vec::new(),
            teams: vec![Team { id: BILLING, name: "Billing".into() }, Team { id: SALES, name: "Sales".into() }],
        }
    }

    /// An online agent of `teams` with `open` of `max` conversations, never assigned before.
    fn agent(id: i64, name: &str, teams: &[i64], open: u32, max: u32) -> Agent {
        Agent {
            id,
            name: name.into(),
            availability: Availability::Online,
            teams: teams.to_vec(),
            open_conversations: open,
            max_conversations: max,
            last_assigned_ms: None,
        }
    }

    fn in_team(team: i64, agents: Vec<Agent>) -> Context {
        let mut context = context();
        context.conversation.team = Some(team);
        context.agents = agents;
        context
    }

    fn nothing() -> Decision {
        Decision::because("")
    }

    fn run(context: &Context) -> Decision {
        decide(context, &nothing(), &Settings::default())
    }

    #[test]
    fn the_least_loaded_agent_gets_it() {
        let context = in_team(BILLING, vec![agent(1, "Bo", &[BILLING], 3, 5), agent(2, "Ana", &[BILLING], 1, 5)]);
        let decision = run(&context);
        assert_eq!(decision.agent, Some(2));
        assert_eq!(decision.team, None, "the conversation's own team is recorded already");
        assert_eq!(decision.reason, "least loaded in Billing: Ana (1 open of 5)");
    }

    #[test]
    fn an_agent_at_capacity_gets_none() {
        let context = in_team(BILLING, vec![agent(1, "Full", &[BILLING], 5, 5), agent(2, "Busy", &[BILLING], 4, 5)]);
        assert_eq!(run(&context).agent, Some(2));
        let full_only = in_team(BILLING, vec![agent(1, "Full", &[BILLING], 5, 5), agent(2, "Over", &[BILLING], 7, 5)]);
        let decision = run(&full_only);
        assert_eq!(decision.agent, None);
        assert_eq!(decision.team, Some(BILLING), "it waits in its team's queue");
        assert_eq!(decision.reason, "no agent of Billing has room: waits in the queue");
    }

    #[test]
    fn away_and_offline_agents_get_none() {
        let mut away = agent(1, "Away", &[BILLING], 0, 5);
        away.availability = Availability::Away;
        let mut offline = agent(2, "Offline", &[BILLING], 0, 5);
        offline.availability = Availability::Offline;
        let context = in_team(BILLING, vec![away, offline, agent(3, "Online", &[BILLING], 4, 5)]);
        assert_eq!(run(&context).agent, Some(3));
    }

    #[test]
    fn an_agent_with_no_capacity_at_all_gets_none() {
        let context = in_team(BILLING, vec![agent(1, "Zero", &[BILLING], 0, 0)]);
        assert_eq!(run(&context).agent, None);
    }

    #[test]
    fn only_members_of_the_team_are_candidates() {
        let context = in_team(BILLING, vec![agent(1, "Seller", &[SALES], 0, 5), agent(2, "Both", &[SALES, BILLING], 2, 5)]);
        assert_eq!(run(&context).agent, Some(2));
        let nobody = in_team(BILLING, vec![agent(1, "Seller", &[SALES], 0, 5)]);
        assert_eq!(run(&nobody).agent, None);
    }

    #[test]
    fn ties_go_round_robin_never_assigned_first() {
        let mut recent = agent(1, "Recent", &[BILLING], 1, 5);
        recent.last_assigned_ms = Some(NOW - 1_000);
        let mut earlier = agent(2, "Earlier", &[BILLING], 1, 5);
        earlier.last_assigned_ms = Some(NOW - 60_000);
        let context = in_team(BILLING, vec![recent.clone(), earlier.clone()]);
        let decision = run(&context);
        assert_eq!(decision.agent, Some(2));
        assert_eq!(decision.reason, "least loaded in Billing: Earlier (1 open of 5; next in turn of 2)");

        let never = agent(3, "Never", &[BILLING], 1, 5);
        let context = in_team(BILLING, vec![recent, earlier, never]);
        assert_eq!(run(&context).agent, Some(3));
    }

    #[test]
    fn full_ties_go_to_the_lowest_id() {
        let context = in_team(BILLING, vec![agent(9, "Nine", &[BILLING], 2, 5), agent(4, "Four", &[BILLING], 2, 5)]);
        assert_eq!(run(&context).agent, Some(4));
    }

    #[test]
    fn load_beats_round_robin() {
        let mut rested = agent(1, "Rested", &[BILLING], 2, 5);
        rested.last_assigned_ms = None;
        let mut recent = agent(2, "Recent", &[BILLING], 1, 5);
        recent.last_assigned_ms = Some(NOW);
        assert_eq!(run(&in_team(BILLING, vec![rested, recent])).agent, Some(2));
    }

    #[test]
    fn an_earlier_policys_team_comes_first() {
        let context = in_team(SALES, vec![agent(1, "Seller", &[SALES], 0, 5), agent(2, "Biller", &[BILLING], 1, 5)]);
        let so_far = Decision { team: Some(BILLING), ..nothing() };
        let decision = decide(&context, &so_far, &Settings::default());
        assert_eq!(decision.agent, Some(2));
        assert_eq!(decision.team, None, "the earlier policy's team stands without repeating it");
    }

    #[test]
    fn the_default_team_is_looked_up_by_name_and_recorded() {
        let mut context = context();
        context.agents = vec![agent(1, "Seller", &[SALES], 0, 5), agent(2, "Biller", &[BILLING], 3, 5)];
        let settings = Settings { default_team: Some("billing".into()), ..Settings::default() };
        let decision = decide(&context, &nothing(), &settings);
        assert_eq!(decision.agent, Some(2));
        assert_eq!(decision.team, Some(BILLING));
        assert_eq!(decision.reason, "least loaded in Billing: Biller (3 open of 5)");
    }

    #[test]
    fn the_default_team_queues_when_nobody_has_room() {
        let mut context = context();
        context.agents = vec![agent(2, "Biller", &[BILLING], 5, 5)];
        let settings = Settings { default_team: Some("Billing".into()), ..Settings::default() };
        let decision = decide(&context, &nothing(), &settings);
        assert_eq!((decision.team, decision.agent), (Some(BILLING), None));
    }

    #[test]
    fn an_unknown_default_team_is_no_opinion() {
        let mut context = context();
        context.agents = vec![agent(1, "Anyone", &[], 0, 5)];
        let settings = Settings { default_team: Some("Billng".into()), ..Settings::default() };
        let decision = decide(&context, &nothing(), &settings);
        assert!(decision.is_empty());
        assert!(decision.reason.contains("`Billng`"), "{}", decision.reason);
    }

    #[test]
    fn without_a_team_any_agent_may_take_it() {
        let mut context = context();
        context.agents = vec![agent(1, "Seller", &[SALES], 2, 5), agent(2, "Loner", &[], 1, 5)];
        let decision = run(&context);
        assert_eq!((decision.agent, decision.team), (Some(2), None));
        assert_eq!(decision.reason, "least loaded of all agents: Loner (1 open of 5)");
    }

    #[test]
    fn without_a_team_and_nobody_with_room_nothing_is_decided() {
        let mut context = context();
        context.agents = vec![agent(1, "Full", &[], 5, 5)];
        let decision = run(&context);
        assert!(decision.is_empty());
        assert_eq!(decision.reason, "no agent has room: waits in the queue");
    }

    #[test]
    fn without_a_team_and_any_team_off_no_opinion() {
        let mut context = context();
        context.agents = vec![agent(1, "Anyone", &[], 0, 5)];
        let settings = Settings { any_team: false, ..Settings::default() };
        let decision = decide(&context, &nothing(), &settings);
        assert!(decision.is_empty());
        assert_eq!(decision.reason, "no team to assign within");
    }

    #[test]
    fn teams_not_listed_are_left_alone() {
        let settings = Settings { teams: vec!["billing".into()], ..Settings::default() };
        let sales = in_team(SALES, vec![agent(1, "Seller", &[SALES], 0, 5)]);
        let decision = decide(&sales, &nothing(), &settings);
        assert!(decision.is_empty());
        assert_eq!(decision.reason, "Sales is not a team this policy assigns for");

        let billing = in_team(BILLING, vec![agent(2, "Biller", &[BILLING], 0, 5)]);
        assert_eq!(decide(&billing, &nothing(), &settings).agent, Some(2));

        let unknown = in_team(99, vec![agent(3, "Ghost", &[99], 0, 5)]);
        assert!(decide(&unknown, &nothing(), &settings).is_empty(), "an unlisted team id cannot be matched by name");

        let mut none = context();
        none.agents = vec![agent(4, "Anyone", &[], 0, 5)];
        let decision = decide(&none, &nothing(), &settings);
        assert!(decision.is_empty());
        assert_eq!(decision.reason, "no team; this policy assigns for billing only");
    }

    #[test]
    fn an_assigned_conversation_keeps_its_agent() {
        let mut context = in_team(BILLING, vec![agent(1, "Current", &[BILLING], 5, 5), agent(2, "Idle", &[BILLING], 0, 5)]);
        context.conversation.assignee = Some(1);
        let decision = run(&context);
        assert!(decision.is_empty());
        assert_eq!(decision.reason, "already assigned to Current");

        let same_team = Decision { team: Some(BILLING), ..nothing() };
        assert!(decide(&context, &same_team, &Settings::default()).is_empty());
    }

    #[test]
    fn a_team_change_reassigns() {
        let mut context = in_team(BILLING, vec![agent(1, "Biller", &[BILLING], 0, 5), agent(2, "Seller", &[SALES], 3, 5)]);
        context.conversation.assignee = Some(1);
        let moved = Decision { team: Some(SALES), ..nothing() };
        assert_eq!(decide(&context, &moved, &Settings::default()).agent, Some(2));

        let mut teamless = context.clone();
        teamless.conversation.team = None;
        assert_eq!(decide(&teamless, &moved, &Settings::default()).agent, Some(2), "from no team to one is a change too");
    }

    #[test]
    fn an_earlier_policys_agent_stands() {
        let context = in_team(BILLING, vec![agent(1, "Chosen", &[BILLING], 4, 5), agent(2, "Idle", &[BILLING], 0, 5)]);
        let so_far = Decision { agent: Some(1), ..nothing() };
        let decision = decide(&context, &so_far, &Settings::default());
        assert!(decision.is_empty());
        assert_eq!(decision.reason, "an earlier policy chose the agent (Chosen)");
    }

    #[test]
    fn a_capacity_run_assigns_the_queued_conversation() {
        let mut context = in_team(BILLING, vec![agent(1, "Freed", &[BILLING], 4, 5)]);
        context.trigger = Trigger::Capacity;
        assert_eq!(run(&context).agent, Some(1));
    }

    #[test]
    fn unknown_ids_and_blank_names_still_read_well() {
        let mut context = in_team(77, vec![agent(5, "  ", &[77], 0, 2)]);
        assert_eq!(run(&context).reason, "least loaded in team 77: agent 5 (0 open of 2)");
        context.conversation.assignee = Some(42);
        assert_eq!(run(&context).reason, "already assigned to agent 42");
    }
}
