-- Agents, teams and their credentials.

CREATE TABLE agents (
    id                INTEGER PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,    -- lower case
    display_name      TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash     TEXT,                    -- argon2id PHC string; NULL: no password login
    availability      TEXT NOT NULL DEFAULT 'offline' CHECK (availability IN ('online', 'away', 'offline')),
    max_conversations INTEGER NOT NULL DEFAULT 10,
    failed_logins     INTEGER NOT NULL DEFAULT 0,  -- in a row, since the last success
    locked_until      INTEGER,                 -- too many failures: no login before this
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE teams (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE team_members (
    team_id  INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    agent_id INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, agent_id)
);
CREATE INDEX team_members_agent ON team_members (agent_id);

-- Login sessions and personal API tokens. Only a SHA-256 digest of each token is kept.
CREATE TABLE agent_tokens (
    id           INTEGER PRIMARY KEY,
    agent_id     INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    name         TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER,                      -- NULL: until revoked
    revoked_at   INTEGER
);
CREATE INDEX agent_tokens_agent ON agent_tokens (agent_id);
