//! `test-spin`: a deliberately broken channel plugin for the host's sandbox tests.
//!
//! `metadata` and `verify` behave, so the plugin loads and webhooks get past verification;
//! `parse` and `send` spin forever without calling the host. The host must interrupt them
//! (fuel or epoch deadline) and fail that one call instead of hanging a worker.

use std::hint::black_box;
use switchboard_sdk::prelude::*;

struct Spin;

/// Burn CPU forever; `black_box` keeps the optimiser from proving the loop empty.
fn spin_forever() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

impl Plugin for Spin {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "test-spin".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test component: parse and send never return".into(),
            capabilities: Capabilities::TEXT,
        }
    }

    fn verify(_request: IncomingRequest) -> Verdict {
        Verdict::Accept
    }

    fn parse(request: IncomingRequest) -> Result<Parsed, Rejection> {
        black_box(request);
        spin_forever()
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendError> {
        black_box(message);
        spin_forever()
    }
}

// No setup: the defaults.
impl Setup for Spin {}

switchboard_sdk::export_channel!(Spin);
