//! `test-policy-trap`: a deliberately broken routing policy for the host's routing tests.
//!
//! `metadata` behaves, so the policy loads. `route` loops forever when a new message says
//! "loop" (the host's time limit must stop it) and traps (panics) otherwise. The host must
//! skip it, count the failure, and run the rest of the chain.

use switchboard_sdk::router::prelude::*;

struct PolicyTrap;

impl Policy for PolicyTrap {
    fn info() -> PolicyInfo {
        PolicyInfo::new("test-policy-trap", env!("CARGO_PKG_VERSION"), "Test component: route traps, or loops on \"loop\"")
    }

    fn route(context: &Context, _so_far: &Decision) -> Result<Decision, String> {
        let loops = context.messages.iter().any(|message| message.text.as_deref().is_some_and(|text| text.contains("loop")));
        if loops {
            let mut spins: u64 = 0;
            loop {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
        panic!("test-policy-trap: route traps on purpose");
    }
}

switchboard_sdk::export_policy!(PolicyTrap);
