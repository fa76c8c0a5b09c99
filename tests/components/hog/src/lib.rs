//! `test-hog`: a deliberately broken channel plugin for the host's sandbox tests.
//!
//! `metadata` and `verify` behave, so the plugin loads and webhooks get past verification;
//! `parse` and `send` allocate memory without bound (1 MiB chunks, filled so the pages are
//! really touched). The host's memory limit must stop the instance and fail that one call
//! without taking the host process down.

use std::hint::black_box;
use switchboard_sdk::prelude::*;

struct Hog;

const CHUNK: usize = 1 << 20;

/// Allocate and keep 1 MiB chunks until the allocator fails (which aborts: a wasm trap).
fn hoard_forever() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    let mut fill: u8 = 0xA5;
    loop {
        let chunk = black_box(vec![fill; CHUNK]);
        hoard.push(chunk);
        black_box(&mut hoard);
        fill = fill.wrapping_add(1) | 1;
    }
}

impl Plugin for Hog {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "test-hog".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test component: parse and send allocate without bound".into(),
            capabilities: Capabilities::TEXT,
        }
    }

    fn verify(_request: IncomingRequest) -> Verdict {
        Verdict::Accept
    }

    fn parse(request: IncomingRequest) -> Result<Parsed, Rejection> {
        black_box(request);
        hoard_forever()
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendError> {
        black_box(message);
        hoard_forever()
    }
}

// No setup: the defaults.
impl Setup for Hog {}

switchboard_sdk::export_channel!(Hog);
