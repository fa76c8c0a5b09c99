//! The plugin runtime: loads channel plugins (WebAssembly components) and calls them under
//! limits.
//!
//! Each plugin is compiled once and pre-instantiated against the contract version it was
//! built for (`versions.rs`: `switchboard:channel@0.1.0` or `@0.2.0`); every call gets a
//! fresh instance from the pooling allocator, so no state leaks between webhooks and a trap
//! poisons nothing. A call that traps, runs past its time limit or exceeds its memory cap
//! fails with a [`PluginError`]; the host and other channels carry on.
//!
//! A channel holds its plugin behind a lock of `Arc`: a call clones the `Arc` and keeps
//! using the build it started with, so [`ChannelPlugin::swap`] can install a new build while
//! calls are in flight.

pub mod activity;
mod allowed_hosts;
mod bindings;
pub mod build;
mod convert;
mod engine;
mod limits;
pub mod mail_relay;
mod outbound;
pub mod reload;
pub mod output_limits;
mod replay;
pub mod router;
mod sandbox;
mod versions;

pub use allowed_hosts::AllowedHosts;
pub use sandbox::ChannelContext;

use crate::config::{ChannelConfig, PluginsConfig};
use crate::model::{self, Claim, PluginInfo, ThreadHints};
use crate::telemetry;
use anyhow::Context;
pub use build::BuildInfo;
use bindings::v0_1_0::switchboard::channel::types as wit;
use limits::Limited;
use sandbox::CallState;
use versions::{Instance, Pre};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

/// Why a plugin call failed (as opposed to the plugin answering with an error of its own).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin {plugin} trapped: {message}")]
    Trapped { plugin: String, message: String },
    #[error("plugin {plugin} exceeded its time limit of {limit_ms} ms")]
    TimedOut { plugin: String, limit_ms: u128 },
    #[error("plugin {plugin} exceeded its memory limit of {limit_mb} MiB")]
    MemoryExceeded { plugin: String, limit_mb: u64 },
}

impl PluginError {
    /// Short label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Trapped { .. } => "trap",
            Self::TimedOut { .. } => "timeout",
            Self::MemoryExceeded { .. } => "memory",
        }
    }
}

/// A webhook request as handed to a plugin.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub method: String,
    pub url: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A message received over SMTP, as handed to a plugin's `mail.receive`.
#[derive(Debug, Clone)]
pub struct IncomingMail {
    /// `MAIL FROM` (empty for the null reverse-path).
    pub mail_from: String,
    /// The `RCPT TO` addresses accepted for this channel.
    pub rcpt_to: Vec<String>,
    pub remote_addr: String,
    pub helo: Option<String>,
    pub tls: bool,
    /// The exact bytes of the message.
    pub raw: Vec<u8>,
}

/// A web chat visitor, as the host's session knows them (handed to a plugin's `chat.receive`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatVisitor {
    /// The session's stable visitor id: the sender's party id.
    pub id: String,
    /// An email address or E.164 phone the site signed; none for an anonymous visitor.
    pub verified_identifier: Option<String>,
    pub name: Option<String>,
    pub locale: Option<String>,
}

/// What a web chat visitor did.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatAction {
    /// Wrote a message; its attachments are already in the media store (`media:<sha256>`).
    Message { client_id: String, text: Option<String>, attachments: Vec<model::Attachment>, received_at_ms: i64 },
    /// Their widget got (`Delivered`) or showed (`Read`) every reply up to `up_to_ms`.
    Receipt { status: model::DeliveryStatus, up_to_ms: i64 },
    /// Left an email address to be answered at.
    Email(String),
}

/// What a plugin made of a visitor's action.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatOutcome {
    Reject(Rejection),
    Events(Vec<model::Event>),
}

/// Attachment bytes a plugin handed over, for the media store.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    /// What `blob:<id>` attachment references name.
    pub id: String,
    pub mime_type: String,
    pub data: Vec<u8>,
}

/// What a plugin made of a received mail.
#[derive(Debug, Clone, PartialEq)]
pub enum MailOutcome {
    Reject(Rejection),
    Events { events: Vec<model::Event>, blobs: Vec<Blob>, threads: Vec<ThreadHints> },
}

/// A response a plugin asks the host to give.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    Unauthorized,
    Forbidden,
    BadRequest,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
}

