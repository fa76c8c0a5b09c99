//! Host-side bindings, one module per released `switchboard:channel` version.
//!
//! Each module is generated from that version's frozen folder in `wit/`, so plugins built
//! against an older version keep loading. `0.2.0` adds interfaces (`setup`, `mail`, `chat`,
//! `outbound-mail`, `replay`) but changes none of 0.1.0's: its
//! `types` interface is 0.1.0's, so the bindings share 0.1.0's Rust types (`with`) and the
//! host needs one set of conversions (`convert.rs`) for both. A unit test below keeps the two
//! `types` interfaces identical, which is what makes that sharing sound.

pub mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../wit/channel/v0.1.0",
        world: "channel",
        imports: {
            // Outbound HTTP waits on the network: an async host function, so a slow provider
            // never blocks a runtime thread.
            "switchboard:channel/outbound-http.send": async,
            default: trappable,
        },
        exports: { default: async },
    });
}

pub mod v0_2_0 {
    wasmtime::component::bindgen!({
        path: "../wit/channel/v0.2.0",
        world: "channel",
        imports: {
            "switchboard:channel/outbound-http.send": async,
            "switchboard:channel/outbound-mail.send": async,
            default: trappable,
        },
        exports: { default: async },
        with: {
            "switchboard:channel/types": super::v0_1_0::switchboard::channel::types,
        },
    });
}

#[cfg(test)]
mod tests {
    /// The text of `interface types { … }` in a WIT file.
    fn types_interface(wit: &str) -> &str {
        let start = wit.find("interface types {").expect("a types interface");
        let end = start + wit[start..].find("\n}\n").expect("the end of the types interface");
        &wit[start..end]
    }

    #[test]
    fn version_0_2_0_keeps_0_1_0_types_unchanged() {
        let v1 = include_str!("../../../wit/channel/v0.1.0/channel.wit");
        let v2 = include_str!("../../../wit/channel/v0.2.0/channel.wit");
        assert_eq!(types_interface(v1), types_interface(v2), "0.2.0 shares 0.1.0's Rust types: its `types` must not change");
    }
}
