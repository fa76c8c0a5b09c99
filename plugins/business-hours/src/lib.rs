//! # Business hours, a routing policy for Switchboard
//!
//! Within the hours it decides nothing. Out of hours it hands the conversation to an
//! after-hours team, if one is set, and answers the customer once per closed period with an
//! auto-reply saying when the business opens.
//!
//! Settings (`[routing.policies.config]`; see README.md for an example):
//!
//! | key                  | required | meaning                                                   |
//! |----------------------|----------|-----------------------------------------------------------|
//! | `timezone`           | yes      | IANA zone the schedule is in, `"Europe/Madrid"`            |
//! | `schedule`           | yes      | days (`mon` … `sun`) to shifts `"HH:MM-HH:MM"`; a day left out is closed |
//! | `holidays`           | no       | local dates `"YYYY-MM-DD"` closed all day                  |
//! | `after_hours_team`   | no       | team name that takes conversations out of hours            |
//! | `auto_reply`         | no       | text sent out of hours; `{opens}` is the next opening      |
//! | `auto_reply_enabled` | no       | `false` sends no auto-reply                               |
//! | `name`               | (host)   | the policy's configured name, set by the host             |
//!
//! The schedule lives in [`schedule`], the time arithmetic in [`hours`], the checks of the
//! settings in [`settings`] and the decision in [`decide`]; none calls a host import, so all
//! are tested natively. This file only reads config and hands over.

pub mod decide;
pub mod hours;
pub mod schedule;
pub mod settings;

use switchboard_sdk::router::prelude::*;

use settings::{Raw, Settings};

struct BusinessHours;

impl Policy for BusinessHours {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "business-hours",
            env!("CARGO_PKG_VERSION"),
            "Out of hours: an after-hours team and one auto-reply per closed period",
        )
    }

    fn route(context: &Context, _so_far: &Decision) -> Result<Decision, String> {
        Ok(decide::decide(context, &read_settings()?))
    }
}

/// The settings from config. Read on every call: each call gets a fresh instance anyway.
fn read_settings() -> Result<Settings, String> {
    Settings::new(Raw {
        name: config_value("name"),
        timezone: config_value("timezone"),
        schedule: config_json("schedule")?,
        holidays: config_list("holidays"),
        after_hours_team: config_value("after_hours_team"),
        auto_reply: config_value("auto_reply"),
        auto_reply_enabled: config_json("auto_reply_enabled")?,
    })
}

switchboard_sdk::export_policy!(BusinessHours);
