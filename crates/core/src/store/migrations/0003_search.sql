-- Version 3: full-text search (FTS5) over what a rep looks for.

CREATE VIRTUAL TABLE messages_fts USING fts5(
    subject, participants, latest_reply, text_body, attachment_names,
    content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, subject, participants, latest_reply, text_body, attachment_names)
    VALUES (new.id, new.subject, new.participants, new.latest_reply, new.text_body, new.attachment_names);
END;

CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, participants, latest_reply, text_body, attachment_names)
    VALUES ('delete', old.id, old.subject, old.participants, old.latest_reply, old.text_body, old.attachment_names);
END;

CREATE TRIGGER messages_fts_after_update
AFTER UPDATE OF subject, participants, latest_reply, text_body, attachment_names ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, participants, latest_reply, text_body, attachment_names)
    VALUES ('delete', old.id, old.subject, old.participants, old.latest_reply, old.text_body, old.attachment_names);
    INSERT INTO messages_fts (rowid, subject, participants, latest_reply, text_body, attachment_names)
    VALUES (new.id, new.subject, new.participants, new.latest_reply, new.text_body, new.attachment_names);
END;

-- Index what earlier versions stored.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
