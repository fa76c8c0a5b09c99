-- Routing: which conversations wait for the policy chain, what it decided, and why.
--
-- Ingest bumps `inbound_seq` in the UPDATE it already makes for each customer message; the
-- routing stage routes every conversation whose `inbound_seq` is ahead of `routed_seq`, and
-- moves `routed_seq` up in the transaction that applies the decision. A crash between the
-- two leaves the conversation waiting, and a second router finds `routed_seq` already moved:
-- each message is routed once, after its commit, never inside it.
ALTER TABLE conversations ADD COLUMN inbound_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN routed_seq INTEGER NOT NULL DEFAULT 0;
-- The channel routing prefers for replies; NULL: where the customer last wrote.
ALTER TABLE conversations ADD COLUMN reply_channel_id TEXT;
-- When the current assignee got it, for round robin among equally loaded agents.
ALTER TABLE conversations ADD COLUMN assigned_at INTEGER;
CREATE INDEX conversations_to_route ON conversations (id) WHERE inbound_seq > routed_seq;

-- One row per routing run: every policy's decision and reason, and what was applied.
CREATE TABLE routing_decisions (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    trigger         TEXT NOT NULL CHECK (trigger IN ('message', 'capacity')),
    steps           TEXT NOT NULL,   -- JSON: [{policy, decision | error}]
    team_id         INTEGER,
    agent_id        INTEGER,
    priority        TEXT,
    labels          TEXT NOT NULL,   -- JSON list
    reply_channel_id TEXT,
    auto_reply_message_id INTEGER,
    auto_reply_policy TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX routing_decisions_conversation ON routing_decisions (conversation_id, id);

-- A routing decision shows in the thread ("routed to Billing by urgency: matched 'refund'").
CREATE TABLE conversation_activity_new (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    kind            TEXT NOT NULL CHECK (kind IN ('note', 'status', 'priority', 'assignee', 'team', 'label_added', 'label_removed',
                                                  'contact_merged', 'contact_unmerged', 'routed')),
    actor           TEXT NOT NULL,   -- the agent's name, `admin` (bootstrap token), `system`, or a routing policy
    agent_id        INTEGER,         -- the acting agent, if one
    old_value       TEXT,
    new_value       TEXT,
    body            TEXT,            -- a note's text; a routing decision's reason
    created_at      INTEGER NOT NULL
);
INSERT INTO conversation_activity_new (id, conversation_id, kind, actor, agent_id, old_value, new_value, body, created_at)
    SELECT id, conversation_id, kind, actor, agent_id, old_value, new_value, body, created_at FROM conversation_activity;
DROP TABLE conversation_activity;
ALTER TABLE conversation_activity_new RENAME TO conversation_activity;
CREATE INDEX conversation_activity_conversation ON conversation_activity (conversation_id, id);
