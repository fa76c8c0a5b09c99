//! # Cost routing policy for Switchboard
//!
//! Sets the reply channel to the cheapest channel the contact can be reached on now. Prices
//! are the admin's (per message, keyed by channel id or plugin name). WhatsApp, Messenger and
//! Instagram take a free-form reply only within 24 hours of the customer's last message
//! there; outside that window such a channel is a candidate only when it can send templates
//! and an approved template fits (`templates`): otherwise the reply needs another channel.
//!
//! | key         | required | meaning                                                             |
//! |-------------|----------|---------------------------------------------------------------------|
//! | `costs`     | yes      | table: channel id or plugin → cost per message; unpriced channels are never chosen |
//! | `windows`   | no       | table: channel id or plugin → window in hours, over the defaults `whatsapp`, `messenger`, `instagram` = 24 |
//! | `templates` | no       | channel ids or plugins with an approved re-engagement template (default none) |
//!
//! A channel id's entry wins over its plugin's. The decision lives in [`choose`] and the
//! settings in [`settings`]; neither calls a host import (the time is the context's), so both
//! are tested natively.

pub mod choose;
pub mod settings;

use switchboard_sdk::router::prelude::*;

struct Cost;

impl Policy for Cost {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "cost",
            env!("CARGO_PKG_VERSION"),
            "Replies on the cheapest channel that can carry a reply now, minding providers' reply windows",
        )
    }

    fn route(context: &Context, so_far: &Decision) -> Result<Decision, String> {
        let settings = settings::Settings::parse(config_value)?;
        Ok(choose::decide(context, so_far, &settings))
    }
}

switchboard_sdk::export_policy!(Cost);
