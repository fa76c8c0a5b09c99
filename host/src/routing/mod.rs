//! The routing stage: after a customer's message is committed, the policy chain from
//! `[[routing.policies]]` decides where its conversation goes, and the decision is applied
//! and recorded once.
//!
//! It runs beside ingest, never inside its transaction: ingest only bumps the conversation's
//! `inbound_seq` and signals [`Store::routing_wanted`]; this stage picks the conversation up,
//! builds the context from the store, runs the chain, and applies the result in a
//! transaction of its own ([`Store::apply_routing`]). A slow or broken policy therefore
//! delays routing, never a webhook's 2xx.
//!
//! It also offers conversations waiting in a team queue to agents who have room again, when
//! an agent's load or availability changes ([`RoutingSignal::capacity_changed`]) and every
//! `routing.queue_interval_ms`.
//!
//! With no policies configured the stage only marks conversations routed, once a minute.
//!
//! With several nodes on PostgreSQL only the leader routes, like the outbox worker; the
//! `routed_seq` guard keeps a decision single even while leadership changes hands.

pub mod chain;
pub mod learn;
pub mod types;

use crate::config::RoutingConfig;
use crate::outbox::OutboxSignal;
use crate::plugins::router::PolicyPlugin;
use crate::plugins::Channels;
use crate::store::routing::{Outcome, Pending, Staff};
use crate::store::Store;
use crate::telemetry;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use types::{Context, Trigger};

/// Conversations routed per round before the stage looks at its queue and the clock again.
const BATCH: i64 = 50;

/// Wakes the stage when agents' capacity may have changed (an assignment, a resolved
/// conversation, an agent's availability or maximum).
#[derive(Clone, Default)]
pub struct RoutingSignal(Arc<Notify>);

impl RoutingSignal {
    pub fn capacity_changed(&self) {
        self.0.notify_one();
    }
}

/// The configured chain, loaded.
pub struct Policies(pub Vec<Arc<PolicyPlugin>>);

impl Policies {
    pub async fn load(channels: &Channels, settings: &RoutingConfig) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(settings.call_timeout_ms);
        let mut loaded = Vec::new();
        for policy in &settings.policies {
            loaded.push(Arc::new(PolicyPlugin::load(&channels.runtime, policy, timeout).await?));
        }
        Ok(Self(loaded))
    }
}

/// Start the stage on a thread of its own, at a lower scheduling priority than the threads
/// that answer webhooks and commit them: on a busy core the kernel runs ingest first and
/// routing takes what is left, so a burst of routing work cannot delay a webhook's 2xx.
/// (Tokio has no task priorities; an OS thread with a higher nice value is the tool for it.)
/// Routing lags further behind under load instead, and catches up when load drops (one run
/// then covers every message that arrived meanwhile).
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    store: Store,
    channels: Arc<Channels>,
    policies: Arc<Policies>,
    settings: RoutingConfig,
    signal: RoutingSignal,
    outbox: OutboxSignal,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Decisions are written on the gateway's own runtime, at normal priority: a transaction
    // holds SQLite's one writer, and a deprioritised thread holding it would make ingest wait
    // for routing (priority inversion).
    let writer = tokio::runtime::Handle::current();
    std::thread::Builder::new().name("routing".into()).spawn(move || {
        lower_priority();
        runtime.block_on(run(store, channels, policies, settings, signal, outbox, shutdown, writer));
    })?;
    Ok(())
}

/// Nice 19 for the calling thread (Linux applies nice values per thread): about 1.5% of a
/// contended core against a normal thread, all of an idle one.
fn lower_priority() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
    unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, thread, 19) != 0 {
            tracing::warn!("routing: cannot lower the routing thread's priority; it competes with ingest as an equal");
        }
    }
}

