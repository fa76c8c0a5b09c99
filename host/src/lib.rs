//! # Switchboard
//!
//! A self-hosted omnichannel messaging gateway. One message's way through the host, and the
//! module that handles each step:
//!
//! 1. [`http`] receives the provider's webhook (size cap, channel lookup), [`smtp`] a mail
//!    (recipients, size cap), or [`webchat`] a website visitor's message over its socket
//!    (session, origin, rate limits), and hands it to the one [`inbound`] pipeline;
//! 2. [`plugins`] runs the channel's sandboxed plugin to verify and parse it (attachments' bytes
//!    go to the [`media`] store);
//! 3. [`identity`] normalises who sent it, so channels link to one contact;
//! 4. [`store`] commits the message, contact, conversation and live event in one transaction,
//!    and only then does [`http`] answer 2xx;
//! 5. [`realtime`] pushes it to agents' live streams (and [`webchat`] to the visitor's
//!    widget); replies leave through [`outbox`].

pub mod auth;
pub mod clock;
pub mod config;
pub mod connection_limits;
pub mod http;
pub mod identity;
pub mod media;
pub mod inbound;
pub mod memory;
pub mod model;
pub mod outbox;
pub mod plugins;
pub mod rate;
pub mod realtime;
pub mod routing;
pub mod smtp;
pub mod store;
pub mod telemetry;
pub mod webchat;

use anyhow::Context;
use config::{Config, Secret};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running gateway.
pub struct Gateway {
    /// The address actually bound (useful with port 0).
    pub local_addr: SocketAddr,
    /// Where `/metrics` is served when `metrics.listen` gives it an address of its own.
    pub metrics_addr: Option<SocketAddr>,
    /// Where the SMTP listener is bound, when `smtp.listen` is set.
    pub smtp_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    outbox_worker: JoinHandle<()>,
}

impl Gateway {
    /// Stop accepting connections, end live streams, and wait for in-flight requests and
    /// the sends the outbox has started.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let served = self.server.await.context("server task panicked")?.context("server failed");
        self.outbox_worker.await.context("outbox worker panicked")?;
        served
    }
}

/// Open the store, load every channel's plugin, start the background workers and listen.
pub async fn start(config: Config, admin_token: Option<Secret>) -> anyhow::Result<Gateway> {
    start_with_clock(config, admin_token, Arc::new(clock::SystemClock)).await
}

