-- Full-text search with trigram indexes: substring matches (a phone fragment, part of a name,
-- a word of a message) served by GIN indexes, case-insensitively (`ILIKE`).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX messages_text_trgm ON messages USING gin (text gin_trgm_ops);
CREATE INDEX contacts_name_trgm ON contacts USING gin (display_name gin_trgm_ops);
CREATE INDEX contacts_phone_trgm ON contacts USING gin (phone gin_trgm_ops);
CREATE INDEX contacts_email_trgm ON contacts USING gin (email gin_trgm_ops);
CREATE INDEX contact_identities_external_trgm ON contact_identities USING gin (external_id gin_trgm_ops);
CREATE INDEX contact_identities_username_trgm ON contact_identities USING gin (username gin_trgm_ops);
CREATE INDEX contact_identities_name_trgm ON contact_identities USING gin (display_name gin_trgm_ops);

-- The priority sort's order, so its first page does not sort every conversation.
CREATE INDEX conversations_priority ON conversations (
    (CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END) DESC, last_message_at DESC, id DESC);
