-- Version 7: a search within one deal is answered by the index. Each
-- message's deal becomes one token in a column of its own ("zdeal" and the
-- id in hex), so "pric* in deal D-1042" intersects two doclists in FTS5
-- instead of walking every message that mentions a price.

ALTER TABLE messages ADD COLUMN search_tags TEXT
    GENERATED ALWAYS AS (CASE WHEN deal_id IS NULL THEN '' ELSE 'zdeal' || lower(hex(deal_id)) END) VIRTUAL;

DROP TRIGGER messages_fts_after_delete;
DROP TRIGGER messages_fts_after_update;
DROP TABLE messages_fts;

CREATE VIRTUAL TABLE messages_fts USING fts5(
    subject, participants, latest_reply, text_body, attachment_names, search_tags,
    content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

-- New rows are indexed in batches by the store (see version 6).
CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, participants, latest_reply, text_body, attachment_names, search_tags)
    VALUES ('delete', old.id, old.subject, old.participants, old.latest_reply, old.text_body, old.attachment_names, old.search_tags);
END;

CREATE TRIGGER messages_fts_after_update
AFTER UPDATE OF subject, participants, latest_reply, text_body, attachment_names, deal_id ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, participants, latest_reply, text_body, attachment_names, search_tags)
    VALUES ('delete', old.id, old.subject, old.participants, old.latest_reply, old.text_body, old.attachment_names, old.search_tags);
    INSERT INTO messages_fts (rowid, subject, participants, latest_reply, text_body, attachment_names, search_tags)
    VALUES (new.id, new.subject, new.participants, new.latest_reply, new.text_body, new.attachment_names, new.search_tags);
END;

INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
