//! Routing policies: the `switchboard:router@0.1.0` world.
//!
//! A routing policy is a component of its own, not a channel: it exports
//! `switchboard:router/policy` and imports only `config`, `logging`, `clock` and a denied-by-
//! default `outbound-http`. Write it against [`Policy`] and export it with
//! [`export_policy!`](crate::export_policy):
//!
//! ```ignore
//! use switchboard_sdk::router::prelude::*;
//!
//! struct Vip;
//!
//! impl Policy for Vip {
//!     fn info() -> PolicyInfo { PolicyInfo::new("vip", env!("CARGO_PKG_VERSION"), "VIP customers go first") }
//!     fn route(context: &Context, so_far: &Decision) -> Result<Decision, String> {
//!         Ok(Decision::because("not a VIP"))
//!     }
//! }
//!
//! switchboard_sdk::export_policy!(Vip);
//! ```
//!
//! Nothing here touches the channel world's bindings, so a policy component carries only the
//! router world's imports (the linker keeps only what a crate references).

mod config;
mod decision;
mod words;

pub use config::{config_json, config_list, config_value};
pub use words::{human_duration, parse_list, same_name};

/// Generated bindings for the `switchboard:router@0.1.0` world.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/router/v0.1.0",
        world: "router",
        pub_export_macro: true,
        export_macro_name: "__export_router_world",
        default_bindings_module: "switchboard_sdk::router::bindings",
    });
}

/// What a policy uses, in one import.
pub mod prelude {
    pub use super::Policy;
    pub use super::bindings::switchboard::router::types::{
        Agent, AutoReply, Availability, Contact, Context, Conversation, Decision, Message, PolicyInfo, Priority,
        ReachableChannel, Status, Team, Trigger,
    };
    pub use super::bindings::switchboard::router::{clock, logging};
    pub use super::{config_json, config_list, config_value, human_duration, log, parse_list, same_name};
}

use bindings::switchboard::router::types::{Context, Decision, PolicyInfo};

/// A routing policy. Hand-written over the generated `policy` bindings, so a policy writes
/// plain Rust with borrowed arguments and the bindings stay out of sight.
pub trait Policy {
    /// Name, version and description, asked once when the policy loads.
    fn info() -> PolicyInfo;

    /// What this policy decides, given the context and what the policies before it decided
    /// (`so_far`). Return only your own opinion: fields you leave `None` keep the earlier
    /// decision. An `Err` is logged by the host and the policy skipped.
    fn route(context: &Context, so_far: &Decision) -> Result<Decision, String>;
}

/// Log `message` at `level` into the host's log, tagged with the policy.
pub fn log(level: bindings::switchboard::router::logging::Level, message: impl AsRef<str>) {
    bindings::switchboard::router::logging::log(level, message.as_ref());
}

/// Export a type implementing [`Policy`] as this component's routing policy:
/// `export_policy!(MyPolicy)`, once, at the crate root of a `cdylib` crate.
#[macro_export]
macro_rules! export_policy {
    ($policy:ident) => {
        impl $crate::router::bindings::exports::switchboard::router::policy::Guest for $policy {
            fn metadata() -> $crate::router::prelude::PolicyInfo {
                <$policy as $crate::router::Policy>::info()
            }

            fn route(
                context: $crate::router::prelude::Context,
                so_far: $crate::router::prelude::Decision,
            ) -> Result<$crate::router::prelude::Decision, String> {
                <$policy as $crate::router::Policy>::route(&context, &so_far)
            }
        }

        $crate::router::bindings::__export_router_world!($policy with_types_in $crate::router::bindings);
    };
}
