-- Canned responses: an agent types `/shortcut` and gets `body`, with placeholders filled in.
CREATE TABLE canned_responses (
    id         INTEGER PRIMARY KEY,
    shortcut   TEXT NOT NULL UNIQUE,   -- lower case, without the slash
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
