-- Version 14: what looks wrong about a message (a failed DMARC verdict, a
-- display name showing another address, a Reply-To on another domain),
-- worked out once at import so a timeline of thousands of messages shows
-- its warnings without reading each stored document. One per line; NULL
-- when there is none. Filled in for stored messages by the migration.
ALTER TABLE messages ADD COLUMN warnings TEXT;
