-- Groups are keyed by group id: a group is its own shard, as an account is.
CREATE TABLE groups (
    group_id TEXT PRIMARY KEY,
    version  INTEGER NOT NULL,
    created  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE group_members (
    group_id   TEXT NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(account_id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    joined     INTEGER NOT NULL,
    PRIMARY KEY (group_id, account_id)
) WITHOUT ROWID;
CREATE INDEX group_members_account ON group_members (account_id);

-- A payload is one ciphertext shared by the envelopes of a group send:
-- each device's envelope refers to it instead of holding a copy. refs
-- counts those envelopes; the trigger below deletes the payload with the
-- last of them, whatever deletes it (ack, expiry, a removed device).
CREATE TABLE payloads (
    id       BLOB PRIMARY KEY,
    group_id TEXT NOT NULL,
    content  BLOB NOT NULL,
    refs     INTEGER NOT NULL
) WITHOUT ROWID;

ALTER TABLE envelopes ADD COLUMN payload BLOB;

CREATE TRIGGER envelopes_release_payload AFTER DELETE ON envelopes
WHEN OLD.payload IS NOT NULL
BEGIN
    UPDATE payloads SET refs = refs - 1 WHERE id = OLD.payload;
    DELETE FROM payloads WHERE id = OLD.payload AND refs <= 0;
END;

-- Last seen: minute of last activity (Unix seconds, 0: never) and who may
-- see it.
ALTER TABLE accounts ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN last_seen_visibility TEXT NOT NULL DEFAULT 'nobody';
