-- Outbound rate limits shared by every node: one token bucket per channel instance. A claim
-- locks its channel's row, refills it for the time since `updated_at`, takes a token for each
-- row it claims and writes the level back, so however many nodes drain the outbox, a channel
-- keeps to its configured rate. `burst` and `rate` come from config at each claim; the row
-- holds only the level.
CREATE TABLE outbox_buckets (
    channel_id TEXT PRIMARY KEY,
    tokens     REAL NOT NULL,
    updated_at INTEGER NOT NULL
);