/// What a plugin made of a webhook request, from `verify` and then `parse`.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookOutcome {
    /// Answer with this response; nothing to store (a handshake).
    Respond(PluginResponse),
    /// Refuse the request.
    Reject(Rejection),
    /// Authentic, with these events to store and this response to give once they are stored;
    /// `claims` are the one-time tokens the plugin claimed, stored with the events.
    Events { events: Vec<model::Event>, response: Option<PluginResponse>, claims: Vec<Claim> },
}

/// One compiled build of a plugin, ready to instantiate.
pub struct LoadedPlugin {
    pub info: PluginInfo,
    pub path: PathBuf,
    pub build: BuildInfo,
    pre: Pre,
}

impl LoadedPlugin {
    fn label(&self) -> String {
        format!("{}@{}", self.info.name, self.info.version)
    }
}

/// The engine, linker and limits shared by every plugin.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<CallState>,
    /// The `switchboard:router` world's imports, for routing policies.
    policy_linker: Linker<router::PolicyState>,
    settings: PluginsConfig,
    http: reqwest::Client,
    /// Turns for inbound calls, webhooks and mail alike (`plugins.max_concurrent_webhook_calls`).
    inbound_calls: tokio::sync::Semaphore,
}

impl PluginRuntime {
    pub fn new(settings: &PluginsConfig) -> anyhow::Result<Arc<Self>> {
        let engine = engine::build_engine(settings)?;
        engine::start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from).context("linking WASI")?;
        versions::add_to_linker(&mut linker)?;
        let policy_linker = router::linker(&engine)?;
        let http = reqwest::Client::builder()
            // Redirects could lead a plugin past its allowlist: a redirect is returned to it as a response.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the outbound HTTP client")?;
        let inbound_calls = tokio::sync::Semaphore::new(settings.webhook_call_slots());
        Ok(Arc::new(Self { engine, linker, policy_linker, settings: settings.clone(), http, inbound_calls }))
    }

    fn memory_limit_bytes(&self) -> usize {
        usize::try_from(self.settings.memory_limit_mb * 1024 * 1024).unwrap_or(usize::MAX)
    }

    /// Compile (or load from cache) and pre-instantiate the component at `path`, then ask it
    /// for its metadata.
    pub async fn load(&self, path: &Path, channel: &Arc<ChannelContext>) -> anyhow::Result<LoadedPlugin> {
        let wasm = std::fs::read(path).with_context(|| format!("reading plugin {}", path.display()))?;
        let build = BuildInfo::of(&wasm);
        let component = self.compile(&wasm, path)?;
        let pre = Pre::new(&self.linker, &component).with_context(|| format!("plugin {} is not a channel plugin", path.display()))?;
        let contract = pre.version().as_str();
        let mut loaded = LoadedPlugin {
            info: PluginInfo {
                name: path.display().to_string(),
                version: "?".into(),
                description: String::new(),
                capabilities: vec![],
                contract: contract.into(),
            },
            path: path.to_path_buf(),
            build,
            pre,
        };
        let timeout = Duration::from_millis(self.settings.call_timeout_ms);
        let info = self
            .call(&loaded, channel, "metadata", timeout, async |store, instance| instance.metadata(store).await)
            .await
            .with_context(|| format!("asking plugin {} for its metadata", path.display()))?;
        loaded.info = convert::plugin_info(info, contract);
        Ok(loaded)
    }

    fn compile(&self, wasm: &[u8], path: &Path) -> anyhow::Result<Component> {
        engine::load_component(&self.engine, wasm, &self.settings.cache_dir)
            .with_context(|| format!("compiling plugin {}", path.display()))
    }

    /// Run `body` against a fresh instance of a channel plugin with the limits applied.
    async fn call<R>(
        &self,
        plugin: &LoadedPlugin,
        channel: &Arc<ChannelContext>,
        call: &'static str,
        timeout: Duration,
        body: impl AsyncFnOnce(&mut Store<CallState>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let state = CallState::new(channel.clone(), self.memory_limit_bytes());
        // Labelled by the configured plugin name, known before the plugin has said its own
        // (and never a file path).
        let who = Caller { label: plugin.label(), metric_name: channel.plugin_name.clone(), call };
        self.call_in(&who, state, timeout, async |store| plugin.pre.instantiate(store).await, body).await
    }

    /// Run `body` against an instance that `instantiate` makes in a fresh store holding
    /// `state`, with the time and memory limits applied, and record the call's duration and
    /// failure in `/metrics`. Every world's calls come through here.
    pub(crate) async fn call_in<S: Limited, I, R>(
        &self,
        who: &Caller,
        state: S,
        timeout: Duration,
        instantiate: impl AsyncFnOnce(&mut Store<S>) -> wasmtime::Result<I>,
        body: impl AsyncFnOnce(&mut Store<S>, &I) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let started = Instant::now();
        let result = self.call_limited(&who.label, state, timeout, instantiate, body).await;
        let name = who.metric_name.clone();
        metrics::histogram!(telemetry::PLUGIN_CALL_DURATION, "plugin" => name.clone(), "call" => who.call).record(started.elapsed());
        if let Err(error) = &result {
            metrics::counter!(telemetry::PLUGIN_FAILURES, "plugin" => name, "call" => who.call, "reason" => error.reason()).increment(1);
        }
        result
    }

    async fn call_limited<S: Limited, I, R>(
        &self,
        label: &str,
        state: S,
        timeout: Duration,
        instantiate: impl AsyncFnOnce(&mut Store<S>) -> wasmtime::Result<I>,
        body: impl AsyncFnOnce(&mut Store<S>, &I) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state.memory_cap());
        let deadline = Instant::now() + timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let run = async {
            let instance = instantiate(&mut store).await?;
            body(&mut store, &instance).await
        };
        // The epoch deadline stops runaway guest code; this outer timeout also covers time
        // spent waiting in host functions (outbound HTTP).
        let result = match tokio::time::timeout(timeout + engine::EPOCH_TICK * 4, run).await {
            Ok(result) => result,
            Err(_) => {
                return Err(PluginError::TimedOut { plugin: label.to_string(), limit_ms: timeout.as_millis() });
            }
        };
        result.map_err(|error| {
            if store.data_mut().memory_cap().exceeded {
                PluginError::MemoryExceeded { plugin: label.to_string(), limit_mb: self.settings.memory_limit_mb }
            } else if Instant::now() >= deadline && matches!(error.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt)) {
                PluginError::TimedOut { plugin: label.to_string(), limit_ms: timeout.as_millis() }
            } else {
                PluginError::Trapped { plugin: label.to_string(), message: format!("{error:#}") }
            }
        })
    }
}

