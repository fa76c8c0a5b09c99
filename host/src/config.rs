//! `config.toml`: the one file a self-hoster edits.
//!
//! Secrets are never written in plain text here by convention: a secret value is either a
//! literal (for local experiments) or `{ env = "NAME" }`, resolved when the file is loaded.
//! Resolved secrets live in [`Secret`], whose `Debug` never shows the value.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("invalid config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub plugins: PluginsConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub workflow: WorkflowConfig,
    #[serde(default)]
    pub smtp: SmtpConfig,
    #[serde(default)]
    pub media: MediaConfig,
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    #[serde(default)]
    pub routing: RoutingConfig,
}

/// The routing stage: the policy chain that runs after a customer's message is stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// The policies, run in this order; each sees the decision of those before it.
    pub policies: Vec<PolicyConfig>,
    /// How often the routing leader looks for conversations to route that another node
    /// stored (this node's own are routed as soon as they are committed), in milliseconds.
    pub poll_interval_ms: u64,
    /// How often conversations waiting in a team queue are offered to agents with room, in
    /// milliseconds (also done at once when an agent's load or availability changes here).
    pub queue_interval_ms: u64,
    /// Time limit of one policy call, in milliseconds.
    pub call_timeout_ms: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self { policies: Vec::new(), poll_interval_ms: 500, queue_interval_ms: 5_000, call_timeout_ms: 200 }
    }
}

/// One routing policy of the chain: a `switchboard:router` plugin plus its settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The name decisions are recorded under ("routed to Billing by urgency").
    pub name: String,
    /// Plugin file name without `.wasm`, looked up in `plugins.dir`.
    pub plugin: String,
    /// Hosts the policy may call; none by default.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Handed to the policy: strings as they are, other values as JSON text.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
}

impl PolicyConfig {
    /// The `config` table as the policy reads it, with its own `name` added.
    pub fn config_strings(&self) -> BTreeMap<String, String> {
        let mut strings: BTreeMap<String, String> = self
            .config
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    toml::Value::String(s) => s.clone(),
                    other => serde_json::to_string(other).unwrap_or_default(),
                };
                (key.clone(), text)
            })
            .collect();
        strings.insert("name".into(), self.name.clone());
        strings
    }
}

/// The SMTP listener: where customers' mail (or an MX forwarding rule) arrives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Where to listen; none (the default) runs no SMTP listener.
    pub listen: Option<SocketAddr>,
    /// The name the listener greets with and says in `EHLO`.
    pub hostname: String,
    /// Larger messages are refused with `552` (announced as `SIZE` in `EHLO`).
    pub max_message_bytes: usize,
    /// Recipients one message may have.
    pub max_recipients: usize,
    /// Sessions open at once, in all and from one IP address (more are answered `421`).
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// A client silent this long (between commands, or within `DATA`) is disconnected.
    pub command_timeout_ms: u64,
    /// PEM files of a certificate chain and its private key; when both are set the listener
    /// offers `STARTTLS`. Relative to this file.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            listen: None,
            hostname: "localhost".into(),
            max_message_bytes: 10 * 1024 * 1024,
            max_recipients: 50,
            max_connections: 256,
            max_connections_per_ip: 16,
            command_timeout_ms: 60_000,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// Where media that arrives as bytes (email attachments) is kept, by content hash.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// A folder, relative to this file.
    pub dir: PathBuf,
    /// Larger files are not kept: the message shows the attachment as omitted.
    pub max_file_bytes: usize,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self { dir: PathBuf::from("media"), max_file_bytes: 25 * 1024 * 1024 }
    }
}

/// A mail channel instance's host-side settings (`[channels.mail]`): which addresses the SMTP
/// listener accepts for it, and the relay its replies leave through.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The addresses this instance serves; `RCPT TO` these or their plus-addresses
    /// (`support+anything@example.com`) is accepted, anything else refused. None for an
    /// instance whose mail comes only from Mailgun.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// The SMTP relay replies are handed to: `smtp://host:port` or `smtps://host:port`.
    /// None: replies fail as not configured.
    #[serde(default)]
    pub relay: Option<String>,
    /// `none`, `starttls` (required) or `tls`; by default `tls` for `smtps://`, else
    /// `starttls`, except to a loopback relay, which gets `none`.
    #[serde(default)]
    pub relay_tls: Option<RelayTls>,
}

/// A web chat channel instance's host-side settings (`[channels.webchat]`): who may embed the
/// widget, what visitors are told while nobody is online, and the limits the host holds every
/// visitor to. The identity secret is the instance's `widget_secret` secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebchatConfig {
    /// Origins whose pages may embed the widget (`https://shop.example.com`), checked on the
    /// socket's upgrade and on CORS. The gateway's own origin (its demo page) is always allowed.
    pub allowed_origins: Vec<String>,
    /// When visitors can expect an answer while no agent is online ("in a few hours"); shown
    /// with the offer to continue by email.
    pub reply_time: Option<String>,
    /// Longest visitor message, in characters (the plugin enforces it; the widget shows it).
    pub max_message_chars: usize,
    /// Largest upload, in bytes (never above `media.max_file_bytes`).
    pub max_upload_bytes: usize,
    /// Content types visitors may upload: exact (`application/pdf`) or a family (`image/*`).
    pub upload_types: Vec<String>,
    /// Messages one visitor session may send per minute (a burst of that many, refilled evenly).
    pub messages_per_minute: u32,
    /// Requests and socket frames one client address may make per minute, across sessions.
    pub requests_per_minute_per_ip: u32,
    /// How long a visitor's session token stays valid, in days; the widget renews it on every load.
    pub session_days: u32,
}

