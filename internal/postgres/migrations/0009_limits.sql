-- Rate limits every node shares: one row per bucket, named by an HMAC of
-- the limit and its key (a number, an account, an address prefix) under
-- the secret below, never by the key itself. tat is the bucket's
-- theoretical arrival time (Unix microseconds, the generic cell rate
-- algorithm); a row whose tat has passed is a full bucket, and is swept.
CREATE TABLE rate_limits (
    key bytea PRIMARY KEY,
    tat bigint NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);

CREATE TABLE rate_limit_secret (
    id     integer PRIMARY KEY CHECK (id = 1),
    secret bytea NOT NULL
);

-- A mailbox's quota: what it held at its last count (mailbox_counted,
-- Unix seconds) plus every envelope queued since. Acks do not lower it,
-- so it is never below what the mailbox holds; when it reaches the quota
-- the mailbox is counted again.
ALTER TABLE devices ADD COLUMN mailbox_count bigint NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN mailbox_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN mailbox_counted bigint NOT NULL DEFAULT 0;
UPDATE devices d SET mailbox_count = c.n, mailbox_bytes = c.b
FROM (SELECT e.account_id, e.device_id, count(*) AS n,
        sum(CASE WHEN e.payload IS NULL THEN octet_length(e.content) ELSE coalesce(octet_length(p.content), 0) END) AS b
    FROM envelopes e LEFT JOIN payloads p ON p.id = e.payload
    GROUP BY e.account_id, e.device_id) c
WHERE d.account_id = c.account_id AND d.device_id = c.device_id;
