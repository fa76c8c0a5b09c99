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
//! With several nodes on PostgreSQL only the leader routes, like the outbox worker; the
//! `routed_seq` guard keeps a decision single even while leadership changes hands.

pub mod chain;
pub mod learn;
pub mod types;

use crate::config::RoutingConfig;
use crate::outbox::OutboxSignal;
use crate::plugins::router::PolicyPlugin;
use crate::plugins::Channels;
use crate::store::routing::Pending;
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

/// The stage's loop, until shutdown.
pub async fn run(
    store: Store,
    channels: Arc<Channels>,
    policies: Arc<Policies>,
    settings: RoutingConfig,
    signal: RoutingSignal,
    outbox: OutboxSignal,
    mut shutdown: watch::Receiver<bool>,
) {
    let stage = Stage { store, channels, policies, outbox };
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

struct Stage {
    store: Store,
    channels: Arc<Channels>,
    policies: Arc<Policies>,
    outbox: OutboxSignal,
}

impl Stage {
    /// Route conversations with new customer messages; true when there may be more.
    async fn route_new(&self) -> bool {
        if self.policies.0.is_empty() {
            if let Err(error) = self.store.skip_routing().await {
                tracing::warn!(%error, "routing: cannot mark conversations routed");
            }
            return false;
        }
        let pending = match self.store.conversations_to_route(BATCH).await {
            Ok(pending) => pending,
            Err(error) => {
                tracing::warn!(%error, "routing: cannot read conversations to route");
                return false;
            }
        };
        for conversation in &pending {
            self.route(*conversation).await;
        }
        pending.len() as i64 == BATCH
    }

    async fn route(&self, pending: Pending) {
        let id = pending.conversation_id;
        let new_messages = pending.inbound_seq - pending.routed_seq;
        let Some(context) = self.context(id, Trigger::Message, new_messages).await else { return };
        let outcome = chain::run(&self.policies.0, &context).await;
        match self.store.apply_routing(id, Trigger::Message, pending.inbound_seq, &outcome).await {
            Ok(applied) => {
                if applied {
                    self.applied(Trigger::Message, &outcome, &context);
                }
            }
            Err(error) => tracing::warn!(%error, conversation = id, "routing: cannot apply the decision"),
        }
    }

    /// Offer queued conversations to agents with room, most urgent first; a team whose
    /// offer assigns nobody is not offered again this round.
    async fn offer_queue(&self) {
        if self.policies.0.is_empty() {
            return;
        }
        let queued = match self.store.queued_conversations(BATCH).await {
            Ok(queued) => queued,
            Err(error) => {
                tracing::warn!(%error, "routing: cannot read the team queues");
                return;
            }
        };
        let mut full_teams = HashSet::new();
        for (id, team) in queued {
            if full_teams.contains(&team) {
                continue;
            }
            let Some(context) = self.context(id, Trigger::Capacity, 0).await else { continue };
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
            match self.store.apply_routing(id, Trigger::Capacity, 0, &outcome).await {
                Ok(true) => self.applied(Trigger::Capacity, &outcome, &context),
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, conversation = id, "routing: cannot apply the queue decision"),
            }
        }
    }

    /// The context from the store, with what only the loaded channels know filled in.
    async fn context(&self, id: i64, trigger: Trigger, new_messages: i64) -> Option<Context> {
        let mut context = match self.store.routing_context(id, trigger, new_messages).await {
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

    fn applied(&self, trigger: Trigger, outcome: &crate::store::routing::Outcome, context: &Context) {
        metrics::counter!(telemetry::ROUTING_RUNS, "trigger" => trigger.as_str()).increment(1);
        if let Some(newest) = context.messages.last() {
            let lag = (crate::clock::now_ms() - newest.received_at_ms).max(0);
            metrics::histogram!(telemetry::ROUTING_LAG).record(lag as f64 / 1000.0);
        }
        if outcome.decision.auto_reply.is_some() {
            self.outbox.wake();
        }
    }
}
