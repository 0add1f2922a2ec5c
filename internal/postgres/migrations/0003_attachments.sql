-- An attachment's record: never its key, name or type. The object itself
-- lives in the blob store under the id. No foreign key to accounts: an
-- account's deletion must not drop records whose objects still exist, so
-- the trigger below marks them for the sweeper instead.
CREATE TABLE attachments (
    id        text PRIMARY KEY,
    owner     uuid NOT NULL,
    size      bigint NOT NULL,
    upload_id text NOT NULL,
    state     text NOT NULL CHECK (state IN ('uploading', 'ready', 'deleting')),
    created   bigint NOT NULL,
    expires   bigint NOT NULL
);
CREATE INDEX attachments_owner ON attachments (owner);
CREATE INDEX attachments_expires ON attachments (expires);
CREATE INDEX attachments_deleting ON attachments (id) WHERE state = 'deleting';

CREATE FUNCTION release_attachments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE attachments SET state = 'deleting' WHERE owner = OLD.account_id;
    RETURN OLD;
END;
$$;

CREATE TRIGGER accounts_release_attachments AFTER DELETE ON accounts
FOR EACH ROW EXECUTE FUNCTION release_attachments();
