-- Switchboard schema, SQLite flavour. Times are Unix milliseconds (INTEGER).
-- Unique constraints, not application code, guard against duplicates.

CREATE TABLE channels (
    id             TEXT PRIMARY KEY,            -- the instance name from config.toml
    plugin         TEXT NOT NULL,
    plugin_version TEXT,
    capabilities   TEXT NOT NULL DEFAULT '[]',  -- JSON array, as the plugin declared them
    status         TEXT NOT NULL DEFAULT 'active',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE contacts (
    id           INTEGER PRIMARY KEY,
    display_name TEXT,
    phone        TEXT,   -- E.164
    email        TEXT,   -- lower case
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX contacts_phone ON contacts (phone) WHERE phone IS NOT NULL;
CREATE INDEX contacts_email ON contacts (email) WHERE email IS NOT NULL;

-- One row per (channel, provider user id): how a contact is reached on a channel.
CREATE TABLE contact_identities (
    id           INTEGER PRIMARY KEY,
    contact_id   INTEGER NOT NULL REFERENCES contacts (id),
    channel_id   TEXT NOT NULL REFERENCES channels (id),
    external_id  TEXT NOT NULL,
    phone        TEXT,
    email        TEXT,
    display_name TEXT,
    username     TEXT,
    opted_out    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (channel_id, external_id)
);
CREATE INDEX contact_identities_contact ON contact_identities (contact_id);

-- The thread with one contact, across channels.
CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY,
    contact_id      INTEGER NOT NULL REFERENCES contacts (id),
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'snoozed', 'resolved')),
    priority        TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee_id     INTEGER,
    team_id         INTEGER,
    last_channel_id TEXT NOT NULL REFERENCES channels (id),
    last_message_id INTEGER,
    last_message_at INTEGER NOT NULL,
    unread_count    INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- At most one unresolved conversation per contact.
CREATE UNIQUE INDEX conversations_active_per_contact ON conversations (contact_id) WHERE status <> 'resolved';
CREATE INDEX conversations_recent ON conversations (last_message_at DESC, id DESC);

CREATE TABLE messages (
    id                   INTEGER PRIMARY KEY,
    conversation_id      INTEGER NOT NULL REFERENCES conversations (id),
    channel_id           TEXT NOT NULL REFERENCES channels (id),
    identity_id          INTEGER REFERENCES contact_identities (id),
    direction            TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    external_id          TEXT,          -- the provider's id; NULL until an outbound message is sent
    kind                 TEXT NOT NULL,
    text                 TEXT,
    attachments          TEXT NOT NULL DEFAULT '[]',  -- JSON array of media references
    extra                TEXT,                        -- JSON object
    reply_to_external_id TEXT,
    author               TEXT,          -- the agent, for outbound messages
    status               TEXT NOT NULL,
    status_rank          INTEGER NOT NULL,
    error_code           TEXT,
    error_message        TEXT,
    provider_timestamp   INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (channel_id, external_id)
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

-- The raw webhook log: what arrived, for audit and replay.
CREATE TABLE webhook_events (
    id           INTEGER PRIMARY KEY,
    channel_id   TEXT NOT NULL,
    request_id   TEXT,
    received_at  INTEGER NOT NULL,
    body         BLOB NOT NULL,
    event_count  INTEGER NOT NULL,
    new_messages INTEGER NOT NULL
);
CREATE INDEX webhook_events_received ON webhook_events (received_at);

-- Outbound messages waiting for, or done with, delivery.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL UNIQUE REFERENCES messages (id),
    channel_id      TEXT NOT NULL REFERENCES channels (id),
    payload         TEXT NOT NULL,      -- JSON OutboundMessage
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE delivery_attempts (
    id            INTEGER PRIMARY KEY,
    outbox_id     INTEGER NOT NULL REFERENCES outbox (id),
    attempt       INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    outcome       TEXT NOT NULL,        -- sent, retry, failed, dead
    error_kind    TEXT,
    error_code    TEXT,
    error_message TEXT
);
CREATE INDEX delivery_attempts_outbox ON delivery_attempts (outbox_id);

-- What agents' live streams announce, in order. Written in the same transaction as the change
-- it describes; the id is the SSE event id a client resumes from.
CREATE TABLE live_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    conversation_id INTEGER,
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
