//! # Urgency, a routing policy for Switchboard
//!
//! Raises a conversation's priority when the customer's new messages carry urgent words
//! ("urgent", "refund", "urgente", "reembolso", …) or match configured patterns, and one level
//! more when they keep writing without an answer. It never lowers a priority: it sets one only
//! above both the conversation's and what the policies before it decided.
//!
//! Settings (`[routing.policies.config]`; see README.md for an example):
//!
//! | key                | default | meaning                                                     |
//! |--------------------|---------|-------------------------------------------------------------|
//! | `keywords`         | none    | language → level → words, added to the defaults              |
//! | `patterns`         | none    | language → level → regular expressions                       |
//! | `replace_defaults` | `false` | `true` drops the built-in keywords                           |
//! | `repeat_threshold` | `3`     | unanswered customer messages that raise a level; 0 is off     |
//! | `label`            | none    | label added when a keyword or pattern matched                |
//!
//! How words match is in [`rules`] (and [`fold`] for case and accents), the checks of the
//! settings in [`settings`] and the decision in [`decide`]; none calls a host import, so all
//! are tested natively. This file only reads config and hands over.

pub mod decide;
pub mod fold;
pub mod rules;
pub mod settings;

use switchboard_sdk::router::prelude::*;

use settings::{Raw, Settings};

struct Urgency;

impl Policy for Urgency {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "urgency",
            env!("CARGO_PKG_VERSION"),
            "Raises the priority on urgent words and patterns, and when the customer keeps writing",
        )
    }

    fn route(context: &Context, so_far: &Decision) -> Result<Decision, String> {
        Ok(decide::decide(context, so_far, &read_settings()?))
    }
}

/// The settings from config. Read on every call: each call gets a fresh instance anyway.
fn read_settings() -> Result<Settings, String> {
    Settings::new(Raw {
        keywords: config_json("keywords")?,
        patterns: config_json("patterns")?,
        replace_defaults: config_json("replace_defaults")?,
        repeat_threshold: config_json("repeat_threshold")?,
        label: config_value("label"),
    })
}

switchboard_sdk::export_policy!(Urgency);
