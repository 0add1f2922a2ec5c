-- One push registration per device: where to wake it. data is the
-- registration as JSON (tokens, endpoint, keys). woken is when the last
-- wake-up was claimed (Unix seconds; 0: none since the device last
-- connected), so that nodes together send one wake-up per absence.
CREATE TABLE push_registrations (
    account_id uuid NOT NULL,
    device_id  integer NOT NULL,
    kind       text NOT NULL,
    data       bytea NOT NULL,
    created    bigint NOT NULL,
    updated    bigint NOT NULL,
    woken      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, device_id),
    FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, device_id) ON DELETE CASCADE
);
