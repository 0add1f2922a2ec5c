-- An erasure in progress: the row goes in the same transaction as the
-- account, so while it exists the erasure is unfinished.
CREATE TABLE erasures (
    account_id TEXT PRIMARY KEY,
    pseudonym  TEXT NOT NULL,
    started    INTEGER NOT NULL
) WITHOUT ROWID;
