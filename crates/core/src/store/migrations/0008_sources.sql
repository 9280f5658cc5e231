-- Version 8: configured sources (IMAP mailboxes, later provider accounts)
-- and what IMAP sync needs to resume and to prove it is complete.

-- One row per source. `config` is JSON without secrets: the password or
-- token lives in the OS keyring (or, headless, in the environment variable
-- the config names).
CREATE TABLE sources (
    name          TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    config        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_sync_at  INTEGER,
    -- The last failure in words, NULL after a clean sync.
    last_error    TEXT
) STRICT;

-- Per folder: the checkpoint (UIDVALIDITY, highest UID stored, HIGHESTMODSEQ)
-- and the ledger of the last completeness check.
CREATE TABLE imap_folders (
    source          TEXT NOT NULL REFERENCES sources(name) ON DELETE CASCADE,
    folder          TEXT NOT NULL,
    uid_validity    INTEGER NOT NULL,
    last_uid        INTEGER NOT NULL DEFAULT 0,
    highest_modseq  INTEGER,
    uid_next        INTEGER,
    server_count    INTEGER,
    missing         INTEGER,
    checked_at      INTEGER,
    PRIMARY KEY (source, folder)
) STRICT;

-- Which stored message each server UID is, for the completeness check.
CREATE TABLE imap_uids (
    source        TEXT NOT NULL,
    folder        TEXT NOT NULL,
    uid_validity  INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    message_id    INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    PRIMARY KEY (source, folder, uid_validity, uid),
    FOREIGN KEY (source, folder) REFERENCES imap_folders(source, folder) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX imap_uids_by_message ON imap_uids(message_id);
