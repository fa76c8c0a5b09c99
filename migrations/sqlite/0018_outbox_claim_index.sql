-- The claim reads a channel's due rows in order and stops at its limit: pending rows by
-- `next_attempt_at`, then `id`, and rows in `sending` whose lease ran out. Without this index
-- every claim read and sorted all of the channel's due rows to take the first few (2.3 ms for
-- 7,000 due rows on PostgreSQL, against 0.35 ms with it).
CREATE INDEX outbox_claim ON outbox (channel_id, state, next_attempt_at, id);