/// Who a call is for, in errors and `/metrics`.
pub(crate) struct Caller {
    /// `name@version`, as the plugin reported it.
    pub label: String,
    /// The configured plugin name: the `plugin` label of the call metrics.
    pub metric_name: String,
    pub call: &'static str,
}

/// Where one secret comes from, and whether it has a value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SecretState {
    pub source: crate::config::SecretKind,
    /// The environment variable or file it is read from; none for a value in `config.toml`.
    pub reference: Option<String>,
    /// Whether it resolved to a value when the channel loaded.
    pub set: bool,
}

/// A configured channel instance and the plugin build currently serving it.
pub struct ChannelPlugin {
    pub context: Arc<ChannelContext>,
    /// Where each configured secret comes from and whether it resolved when the channel
    /// loaded; never the value.
    pub secret_states: BTreeMap<String, SecretState>,
    /// The last hour's webhooks and sends on this node, for the channel page.
    pub activity: activity::ChannelActivity,
    /// This channel's own webhook body cap, when it has one (`channels[].max_body_bytes`).
    pub max_body_bytes: Option<usize>,
    /// The addresses the SMTP listener accepts for this channel (`[channels.mail]`); empty
    /// for channels that take no mail (or, like a Mailgun-only instance, none over SMTP).
    pub mail_addresses: Vec<String>,
    /// Whether the channel has a `[channels.mail]` table: its replies go out as mail.
    mail_channel: bool,
    current: RwLock<Arc<LoadedPlugin>>,
    /// The build the last reload or rollback replaced, for the next rollback.
    previous: RwLock<Option<Arc<LoadedPlugin>>>,
    runtime: Arc<PluginRuntime>,
}

