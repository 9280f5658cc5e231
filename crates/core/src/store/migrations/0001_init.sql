-- Dealthread schema, version 1: messages with provenance, deals.
-- A shipped migration is never edited; later changes are new files.

CREATE TABLE deals (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    stage       TEXT,
    amount      REAL,
    owner       TEXT,
    close_date  TEXT,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    -- Message-ID plus content hash (dealthread-mail::identity), or
    -- `unreadable#<raw sha256>` for input that could not be read as mail.
    dedupe_key      TEXT NOT NULL UNIQUE,
    message_id      TEXT,
    content_hash    TEXT NOT NULL,
    raw_sha256      TEXT NOT NULL,
    raw_size        INTEGER NOT NULL,
    subject         TEXT,
    from_name       TEXT,
    from_address    TEXT,
    date            TEXT,
    -- Sort key: the Date header, or the arrival time when it is missing or absurd.
    sort_time       INTEGER NOT NULL,
    arrived_at      INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    latest_reply    TEXT,
    text_body       TEXT,
    has_attachments INTEGER NOT NULL DEFAULT 0,
    -- The full normalized document (JSON), NULL when unreadable.
    document        TEXT,
    parse_error     TEXT,
    deal_id         TEXT REFERENCES deals(id) ON UPDATE CASCADE ON DELETE SET NULL
) STRICT;

CREATE INDEX messages_by_deal ON messages(deal_id, sort_time, id);
CREATE INDEX messages_by_message_id ON messages(message_id);

-- Where each message came from; one message can arrive by several paths.
CREATE TABLE message_sources (
    message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    locator     TEXT NOT NULL,
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (source, locator)
) STRICT;

CREATE INDEX message_sources_by_message ON message_sources(message_id);
