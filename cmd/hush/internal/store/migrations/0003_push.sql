-- This device's push registration as it made it (at most one row): the
-- kind, and for Web Push / UnifiedPush the endpoint (its path is a
-- credential) with the subscription's P-256 private key and 16-byte auth
-- secret, which open the messages (RFC 8291). Tokens of the other kinds
-- are the push services' and are not kept. created is Unix seconds.
CREATE TABLE push (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    kind        TEXT    NOT NULL,
    endpoint    TEXT    NOT NULL DEFAULT '',
    private_key BLOB,
    auth        BLOB,
    created     INTEGER NOT NULL
);
