-- The device's own account: exactly one row once registered or linked.
CREATE TABLE account (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    account_id       TEXT    NOT NULL,
    device_id        INTEGER NOT NULL,
    password         TEXT    NOT NULL,
    number           TEXT    NOT NULL,
    identity_public  BLOB    NOT NULL,
    identity_private BLOB    NOT NULL,
    registration_id  INTEGER NOT NULL,
    created          INTEGER NOT NULL
);

-- Next key ids, per kind of key.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    next INTEGER NOT NULL
);

-- libsignal records (JSON, as the serializer writes them).
CREATE TABLE prekeys (
    id     INTEGER PRIMARY KEY,
    record BLOB NOT NULL
);

CREATE TABLE signed_prekeys (
    id     INTEGER PRIMARY KEY,
    record BLOB NOT NULL
);

-- ML-KEM-1024 prekeys: public key (0x08 || encapsulation key), its
-- signature by the identity key, and the 64-byte decapsulation seed.
CREATE TABLE pq_prekeys (
    id          INTEGER PRIMARY KEY,
    public_key  BLOB    NOT NULL,
    signature   BLOB    NOT NULL,
    seed        BLOB    NOT NULL,
    last_resort INTEGER NOT NULL,
    created     INTEGER NOT NULL
);

CREATE TABLE sessions (
    account_id TEXT    NOT NULL,
    device_id  INTEGER NOT NULL,
    record     BLOB    NOT NULL,
    PRIMARY KEY (account_id, device_id)
);

CREATE TABLE sender_keys (
    group_id   TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    device_id  INTEGER NOT NULL,
    record     BLOB    NOT NULL,
    PRIMARY KEY (group_id, account_id, device_id)
);

-- Remote identity keys, trusted on first use. Every device of an account
-- shares its identity key, so the key is per account.
CREATE TABLE identities (
    account_id   TEXT    PRIMARY KEY,
    identity_key BLOB    NOT NULL,
    first_seen   INTEGER NOT NULL,
    updated      INTEGER NOT NULL
);

CREATE TABLE contacts (
    number     TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    updated    INTEGER NOT NULL
);
CREATE INDEX contacts_account ON contacts (account_id);

-- Messages sent and received. One send has one envelope id; with its
-- sender it identifies the message, so a redelivered envelope is dropped.
CREATE TABLE messages (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    envelope_id      TEXT    NOT NULL,
    direction        TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    from_account     TEXT    NOT NULL,
    from_device      INTEGER NOT NULL,
    peer_account     TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    sent_at          INTEGER NOT NULL,
    server_timestamp INTEGER NOT NULL,
    sync_to          TEXT    NOT NULL DEFAULT '',
    status           TEXT    NOT NULL DEFAULT '',
    stored_at        INTEGER NOT NULL,
    UNIQUE (from_account, from_device, envelope_id)
);
CREATE INDEX messages_peer ON messages (peer_account, seq);
