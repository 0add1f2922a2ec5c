-- A registration lock: the SHA-256 of the client's token (derived from
-- the PIN, never sent in clear to anyone but this server, never stored)
-- and the salt the client derived it with, which a client re-registering
-- the number gets back to derive the token again. failures counts the
-- tries in the window started at failures_since (Unix seconds).
CREATE TABLE registration_locks (
    account_id     TEXT PRIMARY KEY REFERENCES accounts(account_id) ON DELETE CASCADE,
    token_hash     BLOB NOT NULL,
    salt           BLOB NOT NULL,
    created        INTEGER NOT NULL,
    failures       INTEGER NOT NULL DEFAULT 0,
    failures_since INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- The sweeper deletes expired codes by expiry.
CREATE INDEX registration_codes_expires ON registration_codes (expires);

-- When the account lost its number to a new registration (Unix seconds;
-- 0: never). Such an account has no devices left and waits to be erased.
ALTER TABLE accounts ADD COLUMN replaced INTEGER NOT NULL DEFAULT 0;
CREATE INDEX accounts_replaced ON accounts (replaced) WHERE replaced > 0;
