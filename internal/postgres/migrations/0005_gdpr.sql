-- Admin tokens: the public id and the SHA-256 of the secret.
CREATE TABLE admin_tokens (
    id      text PRIMARY KEY,
    name    text NOT NULL,
    role    text NOT NULL CHECK (role IN ('compliance', 'operator')),
    hash    bytea NOT NULL,
    created bigint NOT NULL,
    revoked bigint NOT NULL DEFAULT 0
);

-- The audit log: append-only, each entry sealed with the hash of the one
-- before. Subjects are pseudonyms; the trigger refuses changes in place.
CREATE TABLE audit_log (
    seq     bigint PRIMARY KEY,
    at      bigint NOT NULL, -- Unix ms
    actor   text NOT NULL,
    action  text NOT NULL,
    subject text NOT NULL,
    detail  text NOT NULL,
    prev    bytea NOT NULL,
    hash    bytea NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject) WHERE subject <> '';
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- An account's audit pseudonym; erasing the account deletes the row, so
-- the log no longer leads to it.
CREATE TABLE audit_subjects (
    account_id uuid PRIMARY KEY REFERENCES accounts (account_id) ON DELETE CASCADE,
    pseudonym  text NOT NULL UNIQUE
);

CREATE TABLE dsr_requests (
    id       text PRIMARY KEY,
    kind     text NOT NULL CHECK (kind IN ('access', 'portability', 'erasure')),
    subject  text NOT NULL,
    received bigint NOT NULL,
    due      bigint NOT NULL,
    status   text NOT NULL CHECK (status IN ('open', 'done', 'rejected')),
    closed   bigint NOT NULL DEFAULT 0,
    note     text NOT NULL DEFAULT ''
);
