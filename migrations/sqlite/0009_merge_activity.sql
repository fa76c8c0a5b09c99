-- A merge and an unmerge show in each affected conversation's thread. SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt with the two new kinds.
CREATE TABLE conversation_activity_new (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    kind            TEXT NOT NULL CHECK (kind IN ('note', 'status', 'priority', 'assignee', 'team', 'label_added', 'label_removed',
                                                  'contact_merged', 'contact_unmerged')),
    actor           TEXT NOT NULL,   -- the agent's name, `admin` (bootstrap token) or `system`
    agent_id        INTEGER,         -- the acting agent, if one
    old_value       TEXT,
    new_value       TEXT,
    body            TEXT,            -- a note's text
    created_at      INTEGER NOT NULL
);
INSERT INTO conversation_activity_new (id, conversation_id, kind, actor, agent_id, old_value, new_value, body, created_at)
    SELECT id, conversation_id, kind, actor, agent_id, old_value, new_value, body, created_at FROM conversation_activity;
DROP TABLE conversation_activity;
ALTER TABLE conversation_activity_new RENAME TO conversation_activity;
CREATE INDEX conversation_activity_conversation ON conversation_activity (conversation_id, id);
