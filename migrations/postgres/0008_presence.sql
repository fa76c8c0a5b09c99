-- Who is viewing or typing in a conversation right now, for collision avoidance. Each row
-- lives until its heartbeat stops (`expires_at`); a background sweep removes and announces it.
CREATE TABLE presence (
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    agent_id        bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    state           text NOT NULL,      -- `viewing` or `typing`
    since           timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
);
CREATE INDEX presence_expires ON presence (expires_at);
