-- Delivery: a status callback that arrives before the gateway has recorded the provider's id
-- for its send (the provider answered the send, and reported it delivered, faster than our
-- transaction committed) is kept here and applied when the id is recorded, instead of being
-- lost. Rows nobody claims (statuses of messages sent from elsewhere) are pruned after an hour.
CREATE TABLE early_statuses (
    id          BIGSERIAL PRIMARY KEY,
    channel_id  TEXT NOT NULL,
    external_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    status_rank BIGINT NOT NULL,
    provider_at timestamptz,
    error_code  TEXT,
    error_message TEXT,
    received_at timestamptz NOT NULL
);
CREATE INDEX early_statuses_message ON early_statuses (channel_id, external_id);
CREATE INDEX early_statuses_received ON early_statuses (received_at);
