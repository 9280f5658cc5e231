-- Version 2: threads, and what search needs on each message.

CREATE TABLE threads (
    id          INTEGER PRIMARY KEY,
    created_at  INTEGER NOT NULL
) STRICT;

-- Every Message-ID seen, a message's own or one it references, with the
-- thread it belongs to: the union-find of threading, kept on disk so a
-- late parent merges the threads its replies started.
CREATE TABLE thread_keys (
    key         TEXT PRIMARY KEY,
    thread_id   INTEGER NOT NULL REFERENCES threads(id)
) STRICT, WITHOUT ROWID;

CREATE INDEX thread_keys_by_thread ON thread_keys(thread_id);

ALTER TABLE messages ADD COLUMN thread_id INTEGER REFERENCES threads(id);
-- Set on every message whose Message-ID another, different message reuses.
ALTER TABLE messages ADD COLUMN message_id_reused INTEGER NOT NULL DEFAULT 0;
-- "Name <address>, ..." of From, To, Cc and Reply-To, for search.
ALTER TABLE messages ADD COLUMN participants TEXT;
ALTER TABLE messages ADD COLUMN attachment_names TEXT;

CREATE INDEX messages_by_thread ON messages(thread_id, sort_time, id);
