//! Routing's view of the store: which conversations wait for the policy chain, the context a
//! policy sees, and applying a decision once.
//!
//! A customer message bumps its conversation's `inbound_seq` inside the ingest transaction
//! (the UPDATE ingest makes anyway); the routing stage routes every conversation whose
//! `inbound_seq` is ahead of `routed_seq`, after that commit. [`Store::apply_routing`] moves
//! `routed_seq` up in the same transaction that applies the decision and queues any
//! auto-reply, and only if no one moved it first: a decision is applied once, however many
//! routers race or retry.

use super::db::{sql, Conn, Millis};
use super::live::PendingEvents;
use super::outbox::{queue_reply_on, NewReply};
use super::workflow::{self, Actor, ActivityView, Changes, Priority, Status};
use super::{Store, StoreError};
use crate::auth::Availability;
use crate::model::OutboundContent;
use crate::routing::learn;
use crate::routing::types::{Agent, AutoReply, Contact, Context, Conversation, Decision, Message, Reachable, Team, Trigger};
use serde::Serialize;
use sqlx::types::Json;

/// At most this many new messages go into one context.
const MAX_MESSAGES: i64 = 20;
/// How much of a contact's history the channel statistics are learned from.
const HISTORY: i64 = 200;

/// A conversation waiting to be routed, and the sequence number that routing covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub conversation_id: i64,
    pub inbound_seq: i64,
    pub routed_seq: i64,
}

/// One policy's part of a run, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Step {
    pub policy: String,
    /// What it decided (absent when it failed).
    pub decision: Option<StepDecision>,
    /// Why it was skipped: a trap, a timeout, or the policy's own error.
    pub error: Option<String>,
    /// Parts of its decision the host did not apply (an unknown team, an unreachable channel).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

/// [`Decision`]'s stored form.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StepDecision {
    pub team_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub priority: Option<Priority>,
    pub add_labels: Vec<String>,
    pub reply_channel_id: Option<String>,
    pub auto_reply: Option<String>,
    pub reason: String,
}

impl From<&Decision> for StepDecision {
    fn from(decision: &Decision) -> Self {
        Self {
            team_id: decision.team,
            agent_id: decision.agent,
            priority: decision.priority,
            add_labels: decision.add_labels.clone(),
            reply_channel_id: decision.reply_channel.clone(),
            auto_reply: decision.auto_reply.clone(),
            reason: decision.reason.clone(),
        }
    }
}

/// What the chain decided, ready to apply.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub decision: Decision,
    pub steps: Vec<Step>,
    /// One thread line per policy that set something.
    pub credits: Vec<Credit>,
    /// The policy whose auto-reply is sent, if any.
    pub auto_reply_policy: Option<String>,
    /// The channel an auto-reply leaves on: the newest message's.
    pub auto_reply_channel: Option<String>,
}

/// What one policy set, for its line in the thread: "Routed {what} by {policy}: {reason}".
#[derive(Debug, Clone, PartialEq)]
pub struct Credit {
    pub policy: String,
    /// In words: "to Billing, as urgent".
    pub what: String,
    pub reason: String,
}

/// A routing run as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DecisionView {
    pub id: i64,
    pub conversation_id: i64,
    /// `message` (new customer messages) or `capacity` (offered from the team queue).
    pub trigger: String,
    /// Every policy's decision and reason, in chain order.
    pub steps: Vec<Step>,
    /// What was applied: the merged decision.
    pub team_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub priority: Option<Priority>,
    pub labels: Vec<String>,
    pub reply_channel_id: Option<String>,
    /// The auto-reply queued, if one was.
    pub auto_reply_message_id: Option<i64>,
    pub auto_reply_policy: Option<String>,
    pub created_at: i64,
}

/// status, priority, assignee, team, contact.
type ConversationRow = (String, String, Option<i64>, Option<i64>, i64);
/// id, channel, kind, text, received, extra.
type MessageRow = (i64, String, String, Option<String>, Millis, Option<Json<serde_json::Value>>);

type DecisionRow = (i64, i64, String, Json<Vec<Step>>, Option<i64>, Option<i64>, Option<String>, Json<Vec<String>>, Option<String>, Option<i64>, Option<String>, Millis);

impl Store {
    /// Conversations with customer messages that were not routed yet, oldest first.
    pub async fn conversations_to_route(&self, limit: i64) -> Result<Vec<Pending>, StoreError> {
        let mut conn = self.db.read().await?;
        let rows: Vec<(i64, i64, i64)> = sql!(conn, query_as(
            "SELECT id, inbound_seq, routed_seq FROM conversations WHERE inbound_seq > routed_seq ORDER BY id LIMIT $1",
            limit,
        ).fetch_all)?;
        Ok(rows
            .into_iter()
            .map(|(conversation_id, inbound_seq, routed_seq)| Pending { conversation_id, inbound_seq, routed_seq })
            .collect())
    }

