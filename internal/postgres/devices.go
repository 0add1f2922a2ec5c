package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/batch"
	"github.com/hushmsg/hush/internal/httpx"
	"github.com/hushmsg/hush/internal/storeutil"
)

func notFound(err, with error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return with
	}
	return mapErr(err)
}

// PutRegistrationCode implements devices.Store.
func (s *Store) PutRegistrationCode(ctx context.Context, number string, c devices.RegistrationCode) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO registration_codes (number, code_hash, expires, attempts) VALUES ($1, $2, $3, 0)
		ON CONFLICT (number) DO UPDATE SET code_hash = excluded.code_hash, expires = excluded.expires, attempts = 0`,
		number, c.Hash, c.Expires.Unix())
	return mapErr(err)
}

// RegistrationCode implements devices.Store.
func (s *Store) RegistrationCode(ctx context.Context, number string) (devices.RegistrationCode, error) {
	var c devices.RegistrationCode
	var exp int64
	err := s.pool.QueryRow(ctx, `SELECT code_hash, expires, attempts FROM registration_codes WHERE number = $1`, number).Scan(&c.Hash, &exp, &c.Attempts)
	if err != nil {
		return c, notFound(err, devices.ErrNotFound)
	}
	c.Expires = time.Unix(exp, 0)
	return c, nil
}

// TakeCodeAttempt implements devices.Store: the UPDATE locks the row, so
// concurrent tries queue on it and each sees the count the one before
// left.
func (s *Store) TakeCodeAttempt(ctx context.Context, number string, now time.Time, maxTries int) (devices.RegistrationCode, error) {
	var c devices.RegistrationCode
	var exp int64
	var attempts int32
	err := s.pool.QueryRow(ctx, `UPDATE registration_codes SET attempts = attempts + 1
		WHERE number = $1 AND expires >= $2 AND attempts < $3 RETURNING code_hash, expires, attempts`,
		number, now.Unix(), maxTries).Scan(&c.Hash, &exp, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		// Why none: read only to choose the answer.
		err = s.pool.QueryRow(ctx, `SELECT attempts FROM registration_codes WHERE number = $1 AND expires >= $2`, number, now.Unix()).Scan(&attempts)
		if err == nil && int(attempts) >= maxTries {
			return c, devices.ErrTooManyAttempts
		}
		return c, notFound(err, devices.ErrNotFound)
	}
	if err != nil {
		return c, mapErr(err)
	}
	c.Expires, c.Attempts = time.Unix(exp, 0), int(attempts)
	return c, nil
}

// DeleteExpiredRegistrationCodes implements devices.Store.
func (s *Store) DeleteExpiredRegistrationCodes(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM registration_codes WHERE expires < $1`, now.Unix())
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
}