/// [`start`], with the clock the background work (waking snoozed conversations) reads.
pub async fn start_with_clock(config: Config, admin_token: Option<Secret>, clock: Arc<dyn clock::Clock>) -> anyhow::Result<Gateway> {
    telemetry::handle();
    let store = store::Store::open(&config.database)
        .await
        .with_context(|| format!("opening database {}", config::redact_url_password(&config.database.url)))?;
    let channels = Arc::new(plugins::Channels::load(&config.plugins, &config.channels).await?);
    let policies = Arc::new(routing::Policies::load(&channels, &config.routing).await?);
    for (id, channel) in channels.iter() {
        store
            .upsert_channel(id, &channel.context.plugin_name, &channel.info())
            .await
            .with_context(|| format!("recording channel {id}"))?;
    }
    // Background tasks stop when the gateway shuts down (or is dropped), so they release the
    // database instead of polling it for the rest of the process.
    let (shutdown, shutdown_signal) = watch::channel(false);
    let live = realtime::LiveFeed::start(store.clone(), shutdown.subscribe()).await.context("starting the live feed")?;
    let outbox_signal = outbox::OutboxSignal::default();
    let outbox_settings = config.outbox.clone();
    let lanes = Arc::new(outbox::pacing::Lanes::from_config(&config.channels, &config.outbox));
    let outbox_worker = tokio::spawn(outbox::run(store.clone(), channels.clone(), lanes.clone(), outbox_settings, outbox_signal.clone(), shutdown.subscribe()));
    let routing_signal = routing::RoutingSignal::default();
    routing::spawn(
        store.clone(),
        channels.clone(),
        policies.clone(),
        config.routing.clone(),
        routing_signal.clone(),
        outbox_signal.clone(),
        shutdown.subscribe(),
    )
    .context("starting the routing stage")?;
    spawn_until_shutdown(shutdown.subscribe(), maintenance(store.clone(), config.database.clone()));
    spawn_until_shutdown(shutdown.subscribe(), sample_gauges(store.clone(), channels.clone()));
    spawn_until_shutdown(shutdown.subscribe(), memory::trim_task());
    spawn_until_shutdown(shutdown.subscribe(), index_for_search(store.clone()));
    spawn_until_shutdown(shutdown.subscribe(), wake_snoozed(store.clone(), clock.clone(), Duration::from_millis(config.workflow.snooze_check_ms)));
    spawn_until_shutdown(shutdown.subscribe(), expire_presence(store.clone(), clock.clone(), Duration::from_millis(config.workflow.presence_check_ms)));
    if admin_token.is_none() {
        tracing::warn!("SWITCHBOARD_ADMIN_TOKEN is not set: the API will refuse every request");
    }
    let metrics_access = http::MetricsAccess {
        token: match &config.metrics.token {
            None => None,
            Some(source) => Some(Arc::new(source.resolve().context("metrics.token names an environment variable that is not set")?)),
        },
    };
    let media = media::MediaStore::new(&config.media);
    let smtp_addr = match smtp::SmtpServer::bind(&config.smtp, store.clone(), media.clone(), channels.clone()).await? {
        Some(server) => {
            let bound = server.local_addr()?;
            tokio::spawn(server.serve(shutdown.subscribe()));
            tracing::info!(%bound, "smtp listening");
            Some(bound)
        }
        None => None,
    };
    let webchat = Arc::new(webchat::Webchat::new(&config.channels, &channels));
    let state = http::AppState {
        webchat,
        store,
        media,
        channels,
        live,
        outbox: outbox_signal,
        lanes,
        routing: routing_signal,
        policies,
        server: Arc::new(config.server.clone()),
        admin_token: admin_token.map(Arc::new),
        shutdown: shutdown.subscribe(),
        metrics: metrics_access.clone(),
        metrics_here: config.metrics.listen.is_none(),
        auth: Arc::new(config.auth.clone()),
        login_limiter: Arc::default(),
        workflow: Arc::new(config.workflow.clone()),
        clock,
    };
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let local_addr = listener.local_addr()?;
    let app = http::router(state);
    let server_settings = config.server.clone();
    let metrics_addr = match config.metrics.listen {
        Some(address) => {
            let metrics_listener =
                tokio::net::TcpListener::bind(address).await.with_context(|| format!("listening on {address} (metrics.listen)"))?;
            let bound = metrics_listener.local_addr()?;
            let (settings, signal) = (server_settings.clone(), shutdown_signal.clone());
            tokio::spawn(async move { http::serve(metrics_listener, http::metrics_router(metrics_access), &settings, signal).await });
            Some(bound)
        }
        None => None,
    };
    let server = tokio::spawn(async move {
        http::serve(listener, app, &server_settings, shutdown_signal).await;
        Ok(())
    });
    tracing::info!(%local_addr, "switchboard listening");
    Ok(Gateway { local_addr, metrics_addr, smtp_addr, shutdown, server, outbox_worker })
}

/// Run `task` until the gateway shuts down (or the gateway is dropped).
pub(crate) fn spawn_until_shutdown(mut shutdown: watch::Receiver<bool>, task: impl std::future::Future<Output = ()> + Send + 'static) {
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.wait_for(|stopping| *stopping) => {}
            () = task => {}
        }
    });
}

