-- Saved views: a named set of list filters. An agent's own (owner_id), or shared with every
-- agent (owner_id NULL, made by admins). Names are unique per owner, and among shared views.
CREATE TABLE saved_views (
    id         INTEGER PRIMARY KEY,
    owner_id   INTEGER REFERENCES agents (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    filters    TEXT NOT NULL,        -- JSON, the shape of store::saved_views::SavedFilters
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX saved_views_name ON saved_views (COALESCE(owner_id, 0), name);
