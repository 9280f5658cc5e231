-- Version 12: what each deal's or contact's activities share with the CRM.

-- level: metadata | latest_reply | full. A deal's level wins over its
-- contact's; without either, the `sharing_default` setting (latest_reply).
CREATE TABLE sharing_levels (
    entity_kind  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    level        TEXT NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (entity_kind, entity_id)
) STRICT, WITHOUT ROWID;

-- Flood control counts what each sender domain had sent in the last hour.
CREATE INDEX outbox_sent ON outbox(crm, state, sent_at);

-- Set while flood control holds a row back: why, in words.
ALTER TABLE outbox ADD COLUMN held_reason TEXT;
