-- Group messages name their group; 1:1 messages have ''.
ALTER TABLE messages ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
CREATE INDEX messages_group ON messages (group_id, seq);

-- Groups this account belongs or belonged to, as last learnt from the
-- server (a group route's answer or a change notice). rotated is the
-- group version at which this device last discarded its own sender key
-- because someone left.
CREATE TABLE groups (
    group_id TEXT    PRIMARY KEY,
    version  INTEGER NOT NULL,
    member   INTEGER NOT NULL,
    rotated  INTEGER NOT NULL DEFAULT 0,
    updated  INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id   TEXT NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    role       TEXT NOT NULL,
    PRIMARY KEY (group_id, account_id)
);

-- Which of this device's sender keys (by key id) each device has been
-- sent, per group: a device without the current one gets it before the
-- next group send.
CREATE TABLE sender_key_sent (
    group_id   TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    device_id  INTEGER NOT NULL,
    key_id     INTEGER NOT NULL,
    PRIMARY KEY (group_id, account_id, device_id)
);

-- Status of this account's sent messages per recipient account: sent
-- (the server took it), delivered, read. updated is Unix ms.
CREATE TABLE receipts (
    envelope_id TEXT    NOT NULL,
    account_id  TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('sent', 'delivered', 'read')),
    updated     INTEGER NOT NULL,
    PRIMARY KEY (envelope_id, account_id)
);