    /// Mark every waiting conversation routed without routing it (no policies configured).
    pub async fn skip_routing(&self) -> Result<u64, StoreError> {
        let mut conn = self.db.write().await?;
        Ok(sql!(conn, execute("UPDATE conversations SET routed_seq = inbound_seq WHERE inbound_seq > routed_seq"))?)
    }

    /// Open conversations waiting in a team queue (a team, no assignee), most urgent and then
    /// longest waiting first.
    pub async fn queued_conversations(&self, limit: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut conn = self.db.read().await?;
        Ok(sql!(conn, query_as(
            "SELECT id, team_id FROM conversations
             WHERE status = 'open' AND assignee_id IS NULL AND team_id IS NOT NULL AND inbound_seq <= routed_seq
             ORDER BY CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, last_message_at, id
             LIMIT $1",
            limit,
        ).fetch_all)?)
    }

    /// Every agent with their load, and every team: read once per routing round (the stage
    /// keeps the loads current as it assigns).
    pub async fn routing_staff(&self) -> Result<Staff, StoreError> {
        let mut conn = self.db.read().await?;
        let mut conn = conn.conn();
        staff(&mut conn).await
    }

    /// What a policy sees of conversation `id` now, with `staff` as the agents and teams;
    /// `None` when it does not exist. `new_messages` is how many customer messages arrived
    /// since it was last routed.
    pub async fn routing_context(&self, id: i64, trigger: Trigger, new_messages: i64, staff: &Staff) -> Result<Option<Context>, StoreError> {
        let mut conn = self.db.read().await?;
        let mut conn = conn.conn();
        let row: Option<ConversationRow> = sql!(conn, query_as(
            "SELECT status, priority, assignee_id, team_id, contact_id FROM conversations WHERE id = $1",
            id,
        ).fetch_optional)?;
        let Some((status, priority, assignee, team, contact_id)) = row else { return Ok(None) };
        let labels: Vec<String> =
            sql!(conn, query_scalar("SELECT label FROM conversation_labels WHERE conversation_id = $1 ORDER BY label", id).fetch_all)?;
        let (waiting_since_ms, unanswered) = waiting(&mut conn, id).await?;
        let auto_replies: Vec<(Option<String>, Millis)> = sql!(conn, query_as(
            "SELECT auto_reply_policy, created_at FROM routing_decisions
             WHERE conversation_id = $1 AND auto_reply_message_id IS NOT NULL ORDER BY id DESC LIMIT 20",
            id,
        ).fetch_all)?;
        let messages = match trigger {
            Trigger::Message => new_customer_messages(&mut conn, id, new_messages).await?,
            Trigger::Capacity => Vec::new(),
        };
        let contact = contact(&mut conn, contact_id).await?;
        Ok(Some(Context {
            trigger,
            conversation: Conversation {
                id,
                status: Status::parse(&status).unwrap_or(Status::Open),
                priority: Priority::parse(&priority).unwrap_or(Priority::Normal),
                assignee,
                team,
                labels,
                waiting_since_ms,
                unanswered,
                auto_replies: auto_replies
                    .into_iter()
                    .map(|(policy, at)| AutoReply { policy: policy.unwrap_or_default(), sent_at_ms: at.0 })
                    .collect(),
            },
            contact,
            messages,
            now_ms: crate::clock::now_ms(),
            agents: staff.agents.clone(),
            teams: staff.teams.clone(),
        }))
    }

