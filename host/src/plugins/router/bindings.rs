//! Host-side bindings, one module per released `switchboard:router` version, each generated
//! from that version's frozen folder in `wit/`.

pub mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../wit/router/v0.1.0",
        world: "router",
        imports: {
            "switchboard:router/outbound-http.send": async,
            default: trappable,
        },
        exports: { default: async },
    });
}
