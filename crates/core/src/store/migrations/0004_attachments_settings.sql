-- Version 4: attachments kept apart from the raw message (so they outlive
-- raw-MIME retention), settings, and the raw-purge marker.

CREATE TABLE attachments (
    message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    -- Names the encrypted blob in dealthread.raw/attachments/, shared by
    -- every message that carries the same file.
    sha256       TEXT NOT NULL,
    -- 1 when the blob was stored (0 for messages stored before version 4).
    stored       INTEGER NOT NULL DEFAULT 0,
    filename     TEXT,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content_id   TEXT,
    disposition  TEXT,
    warning      TEXT,
    PRIMARY KEY (message_id, position)
) STRICT;

CREATE INDEX attachments_by_sha256 ON attachments(sha256);

-- Non-secret settings only; secrets live in the OS keyring.
CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT;

-- When the raw MIME was deleted by retention (the normalized data stays).
ALTER TABLE messages ADD COLUMN raw_purged_at INTEGER;
CREATE INDEX messages_by_arrival ON messages(arrived_at) WHERE raw_purged_at IS NULL;
