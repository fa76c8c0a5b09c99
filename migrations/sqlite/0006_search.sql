-- Full-text search with FTS5's trigram tokenizer: substring matches (a phone fragment, part
-- of a name, a word of a message) served by the index, case-insensitively. The gateway fills
-- these from `messages` and `contacts` in the background (`store::search`), so ingest does not
-- pay for tokenizing.
CREATE VIRTUAL TABLE message_search USING fts5(body, conversation_id UNINDEXED, tokenize = 'trigram');
CREATE VIRTUAL TABLE contact_search USING fts5(body, tokenize = 'trigram');

-- How far the indexer has come: the last message id, and contacts changed up to a time.
CREATE TABLE search_progress (
    name    TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
);
INSERT INTO search_progress (name, last_id) VALUES ('messages', 0), ('contacts', 0);
CREATE INDEX contact_identities_updated ON contact_identities (updated_at);
CREATE INDEX contacts_updated ON contacts (updated_at);
