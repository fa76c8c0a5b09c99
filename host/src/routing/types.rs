//! What a routing policy sees and decides, as host types: the store builds a [`Context`],
//! the plugin runtime converts it to the `switchboard:router` records, and the stage merges
//! and applies the [`Decision`]s that come back.

use crate::auth::Availability;
use crate::store::workflow::{Priority, Status};

crate::model::named_enum! {
    /// Why a conversation is routed.
    pub enum Trigger {
        /// New customer messages arrived.
        Message => "message",
        /// It waits in a team queue, and an agent of the team may have room.
        Capacity => "capacity",
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AutoReply {
    pub policy: String,
    pub sent_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: i64,
    pub status: Status,
    pub priority: Priority,
    pub assignee: Option<i64>,
    pub team: Option<i64>,
    pub labels: Vec<String>,
    pub waiting_since_ms: Option<i64>,
    pub unanswered: u32,
    pub auto_replies: Vec<AutoReply>,
}

/// A channel the contact can be reached on, and how they answer there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reachable {
    pub channel_id: String,
    /// Filled in by the stage from the loaded channels (the store does not know plugins).
    pub plugin: String,
    pub address: String,
    pub templates: bool,
    pub last_inbound_ms: Option<i64>,
    pub messages: u32,
    pub replies: u32,
    pub median_reply_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: i64,
    pub name: Option<String>,
    pub channels: Vec<Reachable>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: i64,
    pub channel_id: String,
    pub kind: String,
    pub text: Option<String>,
    pub received_at_ms: i64,
    pub automated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: i64,
    pub name: String,
    pub availability: Availability,
    pub teams: Vec<i64>,
    pub open_conversations: u32,
    pub max_conversations: u32,
    pub last_assigned_ms: Option<i64>,
}

impl Agent {
    pub fn has_room(&self) -> bool {
        self.availability == Availability::Online && self.open_conversations < self.max_conversations
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub trigger: Trigger,
    pub conversation: Conversation,
    pub contact: Contact,
    pub messages: Vec<Message>,
    pub now_ms: i64,
    pub agents: Vec<Agent>,
    pub teams: Vec<Team>,
}

/// One policy's decision, or the chain's merged one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub team: Option<i64>,
    pub agent: Option<i64>,
    pub priority: Option<Priority>,
    pub add_labels: Vec<String>,
    pub reply_channel: Option<String>,
    pub auto_reply: Option<String>,
    pub reason: String,
}

impl Decision {
    pub fn is_empty(&self) -> bool {
        self.team.is_none()
            && self.agent.is_none()
            && self.priority.is_none()
            && self.add_labels.is_empty()
            && self.reply_channel.is_none()
            && self.auto_reply.is_none()
    }
}
