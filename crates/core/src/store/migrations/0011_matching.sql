-- Version 11: the CRM entity cache, every message's match with its reason,
-- the review queue's suggestions, and the rep's corrections.

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    company_id  TEXT,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Lower-cased addresses; one address may belong to several contacts (a
-- shared inbox), which the matcher treats like several deals: a question.
CREATE TABLE contact_emails (
    address     TEXT NOT NULL,
    contact_id  TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    PRIMARY KEY (address, contact_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE companies (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Lower-cased domains, without a leading dot.
CREATE TABLE company_domains (
    domain      TEXT NOT NULL,
    company_id  TEXT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    PRIMARY KEY (domain, company_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE deal_contacts (
    deal_id     TEXT NOT NULL REFERENCES deals(id) ON DELETE CASCADE ON UPDATE CASCADE,
    contact_id  TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    PRIMARY KEY (deal_id, contact_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX deal_contacts_by_contact ON deal_contacts(contact_id);

-- The match: at most one deal, contact and company (a deal match names the
-- sender's contact too when known, for the CRM's associations).
-- match_status: matched | ambiguous | unmatched | internal.
-- match_rule: alias | correlation | sender_rule | thread | contact | company
--             | correction, NULL when nothing matched.
-- crm_worthy = 0 keeps a message out of the outbox; not_worthy_reason says why.
ALTER TABLE messages ADD COLUMN contact_id TEXT;
ALTER TABLE messages ADD COLUMN company_id TEXT;
ALTER TABLE messages ADD COLUMN match_status TEXT NOT NULL DEFAULT 'unmatched';
ALTER TABLE messages ADD COLUMN match_rule TEXT;
ALTER TABLE messages ADD COLUMN match_reason TEXT;
ALTER TABLE messages ADD COLUMN crm_worthy INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN not_worthy_reason TEXT;

-- Until now the only rule was the deal alias.
UPDATE messages SET match_status = 'matched', match_rule = 'alias',
                    match_reason = 'a deal alias among the recipients'
 WHERE deal_id IS NOT NULL;
UPDATE messages SET crm_worthy = 0, not_worthy_reason = kind
 WHERE kind <> 'normal';

CREATE INDEX messages_by_match ON messages(match_status, crm_worthy);
CREATE INDEX messages_by_sender ON messages(from_address);

-- What the rules say about the message on its own (JSON), before thread
-- inheritance and corrections: kept so a thread can be settled again, in
-- any arrival order, without reading every document back.
ALTER TABLE messages ADD COLUMN own_match TEXT;
-- A correction pinned on the message (JSON): it wins over every rule.
ALTER TABLE messages ADD COLUMN pin TEXT;

-- Ranked entities offered for a message in the review queue.
CREATE TABLE match_suggestions (
    message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    rank         INTEGER NOT NULL,
    entity_kind  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    reason       TEXT NOT NULL,
    PRIMARY KEY (message_id, rank)
) STRICT, WITHOUT ROWID;

-- "Always file mail from this sender / domain under this entity": a
-- pattern is a lower-cased address or `@domain` (subdomains included).
CREATE TABLE sender_rules (
    id           INTEGER PRIMARY KEY,
    pattern      TEXT NOT NULL UNIQUE,
    entity_kind  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    removed_at   INTEGER
) STRICT;

-- The log of corrections: who, when, what, and enough of the before state
-- (JSON) to undo it.
CREATE TABLE corrections (
    id          INTEGER PRIMARY KEY,
    action      TEXT NOT NULL,
    summary     TEXT NOT NULL,
    actor       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    before      TEXT NOT NULL,
    undone_at   INTEGER,
    undone_by   TEXT
) STRICT;