impl Default for WebchatConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            reply_time: None,
            max_message_chars: 5000,
            max_upload_bytes: 10 * 1024 * 1024,
            upload_types: ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"].map(String::from).to_vec(),
            messages_per_minute: 30,
            requests_per_minute_per_ip: 300,
            session_days: 180,
        }
    }
}

impl WebchatConfig {
    fn validate(&self) -> Result<(), String> {
        for origin in &self.allowed_origins {
            // An origin is scheme://host[:port] exactly, as browsers send it: no path, no slash.
            let valid = origin
                .split_once("://")
                .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(['/', '?', '#', '*', ' ']));
            if !valid {
                return Err(format!("allowed origin `{origin}` must be scheme://host[:port], like https://shop.example.com"));
            }
        }
        if self.max_message_chars == 0 || self.max_upload_bytes == 0 || self.messages_per_minute == 0 || self.requests_per_minute_per_ip == 0 || self.session_days == 0 {
            return Err("limits must be > 0".into());
        }
        Ok(())
    }
}

/// How the connection to a mail relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayTls {
    None,
    Starttls,
    Tls,
}

/// The conversation workflow's background work, and agents' presence.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowConfig {
    /// How often the leader looks for snoozed conversations to wake, in milliseconds.
    pub snooze_check_ms: u64,
    /// How long an agent counts as viewing or typing after their last heartbeat, in
    /// milliseconds. Clients send one every third of this (the inbox every 10 s).
    pub presence_ttl_ms: u64,
    /// How often lapsed presence is swept and announced, in milliseconds.
    pub presence_check_ms: u64,
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        Self { snooze_check_ms: 10_000, presence_ttl_ms: 30_000, presence_check_ms: 2_000 }
    }
}

/// Agents' sign-in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a login session lasts, in hours.
    pub session_ttl_hours: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { session_ttl_hours: 168 }
    }
}

