package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/storeutil"
)

func notFound(err, with error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return with
	}
	return mapErr(err)
}

// PutRegistrationCode implements devices.Store.
func (s *Store) PutRegistrationCode(ctx context.Context, number string, c devices.RegistrationCode) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO registration_codes (number, code_hash, expires, attempts) VALUES (?, ?, ?, 0)
		ON CONFLICT (number) DO UPDATE SET code_hash = excluded.code_hash, expires = excluded.expires, attempts = 0`,
		number, c.Hash, c.Expires.Unix())
	return mapErr(err)
}

// RegistrationCode implements devices.Store.
func (s *Store) RegistrationCode(ctx context.Context, number string) (devices.RegistrationCode, error) {
	var c devices.RegistrationCode
	var exp int64
	err := s.w.QueryRowContext(ctx, `SELECT code_hash, expires, attempts FROM registration_codes WHERE number = ?`, number).Scan(&c.Hash, &exp, &c.Attempts)
	if err != nil {
		return c, notFound(err, devices.ErrNotFound)
	}
	c.Expires = time.Unix(exp, 0)
	return c, nil
}

// TakeCodeAttempt implements devices.Store: the try is counted by the
// statement that returns the code, so concurrent tries cannot all read
// the count before any of them adds to it.
func (s *Store) TakeCodeAttempt(ctx context.Context, number string, now time.Time, maxTries int) (devices.RegistrationCode, error) {
	var c devices.RegistrationCode
	var exp int64
	err := s.w.QueryRowContext(ctx, `UPDATE registration_codes SET attempts = attempts + 1
		WHERE number = ? AND expires >= ? AND attempts < ? RETURNING code_hash, expires, attempts`,
		number, now.Unix(), maxTries).Scan(&c.Hash, &exp, &c.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		// Why none: read only to choose the answer.
		var attempts int
		err = s.w.QueryRowContext(ctx, `SELECT attempts FROM registration_codes WHERE number = ? AND expires >= ?`, number, now.Unix()).Scan(&attempts)
		if err == nil && attempts >= maxTries {
			return c, devices.ErrTooManyAttempts
		}
		return c, notFound(err, devices.ErrNotFound)
	}
	if err != nil {
		return c, mapErr(err)
	}
	c.Expires = time.Unix(exp, 0)
	return c, nil
}

// DeleteExpiredRegistrationCodes implements devices.Store.
func (s *Store) DeleteExpiredRegistrationCodes(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM registration_codes WHERE expires < ?`, now.Unix())
	if err != nil {
		return 0, mapErr(err)
	}
	return res.RowsAffected()
}