// Register implements devices.Store.
func (s *Store) Register(ctx context.Context, r devices.Registration) (devices.Registered, error) {
	out := devices.Registered{AccountID: r.NewID}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// Two registrations of one number queue here instead of racing.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, r.Number); err != nil {
			return err
		}
		if r.CodeHash != nil {
			tag, err := tx.Exec(ctx, `DELETE FROM registration_codes WHERE number = $1 AND code_hash = $2`, r.Number, r.CodeHash)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return devices.ErrNotFound
			}
		} else if _, err := tx.Exec(ctx, `DELETE FROM registration_codes WHERE number = $1`, r.Number); err != nil {
			return err
		}
		var existing string
		var active int64
		var locked bool
		// The account row is locked, so an erasure of it waits (and the
		// erasure's own lock makes this wait for it).
		err := tx.QueryRow(ctx, `SELECT n.account_id::text, greatest(a.last_seen, a.created), l.account_id IS NOT NULL
			FROM numbers n JOIN accounts a ON a.account_id = n.account_id
			LEFT JOIN registration_locks l ON l.account_id = n.account_id WHERE n.number = $1 FOR UPDATE OF a`, r.Number).Scan(&existing, &active, &locked)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case existing == r.Keep:
			// Devices cascade to their keys and envelopes.
			for _, q := range []string{
				`DELETE FROM devices WHERE account_id = $1`,
				`DELETE FROM provisioning_codes WHERE account_id = $1`,
			} {
				if _, err := tx.Exec(ctx, q, existing); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE accounts SET identity_key = $1, next_device_id = 2 WHERE account_id = $2`, r.IdentityKey, existing); err != nil {
				return err
			}
			out.AccountID = existing
			return insertDevice(ctx, tx, existing, 1, r.Primary)
		case locked && active >= r.LockedSince.Unix():
			return devices.ErrRegistrationLocked
		default:
			out.Replaced = existing
			for _, q := range []string{
				`DELETE FROM numbers WHERE account_id = $1`,
				`DELETE FROM devices WHERE account_id = $1`,
				`DELETE FROM provisioning_codes WHERE account_id = $1`,
			} {
				if _, err := tx.Exec(ctx, q, existing); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE accounts SET replaced = $1 WHERE account_id = $2`, max(r.Primary.Created.Unix(), 1), existing); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (account_id, identity_key, next_device_id, created) VALUES ($1, $2, 2, $3)`,
			r.NewID, r.IdentityKey, r.Primary.Created.Unix()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO numbers (number, account_id) VALUES ($1, $2)`, r.Number, r.NewID); err != nil {
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
	var created, since *int64
	var failures *int32
	err := s.pool.QueryRow(ctx, `SELECT n.account_id::text, greatest(a.last_seen, a.created), l.token_hash, l.salt, l.created, l.failures, l.failures_since
		FROM numbers n JOIN accounts a ON a.account_id = n.account_id
		LEFT JOIN registration_locks l ON l.account_id = n.account_id WHERE n.number = $1`, number).
		Scan(&h.AccountID, &active, &l.TokenHash, &l.Salt, &created, &failures, &since)
	if err != nil {
		return h, notFound(err, devices.ErrNotFound)
	}
	h.LastActive = time.Unix(active, 0)
	if created != nil {
		l.Created, l.Failures, l.FailuresSince = time.Unix(*created, 0), int(*failures), time.Unix(*since, 0)
		h.Lock = &l
	}
	return h, nil
}

// SetRegistrationLock implements devices.Store.
func (s *Store) SetRegistrationLock(ctx context.Context, accountID string, l devices.RegistrationLock) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO registration_locks (account_id, token_hash, salt, created)
		SELECT account_id, $1, $2, $3 FROM accounts WHERE account_id = $4
		ON CONFLICT (account_id) DO UPDATE SET token_hash = excluded.token_hash, salt = excluded.salt, created = excluded.created,
			failures = 0, failures_since = 0`, l.TokenHash, l.Salt, l.Created.Unix(), accountID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return devices.ErrNotFound
	}
	return nil
}

// DeleteRegistrationLock implements devices.Store.
func (s *Store) DeleteRegistrationLock(ctx context.Context, accountID string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM registration_locks WHERE account_id = $1`, accountID)
	return mapErr(err)
}

// TakeLockAttempt implements devices.Store, in one statement as
// TakeCodeAttempt.
func (s *Store) TakeLockAttempt(ctx context.Context, accountID string, now time.Time, per time.Duration, maxTries int) (devices.RegistrationLock, error) {
	var l devices.RegistrationLock
	var created, since int64
	var failures int32
	err := s.pool.QueryRow(ctx, `UPDATE registration_locks SET
			failures = CASE WHEN failures_since <= $1 THEN 1 ELSE failures + 1 END,
			failures_since = CASE WHEN failures_since <= $1 THEN $2 ELSE failures_since END
		WHERE account_id = $3 AND (failures_since <= $1 OR failures < $4)
		RETURNING token_hash, salt, created, failures, failures_since`,
		now.Add(-per).Unix(), now.Unix(), accountID, maxTries).Scan(&l.TokenHash, &l.Salt, &created, &failures, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		var n int64
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM registration_locks WHERE account_id = $1`, accountID).Scan(&n); err != nil {
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
	l.Created, l.Failures, l.FailuresSince = time.Unix(created, 0), int(failures), time.Unix(since, 0)
	return l, nil
}

// ResetLockAttempts implements devices.Store.
func (s *Store) ResetLockAttempts(ctx context.Context, accountID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE registration_locks SET failures = 0, failures_since = 0 WHERE account_id = $1`, accountID)
	return mapErr(err)
}