/// Sample gauges that have no natural event to update them: outbox depth, pool usage.
async fn sample_gauges(store: store::Store, channels: Arc<plugins::Channels>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Ok(depths) = store.outbox_depth().await {
            for (id, _) in channels.iter() {
                let depth = depths.iter().find(|(channel, _)| channel == id).map_or(0, |(_, n)| *n);
                metrics::gauge!(telemetry::OUTBOX_DEPTH, "channel" => id.clone()).set(depth as f64);
            }
        }
        for (pool, open, idle) in store.pool_usage() {
            metrics::gauge!(telemetry::DB_POOL_CONNECTIONS, "pool" => pool, "state" => "open").set(f64::from(open));
            metrics::gauge!(telemetry::DB_POOL_CONNECTIONS, "pool" => pool, "state" => "idle").set(idle as f64);
        }
    }
}

/// Keep SQLite's search tables a moment behind the data (PostgreSQL's indexes need nothing).
async fn index_for_search(store: store::Store) {
    if store.backend() != store::db::Backend::Sqlite {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // A full batch means more is waiting: go on at once.
        loop {
            match store.index_pending().await {
                Ok(indexed) if indexed >= 1000 => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "indexing for search failed");
                    break;
                }
            }
        }
    }
}

/// Run `work` every `every`, on the leader only (one node is enough, and every node would
/// otherwise announce the same changes).
async fn on_leader_every<F, Fut>(store: store::Store, every: Duration, mut work: F)
where
    F: FnMut(store::Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut leadership = store.leadership();
    loop {
        tick.tick().await;
        leadership.wait_until_leader().await;
        work(store.clone()).await;
    }
}

/// Reopen snoozed conversations whose time has come.
async fn wake_snoozed(store: store::Store, clock: Arc<dyn clock::Clock>, every: Duration) {
    let clock = &clock;
    on_leader_every(store, every, |store| {
        async move {
            match store.wake_snoozed(clock.now_ms()).await {
                Ok(woken) if !woken.is_empty() => tracing::info!(count = woken.len(), "woke snoozed conversations"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "waking snoozed conversations failed"),
            }
        }
    })
    .await
}

/// Remove and announce presence whose heartbeat stopped. The sweep claims rows with
/// `DELETE … RETURNING`, so even two sweepers would not announce a lapse twice.
async fn expire_presence(store: store::Store, clock: Arc<dyn clock::Clock>, every: Duration) {
    let clock = &clock;
    on_leader_every(store, every, |store| {
        async move {
            match store.expire_presence(clock.now_ms()).await {
                Ok(lapsed) if !lapsed.is_empty() => tracing::debug!(conversations = lapsed.len(), "presence lapsed"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "expiring presence failed"),
            }
        }
    })
    .await
}

/// Every `maintenance_interval_secs`, on the leader only (every node would delete the same
/// rows): prune live events and raw webhook bodies past their retention, expired one-time
/// webhook tokens, `Idempotency-Key`s older than a day, and delivery statuses that waited an
/// hour for a receipt that never came.
async fn maintenance(store: store::Store, settings: config::DatabaseConfig) {
    let hours = |n: u64| i64::try_from(n).unwrap_or(i64::MAX / 3_600_000).saturating_mul(3_600_000);
    let every = Duration::from_secs(settings.maintenance_interval_secs);
    let settings = &settings;
    on_leader_every(store, every, |store| {
        async move {
            let now = clock::now_ms();
            if let Err(error) = store.prune_live_events(now - hours(settings.live_event_retention_hours)).await {
                tracing::warn!(%error, "pruning live events failed");
            }
            match store.prune_webhook_log(now - hours(settings.webhook_log_retention_hours)).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, retention_hours = settings.webhook_log_retention_hours, "pruned the webhook log"),
                Err(error) => tracing::warn!(%error, "pruning the webhook log failed"),
            }
            if let Err(error) = store.prune_replay_tokens(now).await {
                tracing::warn!(%error, "pruning one-time webhook tokens failed");
            }
            if let Err(error) = store.prune_idempotency_keys(now - store::idempotency::KEY_RETENTION_MS).await {
                tracing::warn!(%error, "pruning idempotency keys failed");
            }
            if let Err(error) = store.prune_early_statuses(now - store::delivery::EARLY_STATUS_RETENTION_MS).await {
                tracing::warn!(%error, "pruning early delivery statuses failed");
            }
        }
    })
    .await
}
