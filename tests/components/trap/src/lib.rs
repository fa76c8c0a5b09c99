//! `test-trap`: a deliberately broken channel plugin for the host's sandbox tests.
//!
//! `metadata` and `verify` behave, so the plugin loads and webhooks get past verification;
//! `parse`, `send` and `check-connection` panic, which in a wasm32-wasip2 component aborts with a wasm trap. The
//! host must contain the trap: fail that one call, keep serving, and never corrupt state.

use switchboard_sdk::prelude::*;

struct Trap;

impl Plugin for Trap {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "test-trap".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test component: parse and send trap (panic)".into(),
            capabilities: Capabilities::TEXT,
        }
    }

    fn verify(_request: IncomingRequest) -> Verdict {
        Verdict::Accept
    }

    fn parse(_request: IncomingRequest) -> Result<Parsed, Rejection> {
        panic!("test-trap: parse traps on purpose");
    }

    fn send(_message: OutboundMessage) -> Result<SendReceipt, SendError> {
        panic!("test-trap: send traps on purpose");
    }
}

impl Setup for Trap {
    fn check_connection() -> Result<Connected, Problem> {
        panic!("test-trap: check-connection traps on purpose");
    }
}

switchboard_sdk::export_channel!(Trap);
