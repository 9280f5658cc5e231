-- Version 10: CRM accounts and the durable outbox of activities to push.

-- One row per CRM connection. `config` is JSON without secrets (the signing
-- secret or token is in the OS keyring). `paused_reason` is set when the
-- CRM refused the credentials (401/403): nothing is pushed until it is
-- cleared by saving new ones.
CREATE TABLE crm_accounts (
    name           TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    config         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    paused_reason  TEXT
) STRICT;

-- One row per activity operation. The idempotency key (dedupe key + CRM +
-- operation) makes a re-send after a crash or a lost answer the same
-- request, so the CRM ends up with the activity once.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    crm              TEXT NOT NULL REFERENCES crm_accounts(name) ON DELETE CASCADE,
    message_id       INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    operation        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    -- pending | in_flight | sent | dead
    state            TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- Unix milliseconds: backoffs in tests are shorter than a second.
    next_attempt_ms  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    -- The last failure in words: HTTP status and an excerpt, or the network error.
    last_error       TEXT,
    crm_object_id    TEXT
) STRICT;

CREATE INDEX outbox_due ON outbox(crm, state, next_attempt_ms);
CREATE INDEX outbox_by_message ON outbox(message_id);
