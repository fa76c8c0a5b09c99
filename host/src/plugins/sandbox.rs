//! What a plugin can touch during one call: the per-call store state and the host functions
//! behind the WIT imports.
//!
//! Policy enforced here: a plugin sees only its own instance's config and secrets; it gets
//! WASI with no files, no environment, no arguments and no sockets; its memory is capped; its
//! only ways out are [`outbound-http`](super::bindings), checked against `allowed_hosts`, and
//! (0.2.0) `outbound-mail`, which reaches only the instance's own relay ([`super::mail_relay`]).

use super::limits::MemoryCap;
use super::outbound;
use super::mail_relay::{MailRelay, RelayError};
use super::replay::{ReplayMemory, MAX_CLAIMS_PER_CALL, MAX_NONCE_BYTES};
use crate::model::Claim;
use super::bindings::v0_1_0::switchboard::channel::{clock, config, crypto, logging, outbound_http, types};
use crate::config::Secret;
use hmac::{Hmac, Mac};
use sha2::Digest;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::Result;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};


/// Everything about a channel instance that its plugin calls share.
#[derive(Debug)]
pub struct ChannelContext {
    pub channel_id: String,
    pub plugin_name: String,
    pub config: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, Secret>,
    /// Where its `outbound-http` may go.
    pub network: outbound::Network,
    /// A mail channel's relay (`[channels.mail] relay`).
    pub relay: Option<MailRelay>,
    /// One-time tokens of requests this node stored (`replay.claim`).
    pub replay: ReplayMemory,
}

/// The data of one plugin call's store.
pub struct CallState {
    pub channel: Arc<ChannelContext>,
    pub limits: MemoryCap,
    /// Tokens the plugin claimed during this call; stored with the request's events.
    pub claims: Vec<Claim>,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl CallState {
    pub fn new(channel: Arc<ChannelContext>, memory_limit_bytes: usize) -> Self {
        // Deny-all WASI: no preopened dirs, env or args are added, and sockets are off.
        let wasi = WasiCtxBuilder::new().allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false).build();
        Self { channel, limits: MemoryCap::new(memory_limit_bytes), claims: Vec::new(), wasi, table: ResourceTable::new() }
    }
}

impl super::limits::Limited for CallState {
    fn memory_cap(&mut self) -> &mut MemoryCap {
        &mut self.limits
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for CallState {}

impl config::Host for CallState {
    fn get(&mut self, key: String) -> Result<Option<String>> {
        Ok(self.channel.config.get(&key).cloned())
    }

    fn secret(&mut self, key: String) -> Result<Option<String>> {
        Ok(self.channel.secrets.get(&key).map(|secret| secret.expose().to_string()))
    }
}

impl crypto::Host for CallState {
    fn hmac_sha256(&mut self, key: Vec<u8>, data: Vec<u8>) -> Result<Vec<u8>> {
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).map_err(wasmtime::Error::msg)?;
        mac.update(&data);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    fn hmac_sha1(&mut self, key: Vec<u8>, data: Vec<u8>) -> Result<Vec<u8>> {
        let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(&key).map_err(wasmtime::Error::msg)?;
        mac.update(&data);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    fn sha256(&mut self, data: Vec<u8>) -> Result<Vec<u8>> {
        Ok(sha2::Sha256::digest(&data).to_vec())
    }
}

impl logging::Host for CallState {
    fn log(&mut self, level: logging::Level, message: String) -> Result<()> {
        let message = super::limits::cut_log_line(message);
        let channel = self.channel.channel_id.as_str();
        let plugin = self.channel.plugin_name.as_str();
        match level {
            logging::Level::Trace => tracing::trace!(target: "plugin", channel, plugin, "{message}"),
            logging::Level::Debug => tracing::debug!(target: "plugin", channel, plugin, "{message}"),
            logging::Level::Info => tracing::info!(target: "plugin", channel, plugin, "{message}"),
            logging::Level::Warn => tracing::warn!(target: "plugin", channel, plugin, "{message}"),
            logging::Level::Error => tracing::error!(target: "plugin", channel, plugin, "{message}"),
        }
        Ok(())
    }
}

impl clock::Host for CallState {
    fn now_ms(&mut self) -> Result<u64> {
        Ok(crate::clock::now_ms() as u64)
    }
}

impl outbound_http::Host for CallState {
    async fn send(&mut self, request: outbound_http::Request) -> std::result::Result<types::HttpResponse, outbound_http::Error> {
        let request = outbound::Request {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
        };
        let channel = &self.channel;
        match outbound::send(&channel.network, ("channel", &channel.channel_id), request).await {
            Ok(response) => Ok(types::HttpResponse { status: response.status, headers: response.headers, body: response.body }),
            Err(outbound::Error::Denied(host)) => Err(outbound_http::Error::Denied(host)),
            Err(outbound::Error::Timeout) => Err(outbound_http::Error::Timeout),
            Err(outbound::Error::Connection(message)) => Err(outbound_http::Error::Connection(message)),
            Err(outbound::Error::InvalidRequest(message)) => Err(outbound_http::Error::InvalidRequest(message)),
        }
    }
}

impl CallState {
    /// `replay.claim`: false when this node stored a request with `nonce`, or the plugin
    /// already claimed it in this call. Over-long nonces and too many claims are refused
    /// (false), so a plugin cannot grow the store's table without bound.
    pub fn claim(&mut self, nonce: String, ttl_ms: u64) -> bool {
        let now = crate::clock::now_ms() as u64;
        if nonce.is_empty() || nonce.len() > MAX_NONCE_BYTES || self.claims.len() >= MAX_CLAIMS_PER_CALL {
            return false;
        }
        if self.channel.replay.seen(&nonce, now) || self.claims.iter().any(|claim| claim.nonce == nonce) {
            return false;
        }
        // A day at most: a signature's freshness window is minutes.
        let ttl_ms = ttl_ms.clamp(1_000, 86_400_000);
        self.claims.push(Claim { nonce, expires_at_ms: now.saturating_add(ttl_ms) });
        true
    }

}

/// `outbound-mail.send`: relay through the instance's relay, the only one it may reach.
pub async fn relay_mail(channel: &ChannelContext, mail_from: &str, rcpt_to: &[String], raw: &[u8]) -> std::result::Result<(), RelayError> {
    let Some(relay) = &channel.relay else { return Err(RelayError::NotConfigured) };
    relay.send(mail_from, rcpt_to, raw).await
}