// Register implements devices.Store. SQLite has one writer at a time, so
// the transaction sees the number as no other registration leaves it.
func (s *Store) Register(ctx context.Context, r devices.Registration) (devices.Registered, error) {
	out := devices.Registered{AccountID: r.NewID}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if r.CodeHash != nil {
			res, err := tx.ExecContext(ctx, `DELETE FROM registration_codes WHERE number = ? AND code_hash = ?`, r.Number, r.CodeHash)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return cmp.Or(err, devices.ErrNotFound)
			}
		} else if _, err := tx.ExecContext(ctx, `DELETE FROM registration_codes WHERE number = ?`, r.Number); err != nil {
			return err
		}
		var existing string
		var active int64
		var locked bool
		err := tx.QueryRowContext(ctx, `SELECT n.account_id, max(a.last_seen, a.created), l.account_id IS NOT NULL
			FROM numbers n JOIN accounts a ON a.account_id = n.account_id
			LEFT JOIN registration_locks l ON l.account_id = n.account_id WHERE n.number = ?`, r.Number).Scan(&existing, &active, &locked)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case existing == r.Keep:
			// Devices cascade to their keys and envelopes.
			for _, q := range []string{
				`DELETE FROM devices WHERE account_id = ?`,
				`DELETE FROM provisioning_codes WHERE account_id = ?`,
			} {
				if _, err := tx.ExecContext(ctx, q, existing); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET identity_key = ?, next_device_id = 2 WHERE account_id = ?`, r.IdentityKey, existing); err != nil {
				return err
			}
			out.AccountID = existing
			return insertDevice(ctx, tx, existing, 1, r.Primary)
		case locked && active >= r.LockedSince.Unix():
			return devices.ErrRegistrationLocked
		default:
			out.Replaced = existing
			for _, q := range []string{
				`DELETE FROM numbers WHERE account_id = ?`,
				`DELETE FROM devices WHERE account_id = ?`,
				`DELETE FROM provisioning_codes WHERE account_id = ?`,
			} {
				if _, err := tx.ExecContext(ctx, q, existing); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET replaced = ? WHERE account_id = ?`, max(r.Primary.Created.Unix(), 1), existing); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (account_id, identity_key, next_device_id, created) VALUES (?, ?, 2, ?)`,
			r.NewID, r.IdentityKey, r.Primary.Created.Unix()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO numbers (number, account_id) VALUES (?, ?)`, r.Number, r.NewID); err != nil {
			return err
		}
		return insertDevice(ctx, tx, r.NewID, 1, r.Primary)
	})
	if err != nil {
		return devices.Registered{}, err
	}
	return out, nil
}

// NumberHolder implements devices.Store.
func (s *Store) NumberHolder(ctx context.Context, number string) (devices.Holder, error) {
	var h devices.Holder
	var active int64
	var l devices.RegistrationLock
	var created, since sql.NullInt64
	var failures sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT n.account_id, max(a.last_seen, a.created), l.token_hash, l.salt, l.created, l.failures, l.failures_since
		FROM numbers n JOIN accounts a ON a.account_id = n.account_id
		LEFT JOIN registration_locks l ON l.account_id = n.account_id WHERE n.number = ?`, number).
		Scan(&h.AccountID, &active, &l.TokenHash, &l.Salt, &created, &failures, &since)
	if err != nil {
		return h, notFound(err, devices.ErrNotFound)
	}
	h.LastActive = time.Unix(active, 0)
	if created.Valid {
		l.Created, l.Failures, l.FailuresSince = time.Unix(created.Int64, 0), int(failures.Int64), time.Unix(since.Int64, 0)
		h.Lock = &l
	}
	return h, nil
}

// SetRegistrationLock implements devices.Store.
func (s *Store) SetRegistrationLock(ctx context.Context, accountID string, l devices.RegistrationLock) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO registration_locks (account_id, token_hash, salt, created)
		SELECT account_id, ?, ?, ? FROM accounts WHERE account_id = ?
		ON CONFLICT (account_id) DO UPDATE SET token_hash = excluded.token_hash, salt = excluded.salt, created = excluded.created,
			failures = 0, failures_since = 0`, l.TokenHash, l.Salt, l.Created.Unix(), accountID)
	if err != nil {
		return mapErr(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return cmp.Or(err, devices.ErrNotFound)
	}
	return nil
}

// DeleteRegistrationLock implements devices.Store.
func (s *Store) DeleteRegistrationLock(ctx context.Context, accountID string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM registration_locks WHERE account_id = ?`, accountID)
	return mapErr(err)
}

// TakeLockAttempt implements devices.Store, in one statement as
// TakeCodeAttempt.
func (s *Store) TakeLockAttempt(ctx context.Context, accountID string, now time.Time, per time.Duration, maxTries int) (devices.RegistrationLock, error) {
	var l devices.RegistrationLock
	var created, since int64
	windowStart := now.Add(-per).Unix()
	err := s.w.QueryRowContext(ctx, `UPDATE registration_locks SET
			failures = CASE WHEN failures_since <= ?1 THEN 1 ELSE failures + 1 END,
			failures_since = CASE WHEN failures_since <= ?1 THEN ?2 ELSE failures_since END
		WHERE account_id = ?3 AND (failures_since <= ?1 OR failures < ?4)
		RETURNING token_hash, salt, created, failures, failures_since`,
		windowStart, now.Unix(), accountID, maxTries).Scan(&l.TokenHash, &l.Salt, &created, &l.Failures, &since)
	if errors.Is(err, sql.ErrNoRows) {
		var n int
		if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM registration_locks WHERE account_id = ?`, accountID).Scan(&n); err != nil {
			return l, mapErr(err)
		}
		if n > 0 {
			return l, devices.ErrTooManyAttempts
		}
		return l, devices.ErrNotFound
	}
	if err != nil {
		return l, mapErr(err)
	}
	l.Created, l.FailuresSince = time.Unix(created, 0), time.Unix(since, 0)
	return l, nil
}

