-- Version 9: the inbound provider's REST source.

-- Where each provider source has read up to. The cursor advances in the
-- same transaction as the page of messages it covers.
CREATE TABLE provider_cursors (
    source      TEXT PRIMARY KEY REFERENCES sources(name) ON DELETE CASCADE,
    cursor      TEXT NOT NULL,
    pages       INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Entries of a page that could not be used at all (no usable raw MIME and
-- a JSON entry missing what a message needs). Kept so they are shown, not
-- silently dropped; the rest of the page goes on.
CREATE TABLE provider_skipped (
    source       TEXT NOT NULL REFERENCES sources(name) ON DELETE CASCADE,
    provider_id  TEXT NOT NULL,
    error        TEXT NOT NULL,
    entry        TEXT NOT NULL,
    seen_at      INTEGER NOT NULL,
    PRIMARY KEY (source, provider_id)
) STRICT;

-- NULL when the stored raw MIME is the message as received; otherwise what
-- it was rebuilt from ('provider-json' when the provider's raw copy had
-- expired or was not MIME).
ALTER TABLE messages ADD COLUMN rebuilt_from TEXT;
