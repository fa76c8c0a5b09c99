//! The routing stage: after a customer's message is committed, the policy chain from
//! `[[routing.policies]]` decides where its conversation goes, and the decision is applied
//! and recorded once.
//!
//! It runs beside ingest, never inside its transaction: ingest only bumps the conversation's
//! `inbound_seq` and signals [`Store::routing_wanted`]; this stage picks the conversation up,
//! builds the context from the store, runs the chain, and applies a round's results in a
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
use crate::store::routing::{Apply, Staff};
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
        let mut round = Round::default();
        for conversation in &pending {
            let new_messages = conversation.inbound_seq - conversation.routed_seq;
            let id = conversation.conversation_id;
            let Some(context) = self.context(id, Trigger::Message, new_messages, &staff).await else { continue };
            let outcome = chain::run(&self.policies.0, &context).await;
            round.push(Apply { conversation_id: id, trigger: Trigger::Message, seq: conversation.inbound_seq, outcome }, &context, &mut staff);
        }
        self.write(round).await;
        pending.len() as i64 == BATCH
    }

    /// Apply a round's runs in one transaction, on the gateway's runtime (see [`spawn`]). If
    /// the round fails as a whole, each run is tried alone, so that one bad decision costs
    /// only itself.
    async fn write(&self, round: Round) {
        if round.runs.is_empty() {
            return;
        }
        let applied = match self.apply(round.runs.clone()).await {
            Ok(applied) => applied,
            Err(error) => {
                tracing::warn!(%error, runs = round.runs.len(), "routing: cannot apply the round's decisions together; trying each alone");
                let mut applied = Vec::with_capacity(round.runs.len());
                for run in &round.runs {
                    let id = run.conversation_id;
                    applied.push(match self.apply(vec![run.clone()]).await {
                        Ok(one) => one.first().copied().unwrap_or(false),
                        Err(error) => {
                            tracing::warn!(%error, conversation = id, "routing: cannot apply the decision");
                            false
                        }
                    });
                }
                applied
            }
        };
        for ((run, lag_from), applied) in round.runs.iter().zip(&round.newest_ms).zip(applied) {
            if applied {
                self.applied(run, *lag_from);
            }
        }
    }

    /// [`Store::apply_routing`], run on the gateway's runtime.
    async fn apply(&self, runs: Vec<Apply>) -> Result<Vec<bool>, crate::store::StoreError> {
        let store = self.store.clone();
        match self.writer.spawn(async move { store.apply_routing(&runs).await }).await {
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
        let mut round = Round::default();
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
            round.push(Apply { conversation_id: id, trigger: Trigger::Capacity, seq: 0, outcome }, &context, &mut staff);
        }
        self.write(round).await;
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

    /// Count an applied run, and wake the outbox for its auto-reply.
    fn applied(&self, run: &Apply, newest_ms: Option<i64>) {
        metrics::counter!(telemetry::ROUTING_RUNS, "trigger" => run.trigger.as_str()).increment(1);
        if let Some(newest) = newest_ms {
            let lag = (crate::clock::now_ms() - newest).max(0);
            metrics::histogram!(telemetry::ROUTING_LAG).record(lag as f64 / 1000.0);
        }
        if run.outcome.decision.auto_reply.is_some() {
            self.outbox.wake();
        }
    }
}

/// The runs of one round, written together by [`Stage::write`].
#[derive(Default)]
struct Round {
    runs: Vec<Apply>,
    /// When each run's newest message arrived, for the lag metric.
    newest_ms: Vec<Option<i64>>,
}

impl Round {
    /// Add a run. Its assignment counts in `staff` at once, so the next conversation of the
    /// round sees this agent's new load; were the run not applied after all (another router
    /// got there first), the load is a round's estimate off, and the next round rereads it.
    fn push(&mut self, run: Apply, context: &Context, staff: &mut Staff) {
        if let Some(agent) = run.outcome.decision.agent.filter(|agent| context.conversation.assignee != Some(*agent)) {
            staff.assigned(agent, context.now_ms);
        }
        self.newest_ms.push(context.messages.last().map(|message| message.received_at_ms));
        self.runs.push(run);
    }
}