impl ChannelPlugin {
    /// Load the plugin for one channel instance from `config.toml`.
    pub async fn load(runtime: &Arc<PluginRuntime>, channel: &ChannelConfig) -> anyhow::Result<Self> {
        let allowed_hosts = AllowedHosts::parse(&channel.allowed_hosts).with_context(|| format!("channel {}", channel.id))?;
        let mut secrets = BTreeMap::new();
        let mut secret_states = BTreeMap::new();
        for (key, source) in &channel.secrets {
            let (kind, reference) = source.origin();
            let resolved = source.resolve();
            secret_states.insert(key.clone(), SecretState { source: kind, reference, set: resolved.is_some() });
            match resolved {
                Some(secret) => {
                    secrets.insert(key.clone(), secret);
                }
                None => tracing::warn!(channel = channel.id, secret = key, source = ?source, "secret is not set; requests needing it will be refused"),
            }
        }
        let send_timeout = Duration::from_millis(runtime.settings.send_timeout_ms);
        let relay = match &channel.mail {
            Some(mail) => mail_relay::MailRelay::from_config(mail, &secrets, send_timeout).with_context(|| format!("channel {}", channel.id))?,
            None => None,
        };
        let mut config = channel.config_strings();
        if let Some(mail) = &channel.mail {
            // The plugin reads the served addresses (for plus-address tokens) from its config;
            // `[channels.mail] addresses` says them once for both.
            config.entry("addresses".into()).or_insert_with(|| mail.addresses.join(","));
        }
        if let Some(webchat) = &channel.webchat {
            // The widget shows the limit the plugin enforces: `[channels.webchat]` says it once.
            config.entry("max_message_chars".into()).or_insert_with(|| webchat.max_message_chars.to_string());
        }
        let context = Arc::new(ChannelContext {
            channel_id: channel.id.clone(),
            plugin_name: channel.plugin.clone(),
            config,
            secrets,
            network: outbound::Network { allowed_hosts, http: runtime.http.clone(), timeout: Duration::from_millis(runtime.settings.http_timeout_ms) },
            relay,
            replay: replay::ReplayMemory::default(),
        });
        let path = runtime.settings.dir.join(format!("{}.wasm", channel.plugin));
        let loaded = runtime.load(&path, &context).await.with_context(|| format!("loading channel {}", channel.id))?;
        tracing::info!(channel = channel.id, plugin = loaded.label(), sha256 = loaded.build.sha256, capabilities = ?loaded.info.capabilities, "channel loaded");
        loaded.build.publish("channel", &channel.plugin, &loaded.info.version, &loaded.info.contract);
        Ok(Self {
            context,
            secret_states,
            activity: activity::ChannelActivity::default(),
            max_body_bytes: channel.max_body_bytes,
            mail_addresses: channel.mail.as_ref().map(|mail| mail.addresses.clone()).unwrap_or_default(),
            mail_channel: channel.mail.is_some(),
            current: RwLock::new(Arc::new(loaded)),
            previous: RwLock::new(None),
            runtime: runtime.clone(),
        })
    }

