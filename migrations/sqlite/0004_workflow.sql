-- The conversation workflow: snoozes, labels, activity (changes and private notes), per-agent
-- read state, and who may see each live event.

ALTER TABLE conversations ADD COLUMN snoozed_until INTEGER;
CREATE INDEX conversations_snoozed ON conversations (snoozed_until) WHERE status = 'snoozed';
-- A new message of a contact with no open conversation reopens their newest one.
CREATE INDEX conversations_contact ON conversations (contact_id);
CREATE INDEX conversations_team ON conversations (team_id);
CREATE INDEX conversations_assignee ON conversations (assignee_id);

CREATE TABLE conversation_labels (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    label           TEXT NOT NULL,
    PRIMARY KEY (conversation_id, label)
);
CREATE INDEX conversation_labels_label ON conversation_labels (label);

-- Everything in a thread that is not a message: who changed what, and private notes.
CREATE TABLE conversation_activity (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    kind            TEXT NOT NULL CHECK (kind IN ('note', 'status', 'priority', 'assignee', 'team', 'label_added', 'label_removed')),
    actor           TEXT NOT NULL,   -- the agent's name, `admin` (bootstrap token) or `system`
    agent_id        INTEGER,         -- the acting agent, if one
    old_value       TEXT,
    new_value       TEXT,
    body            TEXT,            -- a note's text
    created_at      INTEGER NOT NULL
);
CREATE INDEX conversation_activity_conversation ON conversation_activity (conversation_id, id);

-- What each agent has read: "unread" means unread by me.
CREATE TABLE conversation_reads (
    conversation_id      INTEGER NOT NULL REFERENCES conversations (id),
    agent_id             INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    last_read_message_id INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
);

-- The team a conversation left, on the event that moved it: that team's agents hear of it too.
-- (Who else may see an event is read from its conversation as the stream sends it.)
ALTER TABLE live_events ADD COLUMN previous_team_id INTEGER;
