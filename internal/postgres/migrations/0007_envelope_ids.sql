-- An envelope's id is unique in its mailbox. The index enforcing that led
-- with the mailbox, so the planner, which takes a mailbox for a row or
-- two, used it to scan a whole mailbox for a batch of acks (filtering by
-- id) rather than the primary key's range of positions. Led by the id, it
-- still enforces the same rule and offers no such scan.
ALTER TABLE envelopes DROP CONSTRAINT envelopes_account_id_device_id_id_key;
ALTER TABLE envelopes ADD CONSTRAINT envelopes_id_key UNIQUE (id, account_id, device_id);
