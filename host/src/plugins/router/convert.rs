//! Host routing types to and from the `switchboard:router@0.1.0` records.

use super::bindings::v0_1_0::switchboard::router::types as wit;
use crate::auth::Availability;
use crate::routing::types as host;
use crate::store::workflow::{Priority, Status};

/// Times before the epoch do not happen here; a negative one reads as 0.
fn ms(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub fn priority(priority: Priority) -> wit::Priority {
    match priority {
        Priority::Low => wit::Priority::Low,
        Priority::Normal => wit::Priority::Normal,
        Priority::High => wit::Priority::High,
        Priority::Urgent => wit::Priority::Urgent,
    }
}

fn priority_from(priority: wit::Priority) -> Priority {
    match priority {
        wit::Priority::Low => Priority::Low,
        wit::Priority::Normal => Priority::Normal,
        wit::Priority::High => Priority::High,
        wit::Priority::Urgent => Priority::Urgent,
    }
}

fn status(status: Status) -> wit::Status {
    match status {
        Status::Open => wit::Status::Open,
        Status::Pending => wit::Status::Pending,
        Status::Snoozed => wit::Status::Snoozed,
        Status::Resolved => wit::Status::Resolved,
    }
}

fn availability(availability: Availability) -> wit::Availability {
    match availability {
        Availability::Online => wit::Availability::Online,
        Availability::Away => wit::Availability::Away,
        Availability::Offline => wit::Availability::Offline,
    }
}

pub fn context(context: &host::Context) -> wit::Context {
    let conversation = &context.conversation;
    wit::Context {
        trigger: match context.trigger {
            host::Trigger::Message => wit::Trigger::Message,
            host::Trigger::Capacity => wit::Trigger::Capacity,
        },
        conversation: wit::Conversation {
            id: conversation.id,
            status: status(conversation.status),
            priority: priority(conversation.priority),
            assignee: conversation.assignee,
            team: conversation.team,
            labels: conversation.labels.clone(),
            waiting_since_ms: conversation.waiting_since_ms.map(ms),
            unanswered: conversation.unanswered,
            auto_replies: conversation
                .auto_replies
                .iter()
                .map(|reply| wit::AutoReply { policy: reply.policy.clone(), sent_at_ms: ms(reply.sent_at_ms) })
                .collect(),
        },
        contact: wit::Contact {
            id: context.contact.id,
            name: context.contact.name.clone(),
            channels: context
                .contact
                .channels
                .iter()
                .map(|channel| wit::ReachableChannel {
                    channel_id: channel.channel_id.clone(),
                    plugin: channel.plugin.clone(),
                    address: channel.address.clone(),
                    templates: channel.templates,
                    last_inbound_ms: channel.last_inbound_ms.map(ms),
                    messages: channel.messages,
                    replies: channel.replies,
                    median_reply_ms: channel.median_reply_ms.map(ms),
                })
                .collect(),
        },
        messages: context
            .messages
            .iter()
            .map(|message| wit::Message {
                id: message.id,
                channel_id: message.channel_id.clone(),
                kind: message.kind.clone(),
                text: message.text.clone(),
                received_at_ms: ms(message.received_at_ms),
                automated: message.automated,
            })
            .collect(),
        now_ms: ms(context.now_ms),
        agents: context
            .agents
            .iter()
            .map(|agent| wit::Agent {
                id: agent.id,
                name: agent.name.clone(),
                availability: availability(agent.availability),
                teams: agent.teams.clone(),
                open_conversations: agent.open_conversations,
                max_conversations: agent.max_conversations,
                last_assigned_ms: agent.last_assigned_ms.map(ms),
            })
            .collect(),
        teams: context.teams.iter().map(|team| wit::Team { id: team.id, name: team.name.clone() }).collect(),
    }
}

pub fn decision(decision: &host::Decision) -> wit::Decision {
    wit::Decision {
        team: decision.team,
        agent: decision.agent,
        priority: decision.priority.map(priority),
        add_labels: decision.add_labels.clone(),
        reply_channel: decision.reply_channel.clone(),
        auto_reply: decision.auto_reply.clone(),
        reason: decision.reason.clone(),
    }
}

pub fn decision_from(decision: wit::Decision) -> host::Decision {
    host::Decision {
        team: decision.team,
        agent: decision.agent,
        priority: decision.priority.map(priority_from),
        add_labels: decision.add_labels,
        reply_channel: decision.reply_channel,
        auto_reply: decision.auto_reply,
        reason: decision.reason,
    }
}

pub fn info(info: wit::PolicyInfo) -> (String, String, String) {
    (info.name, info.version, info.description)
}
