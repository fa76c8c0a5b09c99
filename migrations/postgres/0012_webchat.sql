-- Web chat: the key each instance signs its visitors' session tokens with, made once by the
-- first node that needs it and then shared by every node (and kept across restarts), so a
-- visitor's token stays valid wherever their widget reconnects.
CREATE TABLE webchat_keys (
    channel_id TEXT PRIMARY KEY,
    signing_key BYTEA NOT NULL,
    created_at timestamptz NOT NULL
);
