//! End-to-end tests through Switchboard's public surface: real server on loopback, real
//! SQLite and PostgreSQL, real wasmtime running the real compiled plugins, a loopback fake of
//! the provider.
//!
//! Run with `cargo xtask test`, which builds the plugins and test components first.

mod support;

mod agents;
mod api_fuzz;
mod channels;
mod cluster;
mod crash;
mod delivery;
mod email;
mod hardening;
mod http_surface;
mod identity;
mod inbound;
mod inbox;
mod instagram;
mod messenger;
mod metrics;
mod plugin_builds;
mod presence;
mod routing;
mod sandbox;
mod saved_views;
mod telegram;
mod twilio_sms;
mod webchat;
mod whatsapp;
mod workflow;
mod wit_contract;
