-- Groups are keyed by group id: a group is its own shard, as an account is.
CREATE TABLE groups (
    group_id uuid PRIMARY KEY,
    version  bigint NOT NULL,
    created  bigint NOT NULL
);

CREATE TABLE group_members (
    group_id   uuid NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    account_id uuid NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('admin', 'member')),
    joined     bigint NOT NULL,
    PRIMARY KEY (group_id, account_id)
);
CREATE INDEX group_members_account ON group_members (account_id);

-- A payload is one ciphertext shared by the envelopes of a group send:
-- each device's envelope refers to it instead of holding a copy. refs
-- counts those envelopes; the trigger below deletes the payload with the
-- last of them, whatever deletes it (ack, expiry, a removed device). The
-- decrement locks the payload row, so concurrent acks cannot both miss
-- the last reference.
CREATE TABLE payloads (
    id       uuid PRIMARY KEY,
    group_id uuid NOT NULL,
    content  bytea NOT NULL,
    refs     integer NOT NULL
);

-- Server notices (group changes) have no source account.
ALTER TABLE envelopes ALTER COLUMN source_account DROP NOT NULL;
ALTER TABLE envelopes ADD COLUMN payload uuid;

CREATE FUNCTION release_payload() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE payloads SET refs = refs - 1 WHERE id = OLD.payload;
    DELETE FROM payloads WHERE id = OLD.payload AND refs <= 0;
    RETURN NULL;
END;
$$;

CREATE TRIGGER envelopes_release_payload AFTER DELETE ON envelopes
FOR EACH ROW WHEN (OLD.payload IS NOT NULL) EXECUTE FUNCTION release_payload();

-- Last seen: minute of last activity (Unix seconds, 0: never) and who may
-- see it.
ALTER TABLE accounts ADD COLUMN last_seen bigint NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN last_seen_visibility text NOT NULL DEFAULT 'nobody';
