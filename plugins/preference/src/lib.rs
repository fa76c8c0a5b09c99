//! # Preference routing policy for Switchboard
//!
//! Learns which channel the customer answers on, and prefers it as the reply channel. The
//! host keeps, for each of the contact's channels, how often they answered a business message
//! there and how fast (the median); a fresh instance per call keeps no state, so this is all
//! the memory the policy needs.
//!
//! A channel counts once it has `min_replies` answers. Of those, the one with the most answers
//! wins, unless another with at least 80% as many is answered faster; ties go to the channel
//! with more messages, then to the channel id. With no channel counting, nothing is decided.
//!
//! | key           | required | meaning                                                 |
//! |---------------|----------|---------------------------------------------------------|
//! | `min_replies` | no       | answers a channel needs before it counts (default 2, at least 1) |
//!
//! The decision lives in [`learn`] and the settings in [`settings`]; neither calls a host
//! import, so both are tested natively.

pub mod learn;
pub mod settings;

use switchboard_sdk::router::prelude::*;

struct Preference;

impl Policy for Preference {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "preference",
            env!("CARGO_PKG_VERSION"),
            "Replies on the channel the customer answers on most often and fastest",
        )
    }

    fn route(context: &Context, so_far: &Decision) -> Result<Decision, String> {
        let settings = settings::Settings::parse(config_value)?;
        Ok(learn::decide(context, so_far, &settings))
    }
}

switchboard_sdk::export_policy!(Preference);
