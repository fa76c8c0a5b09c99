//! What a routing policy can touch during one call: its own config and secrets, the log, the
//! clock, and outbound HTTP to the hosts its `allowed_hosts` grants (none by default). WASI is
//! linked deny-all, as for channels: no files, no environment, no sockets.

use super::super::limits::{cut_log_line, Limited, MemoryCap};
use super::super::outbound;
use super::bindings::v0_1_0::switchboard::router::{clock, config, logging, outbound_http, types};
use crate::config::Secret;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::Result;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Everything about one configured policy that its calls share.
#[derive(Debug)]
pub struct PolicyContext {
    /// The configured name (`[[routing.policies]] name`).
    pub name: String,
    pub plugin_name: String,
    pub config: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, Secret>,
    pub network: outbound::Network,
}

/// The data of one policy call's store.
pub struct PolicyState {
    pub policy: Arc<PolicyContext>,
    limits: MemoryCap,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl PolicyState {
    pub fn new(policy: Arc<PolicyContext>, memory_limit_bytes: usize) -> Self {
        let wasi = WasiCtxBuilder::new().allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false).build();
        Self { policy, limits: MemoryCap::new(memory_limit_bytes), wasi, table: ResourceTable::new() }
    }
}

impl Limited for PolicyState {
    fn memory_cap(&mut self) -> &mut MemoryCap {
        &mut self.limits
    }
}

impl WasiView for PolicyState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for PolicyState {}

impl config::Host for PolicyState {
    fn get(&mut self, key: String) -> Result<Option<String>> {
        Ok(self.policy.config.get(&key).cloned())
    }

    fn secret(&mut self, key: String) -> Result<Option<String>> {
        Ok(self.policy.secrets.get(&key).map(|secret| secret.expose().to_string()))
    }
}

impl logging::Host for PolicyState {
    fn log(&mut self, level: logging::Level, message: String) -> Result<()> {
        let message = cut_log_line(message);
        let policy = self.policy.name.as_str();
        let plugin = self.policy.plugin_name.as_str();
        match level {
            logging::Level::Trace => tracing::trace!(target: "plugin", policy, plugin, "{message}"),
            logging::Level::Debug => tracing::debug!(target: "plugin", policy, plugin, "{message}"),
            logging::Level::Info => tracing::info!(target: "plugin", policy, plugin, "{message}"),
            logging::Level::Warn => tracing::warn!(target: "plugin", policy, plugin, "{message}"),
            logging::Level::Error => tracing::error!(target: "plugin", policy, plugin, "{message}"),
        }
        Ok(())
    }
}

impl clock::Host for PolicyState {
    fn now_ms(&mut self) -> Result<u64> {
        Ok(crate::clock::now_ms() as u64)
    }
}

impl outbound_http::Host for PolicyState {
    async fn send(&mut self, request: outbound_http::Request) -> std::result::Result<outbound_http::Response, outbound_http::Error> {
        let request = outbound::Request {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
        };
        let policy = &self.policy;
        match outbound::send(&policy.network, ("policy", &policy.name), request).await {
            Ok(response) => Ok(outbound_http::Response { status: response.status, headers: response.headers, body: response.body }),
            Err(outbound::Error::Denied(host)) => Err(outbound_http::Error::Denied(host)),
            Err(outbound::Error::Timeout) => Err(outbound_http::Error::Timeout),
            Err(outbound::Error::Connection(message)) => Err(outbound_http::Error::Connection(message)),
            Err(outbound::Error::InvalidRequest(message)) => Err(outbound_http::Error::InvalidRequest(message)),
        }
    }
}
