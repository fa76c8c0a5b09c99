-- Mail threading: a conversation's reply token, given out in the plus-addressed Reply-To of
-- our mails (support+<token>@…), so a reply that lost In-Reply-To still finds its conversation.
ALTER TABLE conversations ADD COLUMN reply_token text;
CREATE UNIQUE INDEX conversations_reply_token ON conversations (reply_token);

-- One-time webhook tokens (Mailgun signs timestamp + token): recorded with the request's
-- events, so a replayed request is refused. Pruned once expired.
CREATE TABLE replay_tokens (
    channel_id text NOT NULL,
    token      text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (channel_id, token)
);
CREATE INDEX replay_tokens_expiry ON replay_tokens (expires_at);
