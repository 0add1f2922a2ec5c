-- An erasure in progress: the row goes in the same transaction as the
-- account, so while it exists the erasure is unfinished.
CREATE TABLE erasures (
    account_id text PRIMARY KEY,
    pseudonym  text NOT NULL,
    started    bigint NOT NULL
);