    fn current(&self) -> Arc<LoadedPlugin> {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Name, version and capabilities of the build now serving this channel.
    pub fn info(&self) -> PluginInfo {
        self.current().info.clone()
    }

    /// The build now serving this channel, and the file it came from.
    pub fn build(&self) -> (BuildInfo, PathBuf) {
        let current = self.current();
        (current.build.clone(), current.path.clone())
    }

    /// Install a new build; calls already running finish on the old one.
    pub fn swap(&self, plugin: LoadedPlugin) {
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(plugin);
    }

    /// Verify a webhook request and, when authentic, parse it — in one instance.
    pub async fn handle_webhook(&self, request: WebhookRequest) -> Result<WebhookOutcome, PluginError> {
        let plugin = self.current();
        self.webhook_on(&plugin, request).await
    }

    /// [`Self::handle_webhook`] on build `plugin` (the current one, or one a reload checks).
    async fn webhook_on(&self, plugin: &LoadedPlugin, request: WebhookRequest) -> Result<WebhookOutcome, PluginError> {
        let request = wit::IncomingRequest {
            method: request.method,
            url: request.url,
            query: request.query,
            headers: request.headers,
            body: request.body,
        };
        let timeout = Duration::from_millis(self.runtime.settings.call_timeout_ms);
        // The semaphore is never closed, so acquiring only waits.
        let _turn = self.runtime.inbound_calls.acquire().await;
        let mut outcome = self
            .runtime
            .call(plugin, &self.context, "webhook", timeout, async |store, instance| {
                match instance.verify(&mut *store, &request).await? {
                    wit::Verdict::Respond(response) => Ok(WebhookOutcome::Respond(response_from_wit(response))),
                    wit::Verdict::Reject(rejection) => Ok(WebhookOutcome::Reject(rejection_from_wit(rejection))),
                    wit::Verdict::Accept => Ok(match instance.parse(&mut *store, &request).await? {
                        Ok(parsed) => WebhookOutcome::Events {
                            events: parsed.events.into_iter().map(convert::event).collect(),
                            response: parsed.response.map(response_from_wit),
                            claims: std::mem::take(&mut store.data_mut().claims),
                        },
                        Err(rejection) => WebhookOutcome::Reject(rejection_from_wit(rejection)),
                    }),
                }
            })
            .await?;
        if let WebhookOutcome::Events { events, .. } = &mut outcome {
            self.limit_output(events);
        }
        Ok(outcome)
    }

    /// Cut or drop what a plugin reported over the size limits, counting and logging each cut.
    fn limit_output(&self, events: &mut Vec<model::Event>) {
        let limited = output_limits::apply(events);
        if !limited.is_empty() {
            for (field, count) in &limited.changes {
                metrics::counter!(telemetry::PLUGIN_OUTPUT_LIMITED, "channel" => self.context.channel_id.clone(), "field" => *field)
                    .increment(u64::from(*count));
            }
            tracing::warn!(channel = self.context.channel_id, changes = ?limited.changes, "plugin output over the size limits was cut or dropped");
        }
    }

    /// Ask the plugin to deliver one message.
    pub async fn send(&self, message: &model::OutboundMessage) -> Result<Result<model::SendReceipt, model::SendFailure>, PluginError> {
        let plugin = self.current();
        let message = convert::outbound(message);
        let timeout = Duration::from_millis(self.runtime.settings.send_timeout_ms);
        let result = self
            .runtime
            .call(&plugin, &self.context, "send", timeout, async |store, instance| instance.send(store, &message).await)
            .await?;
        Ok(result
            .map(|receipt| model::SendReceipt { external_id: receipt.external_id, status: convert::delivery_status(receipt.status) })
            .map_err(convert::send_failure))
    }

    /// Whether replies go out as mail (`mail.send`, through the instance's relay) rather than
    /// through `plugin.send`.
    pub fn sends_mail(&self) -> bool {
        self.mail_channel && self.current().pre.version() != versions::Version::V0_1_0
    }

    /// Ask a mail channel's plugin to compose and relay one reply in `thread`.
    pub async fn send_mail(
        &self,
        message: &model::OutboundMessage,
        thread: &model::MailThread,
    ) -> Result<Result<model::SendReceipt, model::SendFailure>, PluginError> {
        let plugin = self.current();
        let message = convert::outbound(message);
        let thread = convert::thread_context(thread);
        let timeout = Duration::from_millis(self.runtime.settings.send_timeout_ms);
        let result = self
            .runtime
            .call(&plugin, &self.context, "send_mail", timeout, async |store, instance| instance.send_mail(store, &message, &thread).await)
            .await?;
        Ok(match result {
            None => Err(model::SendFailure::unsupported("this plugin was built before mail.send existed (switchboard:channel@0.1.0)")),
            Some(result) => result
                .map(|receipt| model::SendReceipt { external_id: receipt.external_id, status: convert::delivery_status(receipt.status) })
                .map_err(convert::send_failure),
        })
    }

    /// Hand a received mail to the plugin; `None` when it was built before `mail` existed
    /// (`0.1.0`). Output over the size limits is cut (and counted) as for webhooks.
    pub async fn handle_mail(&self, mail: IncomingMail) -> Result<Option<MailOutcome>, PluginError> {
        let plugin = self.current();
        let incoming = convert::incoming_mail(mail);
        let timeout = Duration::from_millis(self.runtime.settings.call_timeout_ms);
        let _turn = self.runtime.inbound_calls.acquire().await;
        let received = self
            .runtime
            .call(&plugin, &self.context, "mail", timeout, async |store, instance| instance.receive_mail(store, &incoming).await)
            .await?;
        Ok(received.map(|result| match result {
            Ok(parsed) => {
                let (mut events, blobs, threads) = convert::parsed_mail(parsed);
                self.limit_output(&mut events);
                MailOutcome::Events { events, blobs, threads }
            }
            Err(rejection) => MailOutcome::Reject(rejection_from_wit(rejection)),
        }))
    }

    /// Hand a web chat visitor's action to the plugin; `None` when it was built before `chat`
    /// existed (`0.1.0`). Output over the size limits is cut (and counted) as for webhooks.
    pub async fn handle_chat(&self, visitor: &ChatVisitor, action: &ChatAction) -> Result<Option<ChatOutcome>, PluginError> {
        let plugin = self.current();
        let (visitor, action) = (convert::chat_visitor(visitor), convert::chat_action(action));
        let timeout = Duration::from_millis(self.runtime.settings.call_timeout_ms);
        let _turn = self.runtime.inbound_calls.acquire().await;
        let received = self
            .runtime
            .call(&plugin, &self.context, "chat", timeout, async |store, instance| instance.receive_chat(store, &visitor, &action).await)
            .await?;
        Ok(received.map(|result| match result {
            Ok(parsed) => {
                let mut events = parsed.events.into_iter().map(convert::event).collect();
                self.limit_output(&mut events);
                ChatOutcome::Events(events)
            }
            Err(rejection) => ChatOutcome::Reject(rejection_from_wit(rejection)),
        }))
    }

    /// The plugin's setup guide, or `None` when it was built before `setup` existed (`0.1.0`).
    pub async fn guide(&self) -> Result<Option<model::ChannelGuide>, PluginError> {
        let plugin = self.current();
        let timeout = Duration::from_millis(self.runtime.settings.call_timeout_ms);
        let guide = self.runtime.call(&plugin, &self.context, "guide", timeout, async |store, instance| instance.guide(store).await).await?;
        Ok(guide.map(convert::guide))
    }

    /// Ask the plugin to call its provider with the configured credentials. `None` when the
    /// plugin was built before `setup` existed (`0.1.0`). It may wait on the provider, so it
    /// gets the send timeout.
    pub async fn check_connection(&self) -> Result<Option<model::ConnectionCheck>, PluginError> {
        let plugin = self.current();
        let timeout = Duration::from_millis(self.runtime.settings.send_timeout_ms);
        let check = self
            .runtime
            .call(&plugin, &self.context, "check_connection", timeout, async |store, instance| instance.check_connection(store).await)
            .await?;
        Ok(check.map(convert::connection_check))
    }
}

fn response_from_wit(response: wit::HttpResponse) -> PluginResponse {
    PluginResponse { status: response.status, headers: response.headers, body: response.body }
}

fn rejection_from_wit(rejection: wit::Rejection) -> Rejection {
    let kind = match rejection.kind {
        wit::RejectionKind::Unauthorized => RejectionKind::Unauthorized,
        wit::RejectionKind::Forbidden => RejectionKind::Forbidden,
        wit::RejectionKind::BadRequest => RejectionKind::BadRequest,
    };
    Rejection { kind, message: rejection.message }
}

/// Every configured channel, by id.
pub struct Channels {
    pub runtime: Arc<PluginRuntime>,
    by_id: HashMap<String, Arc<ChannelPlugin>>,
    /// The last reload or rollback of each plugin file ([`reload`]).
    reloads: std::sync::Mutex<HashMap<String, reload::ReloadAttempt>>,
    /// Held through a reload or rollback: two at once would interleave their swaps.
    swapping: tokio::sync::Mutex<()>,
}

impl Channels {
    /// Load every channel in the config. Any failure is fatal: a half-configured gateway
    /// would silently drop a channel's webhooks.
    pub async fn load(settings: &PluginsConfig, channels: &[ChannelConfig]) -> anyhow::Result<Self> {
        let runtime = PluginRuntime::new(settings)?;
        let mut by_id = HashMap::new();
        for channel in channels {
            let plugin = ChannelPlugin::load(&runtime, channel).await?;
            by_id.insert(channel.id.clone(), Arc::new(plugin));
        }
        Ok(Self { runtime, by_id, reloads: Default::default(), swapping: Default::default() })
    }

    pub fn get(&self, id: &str) -> Option<&Arc<ChannelPlugin>> {
        self.by_id.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<ChannelPlugin>)> {
        self.by_id.iter()
    }
}
