//! # Capacity routing policy for Switchboard
//!
//! Assigns a conversation to the least-loaded online agent of its team: the agent with the
//! fewest open conversations among those below their maximum, and among equals the one who
//! waited longest for a new conversation (round robin). When nobody of the team has room the
//! conversation waits in the team's queue, and the host routes it again (`trigger::capacity`)
//! when an agent may have room; the same rule assigns it then.
//!
//! The team is the one an earlier policy chose, else the conversation's, else `default_team`.
//! A conversation that already has an agent and keeps its team is left alone, and so is one an
//! earlier policy gave an agent.
//!
//! | key            | required | meaning                                                            |
//! |----------------|----------|--------------------------------------------------------------------|
//! | `default_team` | no       | team name (case-insensitive) for conversations in no team; recorded in the decision |
//! | `any_team`     | no       | `true` (default): a conversation in no team may go to any agent; `false`: left alone |
//! | `teams`        | no       | team names this policy assigns for; others (and no team) are left alone |
//!
//! The decision lives in [`assign`] and the settings in [`settings`]; neither calls a host
//! import, so both are tested natively.

pub mod assign;
pub mod settings;

use switchboard_sdk::router::prelude::*;

struct Capacity;

impl Policy for Capacity {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "capacity",
            env!("CARGO_PKG_VERSION"),
            "Assigns a conversation to the least-loaded online agent of its team, round robin among equals",
        )
    }

    fn route(context: &Context, so_far: &Decision) -> Result<Decision, String> {
        let settings = settings::Settings::parse(config_value)?;
        Ok(assign::decide(context, so_far, &settings))
    }
}

switchboard_sdk::export_policy!(Capacity);
