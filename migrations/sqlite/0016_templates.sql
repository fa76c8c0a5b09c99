-- Templates: the pre-approved messages WhatsApp (and others) allow outside the customer-service
-- window. One row per (channel instance, name, language), as providers key them. `body` holds
-- numbered parameters `{{1}}`…`{{n}}`; `parameter_count` is n, so a send is checked before it is
-- queued. `buttons` is a JSON array of {type, text, url | phone_number}.
CREATE TABLE message_templates (
    id              INTEGER PRIMARY KEY,
    channel_id      TEXT NOT NULL REFERENCES channels (id),
    name            TEXT NOT NULL,
    language        TEXT NOT NULL,
    category        TEXT NOT NULL CHECK (category IN ('marketing', 'utility', 'authentication')),
    body            TEXT NOT NULL,
    parameter_count INTEGER NOT NULL,
    buttons         TEXT NOT NULL DEFAULT '[]',
    status          TEXT NOT NULL CHECK (status IN ('approved', 'pending', 'rejected', 'paused', 'disabled')),
    provider_id     TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (channel_id, name, language)
);

-- The language a contact reads (`en`, `pt_BR`): template sends must be in it when it is known.
ALTER TABLE contacts ADD COLUMN language TEXT;

-- Failover: a reply that could not go out on its channel may be sent on another the contact has.
-- The outbox row moves to the new channel, so each attempt keeps the channel it was made on
-- (backfilled: no attempt before this migration failed over), and the message keeps where it
-- came from and why.
ALTER TABLE delivery_attempts ADD COLUMN channel_id TEXT;
UPDATE delivery_attempts SET channel_id = (SELECT o.channel_id FROM outbox o WHERE o.id = delivery_attempts.outbox_id);
ALTER TABLE messages ADD COLUMN failover_from TEXT;
ALTER TABLE messages ADD COLUMN failover_code TEXT;

-- Read state: the newest of our messages the customer has read in each conversation, and when
-- (the provider's time when it gave one), rolled up from read receipts and watermarks.
ALTER TABLE conversations ADD COLUMN customer_read_message_id INTEGER;
ALTER TABLE conversations ADD COLUMN customer_read_at INTEGER;