    /// Apply `outcome` to conversation `id` and record it, once. For a `message` run, only if
    /// the conversation was not routed up to `seq` already (`false` then, and nothing is
    /// written); a `capacity` run assigns only a conversation that is still unassigned.
    pub async fn apply_routing(&self, id: i64, trigger: Trigger, seq: i64, outcome: &Outcome) -> Result<bool, StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let decision = &outcome.decision;
        match trigger {
            Trigger::Message => {
                let claimed = sql!(conn, execute(
                    "UPDATE conversations SET routed_seq = $2, reply_channel_id = $3 WHERE id = $1 AND routed_seq < $2",
                    id,
                    seq,
                    &decision.reply_channel,
                ))?;
                if claimed == 0 {
                    return Ok(false);
                }
            }
            Trigger::Capacity => {
                let unassigned: Option<i64> =
                    sql!(conn, query_scalar("SELECT id FROM conversations WHERE id = $1 AND assignee_id IS NULL", id).fetch_optional)?;
                if unassigned.is_none() {
                    return Ok(false);
                }
                if decision.reply_channel.is_some() {
                    sql!(conn, execute("UPDATE conversations SET reply_channel_id = $2 WHERE id = $1", id, &decision.reply_channel))?;
                }
            }
        }
        let changes = Changes {
            priority: decision.priority,
            assignee_id: decision.agent.map(Some),
            team_id: decision.team.map(Some),
            add_labels: decision.add_labels.clone(),
            ..Changes::default()
        };
        let routing = Actor { name: "routing".into(), agent_id: None };
        // The field changes themselves are not listed one by one: the thread shows one line
        // per policy that decided something, with its reason.
        let (_, left_team) = workflow::apply_quietly(&mut conn, id, &changes, &routing, now).await?;
        let mut events = PendingEvents::default();
        let mut auto_reply_message_id = None;
        if let (Some(text), Some(policy)) = (&decision.auto_reply, &outcome.auto_reply_policy) {
            let reply = NewReply {
                conversation_id: id,
                channel_id: outcome.auto_reply_channel.clone(),
                content: OutboundContent::Text { text: text.clone() },
                reply_to: None,
                text: None,
                author: format!("routing: {policy}"),
                request_id: None,
            };
            match queue_reply_on(&mut conn, &reply, now, &mut events).await {
                Ok(message) => auto_reply_message_id = Some(message.id),
                // Opted out, or no identity on that channel: no auto-reply, the rest applies.
                Err(StoreError::Unreachable(reason) | StoreError::OptedOut(reason)) => tracing::info!(conversation = id, policy, reason, "auto-reply not sent"),
                Err(error) => return Err(error),
            }
        }
        sql!(conn, execute(
            "INSERT INTO routing_decisions (conversation_id, trigger, steps, team_id, agent_id, priority, labels, reply_channel_id,
                 auto_reply_message_id, auto_reply_policy, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            id,
            trigger.as_str(),
            Json(&outcome.steps),
            decision.team,
            decision.agent,
            decision.priority.map(Priority::as_str),
            Json(&decision.add_labels),
            &decision.reply_channel,
            auto_reply_message_id,
            auto_reply_message_id.and(outcome.auto_reply_policy.as_deref()),
            now,
        ))?;
        let mut activity: Vec<ActivityView> = Vec::new();
        for credit in &outcome.credits {
            let actor = Actor { name: credit.policy.clone(), agent_id: None };
            activity.push(workflow::record(&mut conn, id, "routed", &actor, None, Some(credit.what.clone()), Some(&credit.reason), now).await?);
        }
        if !activity.is_empty() {
            workflow::announce(&mut conn, id, &activity, left_team, &mut events).await?;
        }
        self.commit(tx, events).await?;
        Ok(true)
    }

    /// The routing runs of conversation `id`, newest first.
    pub async fn routing_decisions(&self, id: i64, limit: i64) -> Result<Vec<DecisionView>, StoreError> {
        let mut conn = self.db.read().await?;
        let rows: Vec<DecisionRow> = sql!(conn, query_as(
            "SELECT id, conversation_id, trigger, steps, team_id, agent_id, priority, labels, reply_channel_id,
                 auto_reply_message_id, auto_reply_policy, created_at
             FROM routing_decisions WHERE conversation_id = $1 ORDER BY id DESC LIMIT $2",
            id,
            limit,
        ).fetch_all)?;
        Ok(rows
            .into_iter()
            .map(|(id, conversation_id, trigger, steps, team_id, agent_id, priority, labels, reply_channel_id, auto_reply_message_id, auto_reply_policy, created_at)| {
                DecisionView {
                    id,
                    conversation_id,
                    trigger,
                    steps: steps.0,
                    team_id,
                    agent_id,
                    priority: priority.as_deref().and_then(Priority::parse),
                    labels: labels.0,
                    reply_channel_id,
                    auto_reply_message_id,
                    auto_reply_policy,
                    created_at: created_at.0,
                }
            })
            .collect())
    }
}

/// Since when the customer has waited, and how many messages they wrote since the business
/// last did (an auto-reply is not an answer).
async fn waiting(conn: &mut Conn<'_>, id: i64) -> Result<(Option<i64>, u32), StoreError> {
    let answered: Option<i64> = sql!(conn, query_scalar(
        "SELECT MAX(id) FROM messages WHERE conversation_id = $1 AND direction = 'outbound'
             AND (author IS NULL OR author NOT LIKE 'routing: %')",
        id,
    ).fetch_one)?;
    let (count, since): (i64, Option<Millis>) = sql!(conn, query_as(
        "SELECT COUNT(*), MIN(created_at) FROM messages WHERE conversation_id = $1 AND direction = 'inbound' AND id > $2",
        id,
        answered.unwrap_or(0),
    ).fetch_one)?;
    Ok((since.map(|at| at.0), u32::try_from(count).unwrap_or(u32::MAX)))
}

