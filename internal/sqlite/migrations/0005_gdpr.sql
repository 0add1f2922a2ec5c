-- Admin tokens: the public id and the SHA-256 of the secret.
CREATE TABLE admin_tokens (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    role    TEXT NOT NULL CHECK (role IN ('compliance', 'operator')),
    hash    BLOB NOT NULL,
    created INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- The audit log: append-only, each entry sealed with the hash of the one
-- before. Subjects are pseudonyms; the triggers refuse changes in place.
CREATE TABLE audit_log (
    seq     INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL, -- Unix ms
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL,
    prev    BLOB NOT NULL,
    hash    BLOB NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject) WHERE subject != '';
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- An account's audit pseudonym; erasing the account deletes the row, so
-- the log no longer leads to it.
CREATE TABLE audit_subjects (
    account_id TEXT PRIMARY KEY REFERENCES accounts (account_id) ON DELETE CASCADE,
    pseudonym  TEXT NOT NULL UNIQUE
) WITHOUT ROWID;

CREATE TABLE dsr_requests (
    id       TEXT PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('access', 'portability', 'erasure')),
    subject  TEXT NOT NULL,
    received INTEGER NOT NULL,
    due      INTEGER NOT NULL,
    status   TEXT NOT NULL CHECK (status IN ('open', 'done', 'rejected')),
    closed   INTEGER NOT NULL DEFAULT 0,
    note     TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
