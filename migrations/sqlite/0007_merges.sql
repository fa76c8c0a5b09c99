-- Merging contacts, undoably, and the audit log of who did what.

ALTER TABLE contacts ADD COLUMN merged_into_id INTEGER;

-- One merge: what moved, exactly, so an unmerge can put it back.
CREATE TABLE contact_merges (
    id          INTEGER PRIMARY KEY,
    survivor_id INTEGER NOT NULL REFERENCES contacts (id),
    merged_id   INTEGER NOT NULL REFERENCES contacts (id),
    moved       TEXT NOT NULL,      -- JSON: identities, conversations, messages, and the fields before
    created_at  INTEGER NOT NULL,
    undone_at   INTEGER
);

-- Who did what, when, from where. Appended to, never changed.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    actor      TEXT NOT NULL,
    agent_id   INTEGER,
    action     TEXT NOT NULL,       -- e.g. `contact.merged`
    subject    TEXT NOT NULL,       -- e.g. `contact:12`
    detail     TEXT NOT NULL,       -- JSON
    created_at INTEGER NOT NULL
);
CREATE INDEX audit_log_action ON audit_log (action, id);
