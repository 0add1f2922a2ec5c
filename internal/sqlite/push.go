package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hushmsg/hush/push"
)

// PutPushRegistration implements push.Store.
func (s *Store) PutPushRegistration(ctx context.Context, account string, device uint32, kind string, data []byte, now time.Time) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO push_registrations (account_id, device_id, kind, data, created, updated, woken)
		SELECT account_id, device_id, ?, ?, ?, ?, 0 FROM devices WHERE account_id = ? AND device_id = ?
		ON CONFLICT (account_id, device_id) DO UPDATE SET kind = excluded.kind, data = excluded.data, updated = excluded.updated, woken = 0`,
		kind, data, now.Unix(), now.Unix(), account, device)
	return affected(res, err, push.ErrUnknownDevice)
}

// PushRegistration implements push.Store.
func (s *Store) PushRegistration(ctx context.Context, account string, device uint32) (push.Stored, error) {
	return scanPush(s.r.QueryRowContext(ctx, `SELECT kind, data, created, updated, woken FROM push_registrations WHERE account_id = ? AND device_id = ?`, account, device))
}

func scanPush(row *sql.Row) (push.Stored, error) {
	var st push.Stored
	var created, updated, woken int64
	if err := row.Scan(&st.Kind, &st.Data, &created, &updated, &woken); err != nil {
		return st, notFound(err, push.ErrNotFound)
	}
	st.Created, st.Updated = time.Unix(created, 0), time.Unix(updated, 0)
	if woken != 0 {
		st.Woken = time.Unix(woken, 0)
	}
	return st, nil
}

// DeletePushRegistration implements push.Store.
func (s *Store) DeletePushRegistration(ctx context.Context, account string, device uint32, data []byte) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM push_registrations WHERE account_id = ? AND device_id = ? AND (? IS NULL OR data = ?)`,
		account, device, data, data)
	return mapErr(err)
}

// ClaimWake implements push.Store. It reads first, on a reader, so that
// envelopes for devices without a registration, or already woken, cost
// the single writer nothing.
func (s *Store) ClaimWake(ctx context.Context, account string, device uint32, now, notBefore time.Time) (push.Stored, bool, error) {
	st, err := s.PushRegistration(ctx, account, device)
	if errors.Is(err, push.ErrNotFound) {
		return st, false, nil
	}
	if err != nil || !st.Woken.IsZero() && st.Woken.After(notBefore) {
		return st, false, err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE push_registrations SET woken = ? WHERE account_id = ? AND device_id = ? AND (woken = 0 OR woken <= ?)`,
		now.Unix(), account, device, notBefore.Unix())
	if err := affected(res, err, push.ErrNotFound); err != nil {
		if errors.Is(err, push.ErrNotFound) {
			return st, false, nil
		}
		return st, false, err
	}
	st.Woken = time.Unix(now.Unix(), 0)
	return st, true, nil
}

// ResetWake implements push.Store.
func (s *Store) ResetWake(ctx context.Context, account string, device uint32) error {
	var woken int64
	err := s.r.QueryRowContext(ctx, `SELECT woken FROM push_registrations WHERE account_id = ? AND device_id = ?`, account, device).Scan(&woken)
	if errors.Is(err, sql.ErrNoRows) || err == nil && woken == 0 {
		return nil
	}
	if err != nil {
		return mapErr(err)
	}
	_, err = s.w.ExecContext(ctx, `UPDATE push_registrations SET woken = 0 WHERE account_id = ? AND device_id = ?`, account, device)
	return mapErr(err)
}

var _ push.Store = (*Store)(nil)
