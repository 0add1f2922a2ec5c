-- An attachment's record: never its key, name or type. The object itself
-- lives in the blob store under the id. No foreign key to accounts: an
-- account's deletion must not drop records whose objects still exist, so
-- the trigger below marks them for the sweeper instead.
CREATE TABLE attachments (
    id        TEXT PRIMARY KEY,
    owner     TEXT NOT NULL,
    size      INTEGER NOT NULL,
    upload_id TEXT NOT NULL,
    state     TEXT NOT NULL CHECK (state IN ('uploading', 'ready', 'deleting')),
    created   INTEGER NOT NULL,
    expires   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX attachments_owner ON attachments (owner);
CREATE INDEX attachments_expires ON attachments (expires);
CREATE INDEX attachments_deleting ON attachments (id) WHERE state = 'deleting';

CREATE TRIGGER accounts_release_attachments AFTER DELETE ON accounts
BEGIN
    UPDATE attachments SET state = 'deleting' WHERE owner = OLD.account_id;
END;
