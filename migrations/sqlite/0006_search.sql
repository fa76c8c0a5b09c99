-- Full-text search with FTS5, case-insensitively and without regard to accents:
-- - message text by words (the unicode61 tokenizer; a word matches as a prefix);
-- - contacts by substrings (the trigram tokenizer), so phone fragments and parts of names
--   and emails match.
-- Neither is written in the transaction that stores a message: indexing one row per small
-- transaction cost a quarter of ingest's throughput (measured, docs/performance.md). The
-- gateway indexes new messages in batches of a thousand by id (`store::search`), and contacts
-- that triggers mark dirty, a moment after they are committed.
-- A contact's text spans the contact and its identities, so a trigger only marks it dirty
-- and the gateway rebuilds it moments later (`store::search`).
CREATE VIRTUAL TABLE message_search USING fts5(body, conversation_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE contact_search USING fts5(body, tokenize = 'trigram remove_diacritics 1');

CREATE TRIGGER messages_search_move AFTER UPDATE OF conversation_id ON messages
BEGIN
    UPDATE message_search SET conversation_id = NEW.conversation_id WHERE rowid = NEW.id;
END;

-- The newest message id indexed (ids are committed in order: SQLite has one writer).
CREATE TABLE search_progress (last_message_id INTEGER NOT NULL);
INSERT INTO search_progress (last_message_id) VALUES (0);

CREATE TABLE search_dirty (contact_id INTEGER PRIMARY KEY);
CREATE TRIGGER contacts_search_insert AFTER INSERT ON contacts
BEGIN
    INSERT INTO search_dirty (contact_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER contacts_search_update AFTER UPDATE OF display_name, phone, email ON contacts
BEGIN
    INSERT INTO search_dirty (contact_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER identities_search_insert AFTER INSERT ON contact_identities
BEGIN
    INSERT INTO search_dirty (contact_id) VALUES (NEW.contact_id) ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER identities_search_update AFTER UPDATE OF contact_id, external_id, display_name, username ON contact_identities
BEGIN
    INSERT INTO search_dirty (contact_id) VALUES (NEW.contact_id) ON CONFLICT DO NOTHING;
    INSERT INTO search_dirty (contact_id) VALUES (OLD.contact_id) ON CONFLICT DO NOTHING;
END;

-- The priority sort's order, so its first page does not sort every conversation.
CREATE INDEX conversations_priority ON conversations (
    (CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END) DESC, last_message_at DESC, id DESC);
