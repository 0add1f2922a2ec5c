-- Every table is keyed by account id first (the shard key); the only
-- exceptions are the phone directory and pending registration codes, which
-- are keyed by the number that an account is looked up by.

CREATE TABLE accounts (
    account_id     TEXT PRIMARY KEY,
    identity_key   BLOB NOT NULL,
    next_device_id INTEGER NOT NULL,
    created        INTEGER NOT NULL
) WITHOUT ROWID;

-- The directory: number -> account. Kept apart from accounts so that
-- accounts stay keyed by account id alone.
CREATE TABLE numbers (
    number     TEXT PRIMARY KEY,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts(account_id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE devices (
    account_id      TEXT NOT NULL REFERENCES accounts(account_id) ON DELETE CASCADE,
    device_id       INTEGER NOT NULL,
    password_hash   BLOB NOT NULL,
    registration_id INTEGER NOT NULL,
    name            TEXT NOT NULL,
    created         INTEGER NOT NULL,
    last_seen_day   INTEGER NOT NULL,
    PRIMARY KEY (account_id, device_id)
) WITHOUT ROWID;

-- kind: 'ec' signed prekey, 'pq' last-resort PQ prekey.
CREATE TABLE signed_prekeys (
    account_id TEXT NOT NULL,
    device_id  INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    key_id     INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    signature  BLOB NOT NULL,
    PRIMARY KEY (account_id, device_id, kind),
    FOREIGN KEY (account_id, device_id) REFERENCES devices(account_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- kind: 'ec' one-time prekey (no signature), 'pq' signed one-time PQ prekey.
CREATE TABLE one_time_prekeys (
    account_id TEXT NOT NULL,
    device_id  INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    key_id     INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    signature  BLOB,
    PRIMARY KEY (account_id, device_id, kind, key_id),
    FOREIGN KEY (account_id, device_id) REFERENCES devices(account_id, device_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- seq is the mailbox position: SQLite commits one writer at a time, so a
-- larger seq is always committed later.
CREATE TABLE envelopes (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       TEXT NOT NULL,
    device_id        INTEGER NOT NULL,
    id               BLOB NOT NULL,
    source_account   TEXT NOT NULL,
    source_device    INTEGER NOT NULL,
    type             INTEGER NOT NULL,
    content          BLOB NOT NULL,
    server_timestamp INTEGER NOT NULL,
    expires          INTEGER NOT NULL,
    FOREIGN KEY (account_id, device_id) REFERENCES devices(account_id, device_id) ON DELETE CASCADE
);
CREATE INDEX envelopes_mailbox ON envelopes (account_id, device_id, seq);
CREATE UNIQUE INDEX envelopes_id ON envelopes (account_id, device_id, id);
CREATE INDEX envelopes_expires ON envelopes (expires);

CREATE TABLE registration_codes (
    number    TEXT PRIMARY KEY,
    code_hash BLOB NOT NULL,
    expires   INTEGER NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE provisioning_codes (
    account_id TEXT NOT NULL REFERENCES accounts(account_id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    expires    INTEGER NOT NULL,
    PRIMARY KEY (account_id, code_hash)
) WITHOUT ROWID;