/// Where and to whom `/metrics` is served.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address only (e.g. a private interface Prometheus scrapes),
    /// and not on `server.listen`.
    pub listen: Option<SocketAddr>,
    /// Require `Authorization: Bearer <token>` on `/metrics` (Prometheus' `authorization`
    /// scrape setting).
    pub token: Option<SecretSource>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The URL providers call, without a trailing slash. Providers that sign the URL
    /// (Twilio) sign this one, not whatever Host header arrives.
    pub public_url: String,
    /// Webhook and API bodies larger than this are refused with `413`. A channel may set a
    /// smaller cap of its own (`channels[].max_body_bytes`).
    pub max_body_bytes: usize,
    /// A client must send a whole request head within this time, or the connection is closed
    /// without an answer. Also how long an idle keep-alive connection stays open.
    pub header_read_timeout_ms: u64,
    /// A request body must arrive in full within this time of its head, or the request is
    /// answered `408` and the connection closed.
    pub body_read_timeout_ms: u64,
    /// A request head (request line and headers) larger than this is answered `431`.
    pub max_header_bytes: usize,
    /// Connections open at once; more are answered `503` and closed.
    pub max_connections: usize,
    /// A live stream (`/api/v1/events`) ends after this many seconds; clients reconnect with
    /// `Last-Event-ID` and miss nothing (browsers' `EventSource` does this by itself). Bounds
    /// how long one node holds a client, so a load balancer can spread them again.
    pub live_stream_max_secs: u64,
    /// Connections open at once from one IP address; more are answered `429` and closed.
    /// Providers deliver from a handful of addresses: keep this well above their concurrency.
    pub max_connections_per_ip: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 15_000,
            max_header_bytes: 32 * 1024,
            live_stream_max_secs: 3600,
            max_connections: 4096,
            max_connections_per_ip: 512,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user@host/database`.
    pub url: String,
    /// SQLite: read connections (there is always one writer besides these).
    /// PostgreSQL: the whole pool of this node.
    pub max_connections: u32,
    /// How long a request waits for a free connection before it fails (503 for webhooks).
    pub acquire_timeout_ms: u64,
    /// PostgreSQL: the server cancels any statement that runs longer.
    pub statement_timeout_ms: u64,
    /// Webhooks committed together in one transaction at most (group commit).
    pub max_batch: usize,
    /// How long live events are kept for `Last-Event-ID` resumption, in hours.
    pub live_event_retention_hours: u64,
    /// How long raw webhook bodies are kept in the webhook log, in hours (`0`: pruned at every
    /// maintenance run). The messages they held stay; only the raw copy goes.
    pub webhook_log_retention_hours: u64,
    /// How often the leader prunes live events and the webhook log, in seconds.
    pub maintenance_interval_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://switchboard.db".into(),
            max_connections: 8,
            acquire_timeout_ms: 5000,
            statement_timeout_ms: 10_000,
            max_batch: 256,
            live_event_retention_hours: 72,
            webhook_log_retention_hours: 168,
            maintenance_interval_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Where `<plugin>.wasm` files are found; relative to the config file.
    pub dir: PathBuf,
    /// Where compiled plugin code is cached between restarts; relative to the config file.
    pub cache_dir: PathBuf,
    /// Linear memory a plugin may use in one call.
    pub memory_limit_mb: u64,
    /// Wall-clock limit of one `verify`/`parse` call, including time spent in host functions.
    pub call_timeout_ms: u64,
    /// Wall-clock limit of one `send` call, which waits on the provider.
    pub send_timeout_ms: u64,
    /// Default timeout of one outbound HTTP request made by a plugin.
    pub http_timeout_ms: u64,
    /// Plugin instances that can run at the same time (pooling allocator slots).
    pub max_concurrent_instances: u32,
    /// Webhook calls (`verify` + `parse`) that run at once; more wait their turn, and a call's
    /// time limit starts when it runs. Webhook calls only use CPU, so more than a few per core
    /// only makes each one slower: without this gate, a flood of large forged bodies made every
    /// call, forged or signed, run past its limit. `0` means twice the number of cores.
    pub max_concurrent_webhook_calls: usize,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            dir: "target/plugins".into(),
            cache_dir: "target/plugin-cache".into(),
            memory_limit_mb: 64,
            call_timeout_ms: 1000,
            send_timeout_ms: 15_000,
            http_timeout_ms: 10_000,
            max_concurrent_instances: 256,
            max_concurrent_webhook_calls: 0,
        }
    }
}

impl PluginsConfig {
    /// How many webhook calls may run at once (`max_concurrent_webhook_calls`, resolved).
    pub fn webhook_call_slots(&self) -> usize {
        match self.max_concurrent_webhook_calls {
            0 => std::thread::available_parallelism().map_or(2, |cores| cores.get() * 2),
            slots => slots,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Attempts before a message is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter, capped at `max_backoff_ms`.
    pub base_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// How often the worker looks for due retries when nothing wakes it.
    pub poll_interval_ms: u64,
    /// A claimed message not finished within this lease is picked up again (crash recovery).
    pub lease_ms: u64,
    /// Sends in flight at once.
    pub concurrency: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_backoff_ms: 1000,
            max_backoff_ms: 300_000,
            poll_interval_ms: 500,
            lease_ms: 60_000,
            concurrency: 16,
        }
    }
}

/// One channel instance: a plugin plus its settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// The instance name, used in `/webhooks/{id}`.
    pub id: String,
    /// Plugin file name without `.wasm`, looked up in `plugins.dir`.
    pub plugin: String,
    /// Hosts the plugin may call, e.g. `graph.facebook.com` or `127.0.0.1:9000`.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
    /// Webhook bodies larger than this are refused with `413` before the plugin sees them
    /// (default `server.max_body_bytes`). Set it near the provider's real maximum: a plugin
    /// spends time on every byte of a body before it can refuse a forged one.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// For a mail channel: its addresses and relay.
    #[serde(default)]
    pub mail: Option<MailConfig>,
    /// For a web chat channel: allowed origins, offline reply time and visitor limits.
    #[serde(default)]
    pub webchat: Option<WebchatConfig>,
    /// How replies on this channel are retried and paced (defaults per provider, see
    /// [`DeliveryConfig`]).
    #[serde(default)]
    pub delivery: DeliveryConfig,
}

/// `[channels.delivery]`: retries and pacing for one channel instance. Unset values come from
/// `[outbox]` (attempts) or from the provider's published limits for the bundled plugins
/// ([`DeliveryConfig::resolve`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Attempts before a reply is dead-lettered (default `outbox.max_attempts`).
    pub max_attempts: Option<u32>,
    /// A reply still undelivered this long after it was queued is dead-lettered at its next
    /// failure instead of retried (default one day: an answer that late confuses more than it helps).
    pub max_age_secs: Option<u64>,
    /// Sends per second through this instance, on average (a token bucket).
    pub rate_per_sec: Option<f64>,
    /// Sends allowed at once above the average (the bucket's size; default one second's worth).
    pub burst: Option<u32>,
    /// Average time between two sends to the same recipient, in ms (WhatsApp's pair rate
    /// limit); 0 turns recipient pacing off.
    pub recipient_interval_ms: Option<u64>,
    /// Sends to one recipient allowed at once above that average.
    pub recipient_burst: Option<u32>,
    /// Hours after the customer's last message during which free-form replies are allowed
    /// (the customer-service window); 0 for none. Templates are allowed at any time.
    pub window_hours: Option<u32>,
    /// Another channel instance to send a reply on when it cannot be delivered on this one
    /// (`"sms"`): to the same contact's identity there, once, with a template sent as its text.
    pub failover_to: Option<String>,
    /// When to fail over: `window_closed` (WhatsApp's 131047), `permanent` (any other failure
    /// the provider marks final, except an opt-out) and `dead` (retries ran out: the channel is
    /// down). Default all three.
    pub failover_on: Option<Vec<FailoverTrigger>>,
}

/// What makes a reply fail over ([`DeliveryConfig::failover_on`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverTrigger {
    WindowClosed,
    Permanent,
    Dead,
}

/// Where and when a channel's undeliverable replies go instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Failover {
    pub to: String,
    pub on: Vec<FailoverTrigger>,
}

/// [`DeliveryConfig`] with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub max_attempts: u32,
    pub max_age_ms: i64,
    pub rate_per_sec: f64,
    pub burst: u32,
    pub recipient_interval_ms: u64,
    pub recipient_burst: u32,
    /// The customer-service window, hours; 0 when the channel has none.
    pub window_hours: u32,
    pub failover: Option<Failover>,
}

impl DeliveryConfig {
    /// Fill in defaults: attempts from `[outbox]`, rates from the provider's documented limits
    /// when `plugin` is a bundled one. The plugin contract carries no rate limits (yet), so
    /// these are the host's knowledge of the five providers; a third-party plugin gets a
    /// cautious 20/s unless its instance sets `rate_per_sec`. Windows likewise: WhatsApp,
    /// Messenger and Instagram allow free-form messages for 24 hours after the customer's last
    /// one, Messenger and Instagram for 7 days with the `HUMAN_AGENT` tag (`human_agent_tag`,
    /// the instance's `messaging_tag`).
    pub fn resolve(&self, plugin: &str, human_agent_tag: bool, outbox: &OutboxConfig) -> Delivery {
        let window_hours = match plugin {
            "whatsapp" => 24,
            "messenger" | "instagram" if human_agent_tag => 7 * 24,
            "messenger" | "instagram" => 24,
            _ => 0,
        };
        // (sends/s, average ms between sends to one recipient, burst to one recipient)
        let (rate, recipient_interval_ms, recipient_burst) = match plugin {
            // Cloud API: 80 messages/s per business number; pair rate limit of one message
            // every 6 s to the same user on average, with bursts of up to 45 (beyond, 131056).
            "whatsapp" => (80.0, 6_000, 45),
            // Twilio: 1 segment/s per US long code (toll-free and short codes are faster).
            "twilio-sms" => (1.0, 0, 1),
            // Telegram: about 30 messages/s per bot, and about one a second to one chat.
            "telegram" => (30.0, 1_000, 5),
            // Meta's Send API for pages: throttled per page; 250/s is far below its ceiling.
            "messenger" | "instagram" => (250.0, 0, 1),
            // The host is the provider (web chat) or the relay queues (email).
            "webchat" | "email" => (1_000.0, 0, 1),
            _ => (20.0, 0, 1),
        };
        let rate_per_sec = self.rate_per_sec.filter(|r| r.is_finite() && *r > 0.0).unwrap_or(rate);
        Delivery {
            max_attempts: self.max_attempts.unwrap_or(outbox.max_attempts).max(1),
            max_age_ms: i64::try_from(self.max_age_secs.unwrap_or(86_400)).unwrap_or(i64::MAX / 1000).saturating_mul(1000),
            rate_per_sec,
            burst: self.burst.unwrap_or_else(|| rate_per_sec.ceil() as u32).max(1),
            recipient_interval_ms: self.recipient_interval_ms.unwrap_or(recipient_interval_ms),
            recipient_burst: self.recipient_burst.unwrap_or(recipient_burst).max(1),
            window_hours: self.window_hours.unwrap_or(window_hours),
            failover: self.failover_to.clone().map(|to| Failover {
                to,
                on: self.failover_on.clone().unwrap_or_else(|| vec![FailoverTrigger::WindowClosed, FailoverTrigger::Permanent, FailoverTrigger::Dead]),
            }),
        }
    }
}

/// Where a secret's value comes from: written in `config.toml` (`key = "…"`), an environment
/// variable (`{ env = "NAME" }`) or a file (`{ file = "/run/secrets/name" }`, as Docker and
/// Kubernetes mount them; one trailing newline is dropped).
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    Literal(String),
    Env { env: String },
    File { file: PathBuf },
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(_) => f.write_str("<literal>"),
            Self::Env { env } => write!(f, "env:{env}"),
            Self::File { file } => write!(f, "file:{}", file.display()),
        }
    }
}

/// The kinds of [`SecretSource`], as the admin API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// Written in `config.toml` itself.
    Config,
    Env,
    File,
}

impl SecretSource {
    /// The value, or `None` when the environment variable is not set or the file cannot be
    /// read (or is empty).
    pub fn resolve(&self) -> Option<Secret> {
        match self {
            Self::Literal(value) => Some(Secret(value.clone())),
            Self::Env { env } => std::env::var(env).ok().map(Secret),
            Self::File { file } => {
                let text = std::fs::read_to_string(file).ok()?;
                let value = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
                (!value.is_empty()).then(|| Secret(value.to_string()))
            }
        }
    }

    /// What kind of source this is and what it names (the variable or the path; never a
    /// literal's value).
    pub fn origin(&self) -> (SecretKind, Option<String>) {
        match self {
            Self::Literal(_) => (SecretKind::Config, None),
            Self::Env { env } => (SecretKind::Env, Some(env.clone())),
            Self::File { file } => (SecretKind::File, Some(file.display().to_string())),
        }
    }
}

/// A resolved secret. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `url` with any password replaced, for logs and error messages.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl Config {
    /// Load and validate a config file. Relative paths in it are made relative to its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let mut config = Self::parse(&text).map_err(|error| match error {
            ConfigError::Parse { source, .. } => ConfigError::Parse { path: path.into(), source },
            other => other,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.plugins.dir = base.join(&config.plugins.dir);
        config.plugins.cache_dir = base.join(&config.plugins.cache_dir);
        config.media.dir = base.join(&config.media.dir);
        for file in [&mut config.smtp.tls_cert, &mut config.smtp.tls_key].into_iter().flatten() {
            *file = base.join(&*file);
        }
        for channel in &mut config.channels {
            for source in channel.secrets.values_mut() {
                if let SecretSource::File { file } = source {
                    *file = base.join(&*file);
                }
            }
        }
        if let Some(file) = config.database.url.strip_prefix("sqlite://")
            && !file.starts_with('/') && !file.starts_with(':') {
                config.database.url = format!("sqlite://{}", base.join(file).display());
            }
        Ok(config)
    }

    /// Parse and validate config text (paths are taken as they are).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Self =
            toml::from_str(text).map_err(|source| ConfigError::Parse { path: PathBuf::new(), source: Box::new(source) })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for channel in &self.channels {
            let valid_id = !channel.id.is_empty()
                && channel.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_id {
                return Err(ConfigError::Invalid(format!(
                    "channel id `{}` must be non-empty and use only letters, digits, `-` and `_`",
                    channel.id
                )));
            }
            if !seen.insert(channel.id.as_str()) {
                return Err(ConfigError::Invalid(format!("channel id `{}` is used twice", channel.id)));
            }
            if let Some(mail) = &channel.mail {
                for address in &mail.addresses {
                    let valid = address
                        .split_once('@')
                        .is_some_and(|(local, domain)| !local.is_empty() && !local.contains('+') && !domain.is_empty() && !domain.contains('@'));
                    if !valid {
                        return Err(ConfigError::Invalid(format!(
                            "channel `{}`: mail address `{address}` must be local@domain, without a `+` (plus-addresses are accepted by themselves)",
                            channel.id
                        )));
                    }
                }
            }
        }
        for channel in &self.channels {
            if let Some(to) = &channel.delivery.failover_to
                && (to == &channel.id || !self.channels.iter().any(|other| &other.id == to))
            {
                return Err(ConfigError::Invalid(format!(
                    "channel `{}`: [channels.delivery] failover_to = `{to}` must name another configured channel",
                    channel.id
                )));
            }
            if let Some(webchat) = &channel.webchat {
                webchat.validate().map_err(|reason| ConfigError::Invalid(format!("channel `{}`: [channels.webchat] {reason}", channel.id)))?;
            }
            let delivery = &channel.delivery;
            if delivery.rate_per_sec.is_some_and(|rate| !(rate.is_finite() && rate > 0.0 && rate <= 100_000.0))
                || delivery.burst == Some(0)
                || delivery.max_attempts == Some(0)
                || delivery.max_age_secs == Some(0)
            {
                return Err(ConfigError::Invalid(format!(
                    "channel `{}`: [channels.delivery] rate_per_sec must be in (0, 100000], and burst, max_attempts and max_age_secs > 0",
                    channel.id
                )));
            }
        }
        let mut served = std::collections::HashMap::new();
        for channel in &self.channels {
            for address in channel.mail.iter().flat_map(|mail| &mail.addresses) {
                if let Some(other) = served.insert(address.to_ascii_lowercase(), channel.id.as_str()) {
                    return Err(ConfigError::Invalid(format!("mail address `{address}` is served by both `{other}` and `{}`", channel.id)));
                }
            }
        }
        let mut policies = std::collections::HashSet::new();
        for policy in &self.routing.policies {
            if policy.name.trim().is_empty() || policy.name.len() > 64 || policy.plugin.trim().is_empty() {
                return Err(ConfigError::Invalid("routing policies need a `name` (at most 64 characters) and a `plugin`".into()));
            }
            if !policies.insert(policy.name.as_str()) {
                return Err(ConfigError::Invalid(format!("routing policy name `{}` is used twice", policy.name)));
            }
        }
        if self.routing.call_timeout_ms == 0 || self.routing.poll_interval_ms == 0 || self.routing.queue_interval_ms == 0 {
            return Err(ConfigError::Invalid("routing intervals and call_timeout_ms must be > 0".into()));
        }
        if self.smtp.tls_cert.is_some() != self.smtp.tls_key.is_some() {
            return Err(ConfigError::Invalid("smtp.tls_cert and smtp.tls_key must be set together".into()));
        }
        if self.smtp.max_message_bytes == 0 || self.smtp.max_connections == 0 || self.smtp.max_connections_per_ip == 0 || self.smtp.max_recipients == 0 {
            return Err(ConfigError::Invalid("smtp limits must be > 0".into()));
        }
        if self.workflow.snooze_check_ms == 0 {
            return Err(ConfigError::Invalid("workflow.snooze_check_ms must be > 0".into()));
        }
        if self.workflow.presence_check_ms == 0 || !(1_000..=600_000).contains(&self.workflow.presence_ttl_ms) {
            return Err(ConfigError::Invalid("workflow.presence_check_ms must be > 0 and presence_ttl_ms between 1000 and 600000".into()));
        }
        if self.auth.session_ttl_hours == 0 {
            return Err(ConfigError::Invalid("auth.session_ttl_hours must be > 0".into()));
        }
        if self.database.maintenance_interval_secs == 0 {
            return Err(ConfigError::Invalid("database.maintenance_interval_secs must be > 0".into()));
        }
        let server = &self.server;
        if server.header_read_timeout_ms == 0 || server.body_read_timeout_ms == 0 {
            return Err(ConfigError::Invalid("server.header_read_timeout_ms and server.body_read_timeout_ms must be > 0".into()));
        }
        if server.live_stream_max_secs == 0 {
            return Err(ConfigError::Invalid("server.live_stream_max_secs must be > 0".into()));
        }
        if server.max_connections == 0 || server.max_connections_per_ip == 0 {
            return Err(ConfigError::Invalid("server.max_connections and server.max_connections_per_ip must be > 0".into()));
        }
        if server.max_header_bytes < 1024 {
            return Err(ConfigError::Invalid("server.max_header_bytes must be at least 1024".into()));
        }
        if let Some(channel) = self.channels.iter().find(|c| c.max_body_bytes.is_some_and(|cap| cap == 0 || cap > server.max_body_bytes)) {
            return Err(ConfigError::Invalid(format!(
                "channel `{}`: max_body_bytes must be between 1 and server.max_body_bytes ({})",
                channel.id, server.max_body_bytes
            )));
        }
        let gate = self.plugins.webhook_call_slots();
        if gate + self.outbox.concurrency > self.plugins.max_concurrent_instances as usize {
            return Err(ConfigError::Invalid(format!(
                "plugins.max_concurrent_instances ({}) must cover the webhook calls ({gate}) and outbox.concurrency ({}) at once",
                self.plugins.max_concurrent_instances, self.outbox.concurrency
            )));
        }
        if self.plugins.memory_limit_mb == 0 || self.plugins.call_timeout_ms == 0 {
            return Err(ConfigError::Invalid("plugins.memory_limit_mb and plugins.call_timeout_ms must be > 0".into()));
        }
        Ok(())
    }
}

impl ChannelConfig {
    /// This instance's delivery settings with every default filled in.
    pub fn delivery_settings(&self, outbox: &OutboxConfig) -> Delivery {
        let tagged = self.config.get("messaging_tag").and_then(|tag| tag.as_str()).is_some_and(|tag| tag.eq_ignore_ascii_case("HUMAN_AGENT"));
        self.delivery.resolve(&self.plugin, tagged, outbox)
    }

    /// Config values as strings, the form plugins read them in.
    pub fn config_strings(&self) -> BTreeMap<String, String> {
        self.config
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (key.clone(), text)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_config_env_or_a_file_and_say_where_without_the_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "from-a-file\n").unwrap();
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let text = r#"
[[channels]]
id = "c"
plugin = "p"
secrets = { literal = "in-config", env = { env = "SWITCHBOARD_TEST_UNSET_VARIABLE" }, file = { file = "token" }, empty = { file = "empty" }, gone = { file = "missing" } }
"#;
        std::fs::write(dir.path().join("config.toml"), text).unwrap();
        let config = Config::load(&dir.path().join("config.toml")).unwrap();
        let secrets = &config.channels[0].secrets;
        assert_eq!(secrets["literal"].resolve().unwrap().expose(), "in-config");
        assert_eq!(secrets["literal"].origin(), (SecretKind::Config, None));
        assert!(secrets["env"].resolve().is_none());
        assert_eq!(secrets["env"].origin(), (SecretKind::Env, Some("SWITCHBOARD_TEST_UNSET_VARIABLE".into())));
        assert_eq!(secrets["file"].resolve().unwrap().expose(), "from-a-file", "relative to the config's folder, newline dropped");
        assert_eq!(secrets["file"].origin().0, SecretKind::File);
        assert!(secrets["empty"].resolve().is_none(), "an empty file is not a secret");
        assert!(secrets["gone"].resolve().is_none());
        assert!(!format!("{:?}", secrets["literal"]).contains("in-config"));
    }

    #[test]
    fn delivery_defaults_follow_the_provider_and_config_wins() {
        let outbox = OutboxConfig::default();
        let whatsapp = DeliveryConfig::default().resolve("whatsapp", false, &outbox);
        assert_eq!((whatsapp.rate_per_sec, whatsapp.burst, whatsapp.recipient_interval_ms, whatsapp.recipient_burst), (80.0, 80, 6_000, 45));
        assert_eq!(whatsapp.max_attempts, outbox.max_attempts);
        assert_eq!(DeliveryConfig::default().resolve("twilio-sms", false, &outbox).rate_per_sec, 1.0);
        assert_eq!(DeliveryConfig::default().resolve("telegram", false, &outbox).rate_per_sec, 30.0);
        let someone_elses = DeliveryConfig::default().resolve("acme-pager", false, &outbox);
        assert_eq!((someone_elses.rate_per_sec, someone_elses.window_hours), (20.0, 0));
        assert_eq!(whatsapp.window_hours, 24);
        assert_eq!(DeliveryConfig::default().resolve("messenger", false, &outbox).window_hours, 24);
        assert_eq!(DeliveryConfig::default().resolve("messenger", true, &outbox).window_hours, 168, "HUMAN_AGENT: seven days");
        let set = DeliveryConfig { max_attempts: Some(3), max_age_secs: Some(60), rate_per_sec: Some(2.5), burst: None, recipient_interval_ms: Some(0), recipient_burst: None, window_hours: Some(0), ..DeliveryConfig::default() };
        let set = set.resolve("whatsapp", false, &outbox);
        assert_eq!(set.window_hours, 0, "an instance may turn its window off");
        assert_eq!((set.max_attempts, set.max_age_ms, set.rate_per_sec, set.burst, set.recipient_interval_ms), (3, 60_000, 2.5, 3, 0));
        let channel = |delivery: &str| {
            format!("[[channels]]\nid = \"wa\"\nplugin = \"whatsapp\"\n[channels.delivery]\n{delivery}\n")
        };
        assert!(Config::parse(&channel("rate_per_sec = 5.0\nmax_attempts = 4")).is_ok());
        for bad in ["rate_per_sec = 0.0", "rate_per_sec = -1.0", "burst = 0", "max_attempts = 0", "max_age_secs = 0", "per_minute = 3"] {
            assert!(Config::parse(&channel(bad)).is_err(), "{bad}");
        }
        // Failover names another configured channel, and defaults to every trigger.
        let sms = "[[channels]]\nid = \"sms\"\nplugin = \"twilio-sms\"\n";
        let config = Config::parse(&format!("{}{sms}", channel("failover_to = \"sms\""))).unwrap();
        let failover = config.channels[0].delivery_settings(&outbox).failover.unwrap();
        assert_eq!((failover.to.as_str(), failover.on.len()), ("sms", 3));
        let config = Config::parse(&format!("{}{sms}", channel("failover_to = \"sms\"\nfailover_on = [\"window_closed\"]"))).unwrap();
        assert_eq!(config.channels[0].delivery_settings(&outbox).failover.unwrap().on, [FailoverTrigger::WindowClosed]);
        for bad in ["failover_to = \"nowhere\"", "failover_to = \"wa\"", "failover_to = \"sms\"\nfailover_on = [\"sometimes\"]"] {
            assert!(Config::parse(&format!("{}{sms}", channel(bad))).is_err(), "{bad}");
        }
        assert!(channel_settings_have_no_failover(&outbox));
    }

    fn channel_settings_have_no_failover(outbox: &OutboxConfig) -> bool {
        DeliveryConfig::default().resolve("whatsapp", false, outbox).failover.is_none()
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(redact_url_password("postgres://sb:hunter2@db:5432/sb"), "postgres://sb:***@db:5432/sb");
        assert_eq!(redact_url_password("postgres://sb@db/sb"), "postgres://sb@db/sb");
        assert_eq!(redact_url_password("sqlite://data/switchboard.db"), "sqlite://data/switchboard.db");
    }

    /// The shipped `config.toml` parses, and says what the defaults say where it names a
    /// setting, so the file documents the real behaviour.
    #[test]
    fn the_shipped_routing_chain_parses_when_uncommented() {
        let shipped = include_str!("../../config.toml");
        let start = shipped.find("# [routing]").expect("config.toml shows the routing chain");
        let block: String = shipped[start..]
            .lines()
            .take_while(|line| line.starts_with('#'))
            .map(|line| line.trim_start_matches('#').trim_start())
            .map(|line| line.split("  #").next().unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\n");
        let config = Config::parse(&block).expect("the commented routing chain is valid config");
        let names: Vec<&str> = config.routing.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["business-hours", "urgency", "capacity", "preference", "cost"]);
        let hours = config.routing.policies[0].config_strings();
        assert_eq!(hours["name"], "business-hours");
        assert!(hours["schedule"].starts_with('{'), "tables reach the policy as JSON: {}", hours["schedule"]);
    }

    #[test]
    fn the_shipped_config_parses_and_matches_the_defaults() {
        let shipped = Config::parse(include_str!("../../config.toml")).expect("config.toml parses");
        let defaults = WorkflowConfig::default();
        assert_eq!(shipped.workflow.presence_ttl_ms, defaults.presence_ttl_ms);
        assert_eq!(shipped.workflow.presence_check_ms, defaults.presence_check_ms);
        assert_eq!(shipped.workflow.snooze_check_ms, defaults.snooze_check_ms);
        assert_eq!(shipped.auth.session_ttl_hours, AuthConfig::default().session_ttl_hours);
        let bad = "[workflow]\npresence_ttl_ms = 10";
        assert!(matches!(Config::parse(bad), Err(ConfigError::Invalid(_))));
        let smtp = SmtpConfig::default();
        assert_eq!(shipped.smtp.max_message_bytes, smtp.max_message_bytes);
        assert_eq!((shipped.smtp.max_connections, shipped.smtp.max_connections_per_ip), (smtp.max_connections, smtp.max_connections_per_ip));
        assert_eq!(shipped.smtp.command_timeout_ms, smtp.command_timeout_ms);
        assert_eq!(shipped.media.max_file_bytes, MediaConfig::default().max_file_bytes);
        let email = shipped.channels.iter().find(|c| c.id == "email").expect("config.toml has an email channel");
        assert_eq!(email.mail.as_ref().unwrap().addresses, ["support@example.com"]);
        let webchat = shipped.channels.iter().find(|c| c.id == "webchat").and_then(|c| c.webchat.clone()).expect("config.toml has a web chat channel");
        let defaults = WebchatConfig::default();
        assert_eq!(
            (webchat.max_message_chars, webchat.max_upload_bytes, &webchat.upload_types, webchat.messages_per_minute, webchat.requests_per_minute_per_ip, webchat.session_days),
            (defaults.max_message_chars, defaults.max_upload_bytes, &defaults.upload_types, defaults.messages_per_minute, defaults.requests_per_minute_per_ip, defaults.session_days)
        );
    }

    #[test]
    fn web_chat_origins_and_limits_are_checked() {
        let channel = |table: &str| format!("[[channels]]\nid = 'chat'\nplugin = 'webchat'\n[channels.webchat]\n{table}\n");
        assert!(Config::parse(&channel("allowed_origins = ['https://shop.example', 'http://127.0.0.1:8080']")).is_ok());
        for bad in ["'shop.example'", "'https://shop.example/'", "'https://*.example'", "'ftp://shop.example'", "'https://shop.example/path'"] {
            let text = channel(&format!("allowed_origins = [{bad}]"));
            assert!(matches!(Config::parse(&text), Err(ConfigError::Invalid(message)) if message.contains("scheme://host")), "{bad}");
        }
        assert!(matches!(Config::parse(&channel("messages_per_minute = 0")), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn mail_addresses_are_checked() {
        let channel = |id: &str, addresses: &str| format!("[[channels]]\nid = '{id}'\nplugin = 'email'\n[channels.mail]\naddresses = [{addresses}]\n");
        assert!(Config::parse(&channel("a", "'support@example.com'")).is_ok());
        assert!(Config::parse("[[channels]]\nid = 'mg'\nplugin = 'email'\n[channels.mail]\nrelay = 'smtp://127.0.0.1:25'\n").is_ok(), "Mailgun only: no addresses");
        for bad in ["'support+x@example.com'", "'nodomain'", "'@example.com'", "'a@b@c'"] {
            assert!(matches!(Config::parse(&channel("a", bad)), Err(ConfigError::Invalid(_))), "{bad}");
        }
        let twice = format!("{}{}", channel("a", "'support@example.com'"), channel("b", "'SUPPORT@example.com'"));
        assert!(matches!(Config::parse(&twice), Err(ConfigError::Invalid(message)) if message.contains("served by both")));
        assert!(matches!(Config::parse("[smtp]\ntls_cert = 'c.pem'\n"), Err(ConfigError::Invalid(_))), "a certificate needs its key");
    }

    const SAMPLE: &str = r#"
        [server]
        listen = "127.0.0.1:0"
        public_url = "https://switchboard.example.com"

        [[channels]]
        id = "wa-main"
        plugin = "whatsapp"
        allowed_hosts = ["graph.facebook.com"]
        config = { phone_number_id = "1065", retries = 3 }
        secrets = { app_secret = "literal-secret", access_token = { env = "SB_TEST_UNSET_TOKEN_VAR" } }
    "#;

    #[test]
    fn parses_channels_and_secret_sources() {
        let config = Config::parse(SAMPLE).unwrap();
        let channel = &config.channels[0];
        assert_eq!(channel.id, "wa-main");
        assert_eq!(channel.config_strings()["retries"], "3");
        assert_eq!(channel.secrets["app_secret"].resolve().unwrap().expose(), "literal-secret");
        assert!(channel.secrets["access_token"].resolve().is_none());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = Config::parse(SAMPLE).unwrap();
        let shown = format!("{config:?} {:?}", config.channels[0].secrets["app_secret"].resolve());
        assert!(!shown.contains("literal-secret"), "{shown}");
    }

    #[test]
    fn rejects_duplicate_and_bad_channel_ids() {
        let twice = "[[channels]]\nid='a'\nplugin='p'\n[[channels]]\nid='a'\nplugin='p'\n";
        assert!(matches!(Config::parse(twice), Err(ConfigError::Invalid(_))));
        let bad = "[[channels]]\nid='a/b'\nplugin='p'\n";
        assert!(matches!(Config::parse(bad), Err(ConfigError::Invalid(_))));
        assert!(matches!(Config::parse("[server]\nnope = 1\n"), Err(ConfigError::Parse { .. })));
    }
}
