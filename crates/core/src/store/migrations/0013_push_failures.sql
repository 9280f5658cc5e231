-- Version 13: every failed delivery attempt with its cause, so sync health
-- can say what has been going wrong, not only what is wrong now (the
-- outbox row keeps just its last error). Kept for 30 days.
CREATE TABLE push_failures (
    id          INTEGER PRIMARY KEY,
    crm         TEXT NOT NULL,
    outbox_id   INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    -- rate_limited | server_error | timeout | network | rejected | auth
    cause       TEXT NOT NULL,
    detail      TEXT NOT NULL
) STRICT;

CREATE INDEX push_failures_at ON push_failures(at);