async fn new_customer_messages(conn: &mut Conn<'_>, id: i64, count: i64) -> Result<Vec<Message>, StoreError> {
    let rows: Vec<MessageRow> = sql!(conn, query_as(
        "SELECT id, channel_id, kind, text, created_at, extra FROM messages
         WHERE conversation_id = $1 AND direction = 'inbound' ORDER BY id DESC LIMIT $2",
        id,
        count.clamp(1, MAX_MESSAGES),
    ).fetch_all)?;
    let mut messages: Vec<Message> = rows
        .into_iter()
        .map(|(id, channel_id, kind, text, at, extra)| Message {
            id,
            channel_id,
            kind,
            text,
            received_at_ms: at.0,
            // A plugin marks a machine's message with `"automated": true` in its extra data.
            automated: extra.is_some_and(|extra| extra.0.get("automated").and_then(serde_json::Value::as_bool) == Some(true)),
        })
        .collect();
    messages.reverse();
    Ok(messages)
}

async fn contact(conn: &mut Conn<'_>, contact_id: i64) -> Result<Contact, StoreError> {
    let name: Option<String> = sql!(conn, query_scalar("SELECT display_name FROM contacts WHERE id = $1", contact_id).fetch_optional)?.flatten();
    let identities: Vec<(String, String)> = sql!(conn, query_as(
        "SELECT channel_id, external_id FROM contact_identities WHERE contact_id = $1 AND opted_out = $2 ORDER BY updated_at DESC, id DESC",
        contact_id,
        false,
    ).fetch_all)?;
    let history: Vec<(String, String, Millis)> = sql!(conn, query_as(
        "SELECT m.channel_id, m.direction, m.created_at FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE c.contact_id = $1 ORDER BY m.id DESC LIMIT $2",
        contact_id,
        HISTORY,
    ).fetch_all)?;
    let history: Vec<learn::Seen> = history
        .into_iter()
        .rev()
        .map(|(channel_id, direction, at)| learn::Seen { channel_id, inbound: direction == "inbound", at_ms: at.0 })
        .collect();
    let mut channels: Vec<Reachable> = Vec::new();
    for (channel_id, address) in identities {
        if channels.iter().any(|known| known.channel_id == channel_id) {
            continue;
        }
        let stats = learn::stats(&history, &channel_id);
        channels.push(Reachable {
            channel_id,
            address,
            last_inbound_ms: stats.last_inbound_ms,
            messages: stats.messages,
            replies: stats.replies,
            median_reply_ms: stats.median_reply_ms,
            ..Reachable::default()
        });
    }
    Ok(Contact { id: contact_id, name, channels })
}

/// Agents with their loads, and teams, as routing sees them.
#[derive(Debug, Clone, Default)]
pub struct Staff {
    pub agents: Vec<Agent>,
    pub teams: Vec<Team>,
}

impl Staff {
    /// Count a conversation just assigned to `agent`, so the rest of the round sees it.
    pub fn assigned(&mut self, agent: i64, at_ms: i64) {
        if let Some(agent) = self.agents.iter_mut().find(|known| known.id == agent) {
            agent.open_conversations = agent.open_conversations.saturating_add(1);
            agent.last_assigned_ms = Some(at_ms);
        }
    }
}

async fn staff(conn: &mut Conn<'_>) -> Result<Staff, StoreError> {
    let agents: Vec<(i64, String, String, i64)> =
        sql!(conn, query_as("SELECT id, display_name, availability, max_conversations FROM agents ORDER BY id").fetch_all)?;
    let memberships: Vec<(i64, i64)> = sql!(conn, query_as("SELECT agent_id, team_id FROM team_members ORDER BY team_id").fetch_all)?;
    let loads: Vec<(i64, i64, Option<Millis>)> = sql!(conn, query_as(
        "SELECT assignee_id, SUM(CASE WHEN status <> 'resolved' THEN 1 ELSE 0 END), MAX(assigned_at)
         FROM conversations WHERE assignee_id IS NOT NULL GROUP BY assignee_id",
    ).fetch_all)?;
    let teams: Vec<(i64, String)> = sql!(conn, query_as("SELECT id, name FROM teams ORDER BY id").fetch_all)?;
    let agents = agents
        .into_iter()
        .map(|(id, name, availability, max)| {
            let load = loads.iter().find(|(agent, _, _)| *agent == id);
            Agent {
                id,
                name,
                availability: Availability::parse(&availability).unwrap_or(Availability::Offline),
                teams: memberships.iter().filter(|(agent, _)| *agent == id).map(|(_, team)| *team).collect(),
                open_conversations: load.map_or(0, |(_, open, _)| u32::try_from(*open).unwrap_or(u32::MAX)),
                max_conversations: u32::try_from(max).unwrap_or(0),
                last_assigned_ms: load.and_then(|(_, _, at)| at.map(|at| at.0)),
            }
        })
        .collect();
    Ok(Staff { agents, teams: teams.into_iter().map(|(id, name)| Team { id, name }).collect() })
}
