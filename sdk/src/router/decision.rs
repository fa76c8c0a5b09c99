//! Constructors for the WIT records a policy builds most.

use super::bindings::switchboard::router::types::{Agent, Availability, Decision, PolicyInfo, Priority};

impl PolicyInfo {
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Self { name: name.into(), version: version.into(), description: description.into() }
    }
}

impl Decision {
    /// No opinion, for the given reason ("within business hours").
    pub fn because(reason: impl Into<String>) -> Self {
        Self { team: None, agent: None, priority: None, add_labels: Vec::new(), reply_channel: None, auto_reply: None, reason: reason.into() }
    }

    /// Whether this decision changes nothing.
    pub fn is_empty(&self) -> bool {
        self.team.is_none()
            && self.agent.is_none()
            && self.priority.is_none()
            && self.add_labels.is_empty()
            && self.reply_channel.is_none()
            && self.auto_reply.is_none()
    }
}

impl Priority {
    /// `low` < `normal` < `high` < `urgent`.
    pub fn rank(self) -> u8 {
        match self {
            Self::Low => 0,
            Self::Normal => 1,
            Self::High => 2,
            Self::Urgent => 3,
        }
    }

    /// The next level up, `urgent` staying `urgent`.
    pub fn raised(self) -> Self {
        match self {
            Self::Low => Self::Normal,
            Self::Normal => Self::High,
            Self::High | Self::Urgent => Self::Urgent,
        }
    }

    /// `low`, `normal`, `high` or `urgent`, as config spells them.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Self::Low),
            "normal" => Some(Self::Normal),
            "high" => Some(Self::High),
            "urgent" => Some(Self::Urgent),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }
}

impl Agent {
    /// Online, and below their maximum of concurrent conversations.
    pub fn has_room(&self) -> bool {
        self.availability == Availability::Online && self.open_conversations < self.max_conversations
    }
}
