-- Delivery: the `Idempotency-Key` an API client sent with a reply, so a retried POST returns
-- the message the first one queued instead of queueing another. A key is the caller's own
-- (scope: the agent, or the bootstrap admin) and is kept for a day; `request_hash` is the
-- SHA-256 of what was asked, so the same key with a different request is refused.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    message_id   INTEGER REFERENCES messages (id),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Delivery: an agent's retry of a dead letter gives it a fresh set of attempts; attempts are
-- counted from here (attempt numbers stay unique, so the history keeps every try).
ALTER TABLE outbox ADD COLUMN retries_from INTEGER NOT NULL DEFAULT 0;

-- When a failed attempt's retry was scheduled for (the backoff, or the provider's Retry-After).
ALTER TABLE delivery_attempts ADD COLUMN retry_at INTEGER;

-- Delivery: each outbound message's status history, a row per step forward (queued, sent,
-- delivered, read, failed), with when we learnt it and the provider's own time when it gave one.
CREATE TABLE message_statuses (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    status      TEXT NOT NULL,
    at          INTEGER NOT NULL,
    provider_at INTEGER,
    error_code  TEXT
);
CREATE INDEX message_statuses_message ON message_statuses (message_id);
