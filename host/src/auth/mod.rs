//! Who is calling, and what they may do: agents' roles, passwords, tokens and the login
//! rate limit. The HTTP layer (`http::auth`) turns a request into a [`Principal`]; the SQL
//! lives in `store::agents`.
//!
//! - **Passwords** are argon2id hashes in PHC form ([`password`]).
//! - **Tokens** (login sessions and personal API tokens) are 32 random bytes; only their
//!   SHA-256 digest is stored ([`token`]). A slow hash is for low-entropy secrets; a digest of
//!   256 random bits cannot be brute-forced, and it keeps the per-request lookup cheap.
//! - **Failed logins** lock the account for a while after a few in a row (kept in the
//!   database, so every node sees them) and are limited per client address ([`limiter`]).

pub mod limiter;
pub mod password;
pub mod token;

use serde::{Deserialize, Serialize};

/// What an agent may do. Every `/api/v1` route declares the role it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Works conversations: their teams' and unassigned ones.
    Agent,
    /// Everything, including agents, teams and settings.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "agent" => Some(Self::Agent),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// Whether an agent takes conversations now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    Online,
    Away,
    Offline,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "online" => Some(Self::Online),
            "away" => Some(Self::Away),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `SWITCHBOARD_ADMIN_TOKEN`: the bootstrap credential for automation, an admin that is
    /// not an agent.
    Bootstrap,
    /// A signed-in agent (a session or a personal API token).
    Agent {
        id: i64,
        name: String,
        role: Role,
        /// The teams the agent belongs to.
        teams: Vec<i64>,
        /// The token used, so logout can revoke it.
        token_id: i64,
    },
}

impl Principal {
    pub fn role(&self) -> Role {
        match self {
            Self::Bootstrap => Role::Admin,
            Self::Agent { role, .. } => *role,
        }
    }

    /// The name recorded as the author of what this caller does.
    pub fn name(&self) -> &str {
        match self {
            Self::Bootstrap => "admin",
            Self::Agent { name, .. } => name,
        }
    }

    pub fn agent_id(&self) -> Option<i64> {
        match self {
            Self::Bootstrap => None,
            Self::Agent { id, .. } => Some(*id),
        }
    }

    /// Whose conversations the caller sees: `None` for admins (all), else the agent's id (see
    /// `store::views::Viewer`).
    pub fn viewer(&self) -> Option<i64> {
        match self {
            Self::Agent { id, role: Role::Agent, .. } => Some(*id),
            _ => None,
        }
    }

    /// Whether the caller may do what `required` allows.
    pub fn has(&self, required: Role) -> bool {
        self.role() >= required
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_have_every_role_and_agents_only_theirs() {
        let agent = Principal::Agent { id: 1, name: "a".into(), role: Role::Agent, teams: vec![], token_id: 1 };
        assert!(agent.has(Role::Agent) && !agent.has(Role::Admin));
        assert!(Principal::Bootstrap.has(Role::Admin) && Principal::Bootstrap.has(Role::Agent));
        for role in [Role::Agent, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for availability in [Availability::Online, Availability::Away, Availability::Offline] {
            assert_eq!(Availability::parse(availability.as_str()), Some(availability));
        }
    }
}
