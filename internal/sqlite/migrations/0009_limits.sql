-- Rate limits every node shares: one row per bucket, named by an HMAC of
-- the limit and its key (a number, an account, an address prefix) under
-- the secret below, never by the key itself. tat is the bucket's
-- theoretical arrival time (Unix microseconds, the generic cell rate
-- algorithm); a row whose tat has passed is a full bucket, and is swept.
CREATE TABLE rate_limits (
    key BLOB PRIMARY KEY,
    tat INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rate_limits_tat ON rate_limits (tat);

CREATE TABLE rate_limit_secret (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB NOT NULL
);

-- A mailbox's quota: what it held at its last count (mailbox_counted,
-- Unix seconds) plus every envelope queued since. Acks do not lower it,
-- so it is never below what the mailbox holds; when it reaches the quota
-- the mailbox is counted again.
ALTER TABLE devices ADD COLUMN mailbox_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN mailbox_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN mailbox_counted INTEGER NOT NULL DEFAULT 0;
UPDATE devices SET
    mailbox_count = (SELECT count(*) FROM envelopes e WHERE e.account_id = devices.account_id AND e.device_id = devices.device_id),
    mailbox_bytes = (SELECT coalesce(sum(CASE WHEN e.payload IS NULL THEN length(e.content)
            ELSE coalesce((SELECT length(p.content) FROM payloads p WHERE p.id = e.payload), 0) END), 0)
        FROM envelopes e WHERE e.account_id = devices.account_id AND e.device_id = devices.device_id);