// ResetLockAttempts implements devices.Store.
func (s *Store) ResetLockAttempts(ctx context.Context, accountID string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE registration_locks SET failures = 0, failures_since = 0 WHERE account_id = ?`, accountID)
	return mapErr(err)
}

// ReplacedAccounts implements devices.Store.
func (s *Store) ReplacedAccounts(ctx context.Context, limit int) ([]string, error) {
	var out []string
	err := each(ctx, s.r, `SELECT account_id FROM accounts WHERE replaced > 0 ORDER BY replaced LIMIT ?`, []any{limit}, func(rows *sql.Rows) error {
		var a string
		if err := rows.Scan(&a); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

func insertDevice(ctx context.Context, tx *sql.Tx, account string, id uint32, d devices.NewDevice) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO devices (account_id, device_id, password_hash, registration_id, name, created, last_seen_day)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, account, id, d.PasswordHash, d.RegistrationID, d.Name, d.Created.Unix(), storeutil.DayOf(d.Created)); err != nil {
		return err
	}
	if err := putSigned(ctx, tx, account, id, "ec", &d.SignedPreKey); err != nil {
		return err
	}
	return putSigned(ctx, tx, account, id, "pq", &d.PQLastResortPreKey)
}

func putSigned(ctx context.Context, tx *sql.Tx, account string, device uint32, kind string, k *api.SignedPreKey) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO signed_prekeys (account_id, device_id, kind, key_id, public_key, signature) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id, device_id, kind) DO UPDATE SET key_id = excluded.key_id, public_key = excluded.public_key, signature = excluded.signature`,
		account, device, kind, k.KeyID, k.PublicKey, k.Signature)
	return err
}

// IdentityKey implements devices.Store and keys.Store.
func (s *Store) IdentityKey(ctx context.Context, accountID string) ([]byte, error) {
	var ik []byte
	err := s.r.QueryRowContext(ctx, `SELECT identity_key FROM accounts WHERE account_id = ?`, accountID).Scan(&ik)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, storeutil.ErrNoAccount
	}
	return ik, mapErr(err)
}

// AccountByNumber implements devices.Store.
func (s *Store) AccountByNumber(ctx context.Context, number string) (string, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT account_id FROM numbers WHERE number = ?`, number).Scan(&id)
	return id, notFound(err, devices.ErrNotFound)
}

// Credential implements devices.Store.
func (s *Store) Credential(ctx context.Context, accountID string, deviceID uint32) (devices.Credential, error) {
	var c devices.Credential
	err := s.credential.QueryRowContext(ctx, accountID, deviceID).Scan(&c.PasswordHash, &c.LastSeenDay)
	return c, notFound(err, devices.ErrNotFound)
}

// TouchDevice implements devices.Store.
func (s *Store) TouchDevice(ctx context.Context, accountID string, deviceID uint32, day int64) error {
	_, err := s.w.ExecContext(ctx, `UPDATE devices SET last_seen_day = ? WHERE account_id = ? AND device_id = ? AND last_seen_day < ?`,
		day, accountID, deviceID, day)
	return mapErr(err)
}

// Devices implements devices.Store.
func (s *Store) Devices(ctx context.Context, accountID string) ([]devices.Device, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT device_id, registration_id, name, created, last_seen_day FROM devices WHERE account_id = ? ORDER BY device_id`, accountID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []devices.Device
	for rows.Next() {
		var d devices.Device
		var created int64
		if err := rows.Scan(&d.ID, &d.RegistrationID, &d.Name, &created, &d.LastSeenDay); err != nil {
			return nil, err
		}
		d.Created = time.Unix(created, 0)
		out = append(out, d)
	}
	return out, mapErr(rows.Err())
}

