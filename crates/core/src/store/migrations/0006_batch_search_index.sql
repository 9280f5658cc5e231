-- Version 6: new messages are indexed for search once per batch, by the
-- store (messages::index_new), not row by row by a trigger. FTS5 flushes
-- its pending terms at every statement of a transaction that follows a
-- write to it, so the trigger turned each message into its own index
-- segment and most of an import's time into merging them.

DROP TRIGGER messages_fts_after_insert;
