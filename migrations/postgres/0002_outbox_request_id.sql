-- The id of the API request that queued a reply, so its logs follow it through delivery.
ALTER TABLE outbox ADD COLUMN request_id text;
