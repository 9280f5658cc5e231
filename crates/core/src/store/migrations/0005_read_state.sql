-- Version 5: whether the rep has read a message (unread counts per deal).
ALTER TABLE messages ADD COLUMN read_at INTEGER;
CREATE INDEX messages_unread_by_deal ON messages(deal_id) WHERE read_at IS NULL;