/// The stage's loop, until shutdown.
#[allow(clippy::too_many_arguments)]
async fn run(
    store: Store,
    channels: Arc<Channels>,
    policies: Arc<Policies>,
    settings: RoutingConfig,
    signal: RoutingSignal,
    outbox: OutboxSignal,
    mut shutdown: watch::Receiver<bool>,
    writer: tokio::runtime::Handle,
) {
    if policies.0.is_empty() {
        return mark_routed(store, shutdown).await;
    }
    let stage = Stage { store, channels, policies, outbox, writer };
    let wanted = stage.store.routing_wanted();
    let poll = Duration::from_millis(settings.poll_interval_ms);
    let queue_every = Duration::from_millis(settings.queue_interval_ms);
    let mut leadership = stage.store.leadership();
    let mut queue_due = Instant::now();
    loop {
        tokio::select! {
            () = leadership.wait_until_leader() => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        let full = stage.route_new().await;
        if Instant::now() >= queue_due {
            stage.offer_queue().await;
            queue_due = Instant::now() + queue_every;
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = tokio::time::timeout(poll, wanted.notified()) => {}
            () = signal.0.notified() => queue_due = Instant::now(),
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
    }
}

/// With no policies configured: mark conversations routed now and then, so that a chain
/// configured later starts from recent messages rather than answering months of old ones.
/// Not on every commit: that would be a write competing with ingest for nothing.
async fn mark_routed(store: Store, mut shutdown: watch::Receiver<bool>) {
    const EVERY: Duration = Duration::from_secs(60);
    let mut leadership = store.leadership();
    loop {
        tokio::select! {
            () = leadership.wait_until_leader() => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        if let Err(error) = store.skip_routing().await {
            tracing::warn!(%error, "routing: cannot mark conversations routed");
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
    }
}

struct Stage {
    store: Store,
    channels: Arc<Channels>,
    policies: Arc<Policies>,
    outbox: OutboxSignal,
    /// The gateway's runtime, where decisions are written (see [`spawn`]).
    writer: tokio::runtime::Handle,
}

impl Stage {
    /// Route conversations with new customer messages; true when there may be more.
    async fn route_new(&self) -> bool {
        let pending = match self.store.conversations_to_route(BATCH).await {
            Ok(pending) => pending,
            Err(error) => {
                tracing::warn!(%error, "routing: cannot read conversations to route");
                return false;
            }
        };
        if pending.is_empty() {
            return false;
        }
        let Some(mut staff) = self.staff().await else { return false };
        for conversation in &pending {
            self.route(*conversation, &mut staff).await;
        }
        pending.len() as i64 == BATCH
    }

    async fn route(&self, pending: Pending, staff: &mut Staff) {
        let id = pending.conversation_id;
        let new_messages = pending.inbound_seq - pending.routed_seq;
        let Some(context) = self.context(id, Trigger::Message, new_messages, staff).await else { return };
        let outcome = chain::run(&self.policies.0, &context).await;
        match self.apply(id, Trigger::Message, pending.inbound_seq, &outcome).await {
            Ok(applied) => {
                if applied {
                    self.applied(Trigger::Message, &outcome, &context, staff);
                }
            }
            Err(error) => tracing::warn!(%error, conversation = id, "routing: cannot apply the decision"),
        }
    }

    /// [`Store::apply_routing`], run on the gateway's runtime.
    async fn apply(&self, id: i64, trigger: Trigger, seq: i64, outcome: &Outcome) -> Result<bool, crate::store::StoreError> {
        let (store, outcome) = (self.store.clone(), outcome.clone());
        match self.writer.spawn(async move { store.apply_routing(id, trigger, seq, &outcome).await }).await {
            Ok(result) => result,
            Err(error) => Err(crate::store::StoreError::Unavailable(format!("the routing write did not finish: {error}"))),
        }
    }

    async fn staff(&self) -> Option<Staff> {
        match self.store.routing_staff().await {
            Ok(staff) => Some(staff),
            Err(error) => {
                tracing::warn!(%error, "routing: cannot read the agents and teams");
                None
            }
        }
    }

    /// Offer queued conversations to agents with room, most urgent first; a team whose
    /// offer assigns nobody is not offered again this round.
    async fn offer_queue(&self) {
        let queued = match self.store.queued_conversations(BATCH).await {
            Ok(queued) => queued,
            Err(error) => {
                tracing::warn!(%error, "routing: cannot read the team queues");
                return;
            }
        };
        if queued.is_empty() {
            return;
        }
        let Some(mut staff) = self.staff().await else { return };
        let mut full_teams = HashSet::new();
        for (id, team) in queued {
            if full_teams.contains(&team) {
                continue;
            }
            let Some(context) = self.context(id, Trigger::Capacity, 0, &staff).await else { continue };
            let room = context.agents.iter().any(|agent| agent.teams.contains(&team) && agent.has_room());
            if !room {
                full_teams.insert(team);
                continue;
            }
            let outcome = chain::run(&self.policies.0, &context).await;
            if outcome.decision.agent.is_none() {
                full_teams.insert(team);
                continue;
            }
            match self.apply(id, Trigger::Capacity, 0, &outcome).await {
                Ok(true) => self.applied(Trigger::Capacity, &outcome, &context, &mut staff),
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, conversation = id, "routing: cannot apply the queue decision"),
            }
        }
    }

    /// The context from the store, with what only the loaded channels know filled in.
    async fn context(&self, id: i64, trigger: Trigger, new_messages: i64, staff: &Staff) -> Option<Context> {
        let mut context = match self.store.routing_context(id, trigger, new_messages, staff).await {
            Ok(Some(context)) => context,
            Ok(None) => return None,
            Err(error) => {
                tracing::warn!(%error, conversation = id, "routing: cannot read the context");
                return None;
            }
        };
        for reachable in &mut context.contact.channels {
            if let Some(channel) = self.channels.get(&reachable.channel_id) {
                let info = channel.info();
                reachable.plugin = channel.context.plugin_name.clone();
                reachable.templates = info.capabilities.contains(&crate::model::Capability::Templates);
            }
        }
        // A channel that is no longer configured cannot carry a reply.
        context.contact.channels.retain(|reachable| !reachable.plugin.is_empty());
        Some(context)
    }

    fn applied(&self, trigger: Trigger, outcome: &Outcome, context: &Context, staff: &mut Staff) {
        metrics::counter!(telemetry::ROUTING_RUNS, "trigger" => trigger.as_str()).increment(1);
        if let Some(agent) = outcome.decision.agent.filter(|agent| context.conversation.assignee != Some(*agent)) {
            staff.assigned(agent, context.now_ms);
        }
        if let Some(newest) = context.messages.last() {
            let lag = (crate::clock::now_ms() - newest.received_at_ms).max(0);
            metrics::histogram!(telemetry::ROUTING_LAG).record(lag as f64 / 1000.0);
        }
        if outcome.decision.auto_reply.is_some() {
            self.outbox.wake();
        }
    }
}
