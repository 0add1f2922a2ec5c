-- A registration lock: the SHA-256 of the client's token (derived from
-- the PIN, never stored) and the salt the client derived it with, which a
-- client re-registering the number gets back to derive the token again.
-- failures counts the tries in the window started at failures_since
-- (Unix seconds).
CREATE TABLE registration_locks (
    account_id     uuid PRIMARY KEY REFERENCES accounts (account_id) ON DELETE CASCADE,
    token_hash     bytea NOT NULL,
    salt           bytea NOT NULL,
    created        bigint NOT NULL,
    failures       integer NOT NULL DEFAULT 0,
    failures_since bigint NOT NULL DEFAULT 0
);

-- The sweeper deletes expired codes by expiry.
CREATE INDEX registration_codes_expires ON registration_codes (expires);

-- When the account lost its number to a new registration (Unix seconds;
-- 0: never). Such an account has no devices left and waits to be erased.
ALTER TABLE accounts ADD COLUMN replaced bigint NOT NULL DEFAULT 0;
CREATE INDEX accounts_replaced ON accounts (replaced) WHERE replaced > 0;
