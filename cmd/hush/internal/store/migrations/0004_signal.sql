-- Sessions, prekeys and sender keys move to package signal, whose records
-- are the official library's (PQXDH, SPQR, version-4 messages). The
-- records of the earlier X3DH library cannot be read: they are dropped.
-- The account (identity key pair, registration id, credentials), the
-- identities of others, contacts, groups and the history stay.

-- One-time keys this device published whose private halves are dropped
-- now: the next start uploads fresh keys under the same ids, which
-- replaces them on the server, so that nobody is handed one of them again.
CREATE TABLE stale_prekeys (
    kind TEXT    NOT NULL CHECK (kind IN ('ec', 'pq')),
    id   INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
INSERT INTO stale_prekeys (kind, id) SELECT 'ec', id FROM prekeys;
INSERT INTO stale_prekeys (kind, id) SELECT 'pq', id FROM pq_prekeys WHERE NOT last_resort;

-- Present (one row) while this device must upload a new signed prekey, a
-- new Kyber last-resort key and fresh one-time keys: after this
-- migration, for a device that existed before it.
CREATE TABLE key_reset (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    created INTEGER NOT NULL
);
INSERT INTO key_reset (id, created) SELECT 1, CAST(strftime('%s', 'now') AS INTEGER) FROM account;

DROP TABLE prekeys;
DROP TABLE signed_prekeys;
DROP TABLE pq_prekeys;
DROP TABLE sessions;
DROP TABLE sender_keys;
DELETE FROM sender_key_sent;

-- Records as package signal serializes them (libsignal's layouts).
CREATE TABLE prekeys (
    id     INTEGER PRIMARY KEY,
    record BLOB NOT NULL
);

CREATE TABLE signed_prekeys (
    id      INTEGER PRIMARY KEY,
    record  BLOB    NOT NULL,
    created INTEGER NOT NULL
);

-- Kyber1024 prekeys: one-time ones are removed once a session used them;
-- the last-resort one stays, and each (signed prekey, base key) that used
-- it is remembered so that a replayed session start is refused.
CREATE TABLE kyber_prekeys (
    id          INTEGER PRIMARY KEY,
    record      BLOB    NOT NULL,
    last_resort INTEGER NOT NULL,
    created     INTEGER NOT NULL
);

CREATE TABLE kyber_uses (
    id        INTEGER NOT NULL,
    signed_id INTEGER NOT NULL,
    base_key  BLOB    NOT NULL,
    PRIMARY KEY (id, signed_id, base_key)
);

CREATE TABLE sessions (
    account_id TEXT    NOT NULL,
    device_id  INTEGER NOT NULL,
    record     BLOB    NOT NULL,
    PRIMARY KEY (account_id, device_id)
);

-- Sender keys per sending device and distribution id. group_id is the
-- group the distribution was seen in ('' until a group message used it).
CREATE TABLE sender_keys (
    account_id      TEXT    NOT NULL,
    device_id       INTEGER NOT NULL,
    distribution_id TEXT    NOT NULL,
    group_id        TEXT    NOT NULL DEFAULT '',
    record          BLOB    NOT NULL,
    PRIMARY KEY (account_id, device_id, distribution_id)
);
CREATE INDEX sender_keys_group ON sender_keys (group_id);

-- This device's distribution id per group; a new one on every rotation.
ALTER TABLE groups ADD COLUMN distribution_id TEXT NOT NULL DEFAULT '';

-- Plaintexts this device sent recently, kept so that a recipient that
-- could not decrypt one (a DecryptionErrorMessage names it by the
-- envelope's server timestamp) gets it again on a new session.
-- destination is the account of a 1:1 message, '' for a group message.
CREATE TABLE sent_plaintexts (
    server_timestamp INTEGER NOT NULL,
    destination      TEXT    NOT NULL,
    group_id         TEXT    NOT NULL,
    content          BLOB    NOT NULL,
    created          INTEGER NOT NULL,
    PRIMARY KEY (server_timestamp, destination, group_id)
);
CREATE INDEX sent_plaintexts_created ON sent_plaintexts (created);

-- Receipts name messages by their sender's timestamp.
CREATE INDEX messages_sent_at ON messages (from_account, sent_at);