// AddDevice implements devices.Store.
func (s *Store) AddDevice(ctx context.Context, accountID string, d devices.NewDevice, maxDevices int) (uint32, error) {
	var id uint32
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE account_id = ?`, accountID).Scan(&one); err != nil {
			return notFound(err, devices.ErrNotFound)
		}
		rows, err := tx.QueryContext(ctx, `SELECT device_id FROM devices WHERE account_id = ?`, accountID)
		if err != nil {
			return err
		}
		used, err := scanIDs(rows)
		if err != nil {
			return err
		}
		free, ok := devices.NextDeviceID(used)
		if len(used) >= maxDevices || !ok {
			return devices.ErrTooManyDevices
		}
		id = free
		return insertDevice(ctx, tx, accountID, id, d)
	})
	return id, err
}

// RemoveDevice implements devices.Store.
func (s *Store) RemoveDevice(ctx context.Context, accountID string, deviceID uint32) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM devices WHERE account_id = ? AND device_id = ?`, accountID, deviceID)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return devices.ErrNotFound
	}
	return nil
}

// PutProvisioningCode implements devices.Store.
func (s *Store) PutProvisioningCode(ctx context.Context, accountID string, hash []byte, expires time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// Drop this account's expired codes while we are here.
		if _, err := tx.ExecContext(ctx, `DELETE FROM provisioning_codes WHERE account_id = ? AND expires < ?`, accountID, time.Now().Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO provisioning_codes (account_id, code_hash, expires) VALUES (?, ?, ?)`, accountID, hash, expires.Unix())
		return err
	})
}

// TakeProvisioningCode implements devices.Store.
func (s *Store) TakeProvisioningCode(ctx context.Context, accountID string, hash []byte, now time.Time) (bool, error) {
	var expires int64
	err := s.w.QueryRowContext(ctx, `DELETE FROM provisioning_codes WHERE account_id = ? AND code_hash = ? RETURNING expires`, accountID, hash).Scan(&expires)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, mapErr(err)
	}
	return now.Unix() <= expires, nil
}

// Presence implements devices.Store.
func (s *Store) Presence(ctx context.Context, accountID string) (int64, string, error) {
	var at int64
	var vis string
	err := s.r.QueryRowContext(ctx, `SELECT last_seen, last_seen_visibility FROM accounts WHERE account_id = ?`, accountID).Scan(&at, &vis)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", devices.ErrNotFound
	}
	return at, vis, mapErr(err)
}

// SetLastSeen implements devices.Store.
func (s *Store) SetLastSeen(ctx context.Context, accountID string, at int64) error {
	_, err := s.w.ExecContext(ctx, `UPDATE accounts SET last_seen = ? WHERE account_id = ? AND last_seen < ?`, at, accountID, at)
	return mapErr(err)
}

// SetLastSeenVisibility implements devices.Store.
func (s *Store) SetLastSeenVisibility(ctx context.Context, accountID, visibility string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE accounts SET last_seen_visibility = ? WHERE account_id = ?`, visibility, accountID)
	if err != nil {
		return mapErr(err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return devices.ErrNotFound
	}
	return nil
}

// scanIDs reads a column of device ids and closes rows.
func scanIDs(rows *sql.Rows) ([]uint32, error) {
	defer rows.Close()
	var ids []uint32
	for rows.Next() {
		var id uint32
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