// ReplacedAccounts implements devices.Store.
func (s *Store) ReplacedAccounts(ctx context.Context, limit int) ([]string, error) {
	var out []string
	err := s.each(ctx, `SELECT account_id::text FROM accounts WHERE replaced > 0 ORDER BY replaced LIMIT $1`, []any{limit}, func(rows pgx.Rows) error {
		var a string
		if err := rows.Scan(&a); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

func insertDevice(ctx context.Context, tx pgx.Tx, account string, id uint32, d devices.NewDevice) error {
	if _, err := tx.Exec(ctx, `INSERT INTO devices (account_id, device_id, password_hash, registration_id, name, created, last_seen_day)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, account, id, d.PasswordHash, d.RegistrationID, d.Name, d.Created.Unix(), storeutil.DayOf(d.Created)); err != nil {
		return err
	}
	if err := putSigned(ctx, tx, account, id, "ec", &d.SignedPreKey); err != nil {
		return err
	}
	return putSigned(ctx, tx, account, id, "pq", &d.PQLastResortPreKey)
}

func putSigned(ctx context.Context, tx pgx.Tx, account string, device uint32, kind string, k *api.SignedPreKey) error {
	_, err := tx.Exec(ctx, `INSERT INTO signed_prekeys (account_id, device_id, kind, key_id, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (account_id, device_id, kind) DO UPDATE SET key_id = excluded.key_id, public_key = excluded.public_key, signature = excluded.signature`,
		account, device, kind, k.KeyID, k.PublicKey, k.Signature)
	return err
}

// IdentityKey implements devices.Store and keys.Store.
func (s *Store) IdentityKey(ctx context.Context, accountID string) ([]byte, error) {
	var ik []byte
	err := s.pool.QueryRow(ctx, `SELECT identity_key FROM accounts WHERE account_id = $1`, accountID).Scan(&ik)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, storeutil.ErrNoAccount
	}
	return ik, mapErr(err)
}

// AccountByNumber implements devices.Store.
func (s *Store) AccountByNumber(ctx context.Context, number string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT account_id FROM numbers WHERE number = $1`, number).Scan(&id)
	return id, notFound(err, devices.ErrNotFound)
}

// Credential implements devices.Store. Every authenticated request reads
// one, so the reads of concurrent requests are batched (internal/batch)
// into one statement: one round trip, and one statement for PostgreSQL to
// run, for all of them. The store still decides every request: nothing is
// cached.
func (s *Store) Credential(ctx context.Context, accountID string, deviceID uint32) (devices.Credential, error) {
	if _, err := uuid.Parse(accountID); err != nil {
		return devices.Credential{}, devices.ErrNotFound // not an account id: no such account
	}
	r := &credentialRequest{account: accountID, device: deviceID}
	if err := s.credentials.Do(ctx, r); err != nil {
		if errors.Is(err, batch.ErrClosed) {
			err = fmt.Errorf("%w: %w", httpx.ErrUnavailable, err)
		}
		return devices.Credential{}, err
	}
	if !r.found {
		return devices.Credential{}, devices.ErrNotFound
	}
	return r.cred, nil
}

const credentialBatch = 64

// credentialRequest is one Credential call in a batch, and its answer.
type credentialRequest struct {
	account string
	device  uint32
	cred    devices.Credential
	found   bool
}

func (s *Store) flushCredentials(ctx context.Context, reqs []*credentialRequest) error {
	if len(reqs) == 1 {
		r := reqs[0]
		err := s.pool.QueryRow(ctx, `SELECT password_hash, last_seen_day FROM devices WHERE account_id = $1 AND device_id = $2`,
			r.account, int64(r.device)).Scan(&r.cred.PasswordHash, &r.cred.LastSeenDay)
		r.found = err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return mapErr(err)
	}
	accounts, devs := make([]string, len(reqs)), make([]int64, len(reqs))
	for i, r := range reqs {
		accounts[i], devs[i] = r.account, int64(r.device)
	}
	rows, err := s.pool.Query(ctx, `SELECT k.n, d.password_hash, d.last_seen_day
		FROM unnest($1::uuid[], $2::int[]) WITH ORDINALITY AS k (account_id, device_id, n)
		JOIN devices d ON d.account_id = k.account_id AND d.device_id = k.device_id`, accounts, devs)
	if err != nil {
		return mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		var c devices.Credential
		if err := rows.Scan(&n, &c.PasswordHash, &c.LastSeenDay); err != nil {
			return err
		}
		if n < 1 || int(n) > len(reqs) {
			return fmt.Errorf("credential batch: row %d of %d", n, len(reqs))
		}
		reqs[n-1].cred, reqs[n-1].found = c, true
	}
	return mapErr(rows.Err())
}

// TouchDevice implements devices.Store.
func (s *Store) TouchDevice(ctx context.Context, accountID string, deviceID uint32, day int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE devices SET last_seen_day = $1 WHERE account_id = $2 AND device_id = $3 AND last_seen_day < $1`,
		day, accountID, deviceID)
	return mapErr(err)
}

// Devices implements devices.Store.
func (s *Store) Devices(ctx context.Context, accountID string) ([]devices.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT device_id, registration_id, name, created, last_seen_day FROM devices WHERE account_id = $1 ORDER BY device_id`, accountID)
	if err != nil {
		return nil, mapErr(err)
	}
	var out []devices.Device
	var created int64
	defer rows.Close()
	for rows.Next() {
		var d devices.Device
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// The account row lock serializes linking on one account.
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE`, accountID).Scan(&one); err != nil {
			return notFound(err, devices.ErrNotFound)
		}
		rows, err := tx.Query(ctx, `SELECT device_id FROM devices WHERE account_id = $1`, accountID)
		if err != nil {
			return err
		}
		used, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		ids := make([]uint32, len(used))
		for i, u := range used {
			ids[i] = uint32(u)
		}
		free, ok := devices.NextDeviceID(ids)
		if len(ids) >= maxDevices || !ok {
			return devices.ErrTooManyDevices
		}
		id = free
		return insertDevice(ctx, tx, accountID, id, d)
	})
	return id, err
}

// RemoveDevice implements devices.Store.
func (s *Store) RemoveDevice(ctx context.Context, accountID string, deviceID uint32) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM devices WHERE account_id = $1 AND device_id = $2`, accountID, deviceID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return devices.ErrNotFound
	}
	return nil
}

// PutProvisioningCode implements devices.Store.
func (s *Store) PutProvisioningCode(ctx context.Context, accountID string, hash []byte, expires time.Time) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM provisioning_codes WHERE account_id = $1 AND expires < $2`, accountID, time.Now().Unix()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO provisioning_codes (account_id, code_hash, expires) VALUES ($1, $2, $3)`, accountID, hash, expires.Unix())
		return err
	})
}

// TakeProvisioningCode implements devices.Store.
func (s *Store) TakeProvisioningCode(ctx context.Context, accountID string, hash []byte, now time.Time) (bool, error) {
	var expires int64
	err := s.pool.QueryRow(ctx, `DELETE FROM provisioning_codes WHERE account_id = $1 AND code_hash = $2 RETURNING expires`, accountID, hash).Scan(&expires)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err := s.pool.QueryRow(ctx, `SELECT last_seen, last_seen_visibility FROM accounts WHERE account_id = $1`, accountID).Scan(&at, &vis)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", devices.ErrNotFound
	}
	return at, vis, mapErr(err)
}

// SetLastSeen implements devices.Store.
func (s *Store) SetLastSeen(ctx context.Context, accountID string, at int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE accounts SET last_seen = $2 WHERE account_id = $1 AND last_seen < $2`, accountID, at)
	return mapErr(err)
}

// SetLastSeenVisibility implements devices.Store.
func (s *Store) SetLastSeenVisibility(ctx context.Context, accountID, visibility string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE accounts SET last_seen_visibility = $2 WHERE account_id = $1`, accountID, visibility)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return devices.ErrNotFound
	}
	return nil
}
