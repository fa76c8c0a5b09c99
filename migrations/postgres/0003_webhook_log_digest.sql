-- The raw webhook log keeps one row per distinct body: a redelivery of the same bytes (or a
-- delivery that only repeated stored messages) adds nothing. Rows from before this migration
-- have no digest; NULLs never conflict in a unique index.
ALTER TABLE webhook_events ADD COLUMN body_sha256 bytea;
CREATE UNIQUE INDEX webhook_events_body ON webhook_events (channel_id, body_sha256);
