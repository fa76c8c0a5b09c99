-- Routing: which conversations wait for the policy chain, what it decided, and why (see the
-- SQLite migration of the same number for how the two sequence numbers work).
ALTER TABLE conversations ADD COLUMN inbound_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN routed_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN reply_channel_id TEXT;
ALTER TABLE conversations ADD COLUMN assigned_at timestamptz;
CREATE INDEX conversations_to_route ON conversations (id) WHERE inbound_seq > routed_seq;

CREATE TABLE routing_decisions (
    id              BIGSERIAL PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    trigger         TEXT NOT NULL CHECK (trigger IN ('message', 'capacity')),
    steps           JSONB NOT NULL,
    team_id         BIGINT,
    agent_id        BIGINT,
    priority        TEXT,
    labels          JSONB NOT NULL,
    reply_channel_id TEXT,
    auto_reply_message_id BIGINT,
    auto_reply_policy TEXT,
    created_at      timestamptz NOT NULL
);
CREATE INDEX routing_decisions_conversation ON routing_decisions (conversation_id, id);

ALTER TABLE conversation_activity DROP CONSTRAINT conversation_activity_kind_check;
ALTER TABLE conversation_activity ADD CONSTRAINT conversation_activity_kind_check
    CHECK (kind IN ('note', 'status', 'priority', 'assignee', 'team', 'label_added', 'label_removed', 'contact_merged', 'contact_unmerged', 'routed'));
