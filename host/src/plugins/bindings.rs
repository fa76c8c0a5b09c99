//! Host-side bindings of `switchboard:channel@0.1.0`.
//!
//! Each released contract version gets its own module here, generated from its frozen folder
//! in `wit/`, so plugins built against an older version keep loading.

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
