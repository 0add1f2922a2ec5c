-- Every table is keyed by account id first (the shard key); the only
-- exceptions are the phone directory and pending registration codes, keyed
-- by the number an account is looked up by.

CREATE TABLE accounts (
    account_id     uuid PRIMARY KEY,
    identity_key   bytea NOT NULL,
    next_device_id integer NOT NULL,
    created        bigint NOT NULL
);

CREATE TABLE numbers (
    number     text PRIMARY KEY,
    account_id uuid NOT NULL UNIQUE REFERENCES accounts (account_id) ON DELETE CASCADE
);

-- next_seq is the mailbox's position counter. Taking it locks the device
-- row until the inserting transaction commits, so within one mailbox a
-- larger seq is always committed later: readers that resume by position
-- never skip a row.
CREATE TABLE devices (
    account_id      uuid NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    device_id       integer NOT NULL,
    password_hash   bytea NOT NULL,
    registration_id integer NOT NULL,
    name            text NOT NULL,
    created         bigint NOT NULL,
    last_seen_day   bigint NOT NULL,
    next_seq        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, device_id)
);

CREATE TABLE signed_prekeys (
    account_id uuid NOT NULL,
    device_id  integer NOT NULL,
    kind       text NOT NULL,
    key_id     bigint NOT NULL,
    public_key bytea NOT NULL,
    signature  bytea NOT NULL,
    PRIMARY KEY (account_id, device_id, kind),
    FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, device_id) ON DELETE CASCADE
);

CREATE TABLE one_time_prekeys (
    account_id uuid NOT NULL,
    device_id  integer NOT NULL,
    kind       text NOT NULL,
    key_id     bigint NOT NULL,
    public_key bytea NOT NULL,
    signature  bytea,
    PRIMARY KEY (account_id, device_id, kind, key_id),
    FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, device_id) ON DELETE CASCADE
);

CREATE TABLE envelopes (
    account_id       uuid NOT NULL,
    device_id        integer NOT NULL,
    seq              bigint NOT NULL,
    id               uuid NOT NULL,
    source_account   uuid NOT NULL,
    source_device    integer NOT NULL,
    type             integer NOT NULL,
    content          bytea NOT NULL,
    server_timestamp bigint NOT NULL,
    expires          bigint NOT NULL,
    PRIMARY KEY (account_id, device_id, seq),
    UNIQUE (account_id, device_id, id),
    FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, device_id) ON DELETE CASCADE
);
CREATE INDEX envelopes_expires ON envelopes (expires);

CREATE TABLE registration_codes (
    number    text PRIMARY KEY,
    code_hash bytea NOT NULL,
    expires   bigint NOT NULL,
    attempts  integer NOT NULL DEFAULT 0
);

CREATE TABLE provisioning_codes (
    account_id uuid NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    expires    bigint NOT NULL,
    PRIMARY KEY (account_id, code_hash)
);
