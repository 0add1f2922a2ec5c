package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/push"
)

// PutPushRegistration implements push.Store.
func (s *Store) PutPushRegistration(ctx context.Context, account string, device uint32, kind string, data []byte, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO push_registrations (account_id, device_id, kind, data, created, updated, woken)
		SELECT account_id, device_id, $1, $2, $3, $3, 0 FROM devices WHERE account_id = $4 AND device_id = $5
		ON CONFLICT (account_id, device_id) DO UPDATE SET kind = excluded.kind, data = excluded.data, updated = excluded.updated, woken = 0`,
		kind, data, now.Unix(), account, int64(device))
	return affected(tag, err, push.ErrUnknownDevice)
}

// PushRegistration implements push.Store.
func (s *Store) PushRegistration(ctx context.Context, account string, device uint32) (push.Stored, error) {
	return scanPush(s.pool.QueryRow(ctx, `SELECT kind, data, created, updated, woken FROM push_registrations WHERE account_id = $1 AND device_id = $2`, account, int64(device)))
}

func scanPush(row pgx.Row) (push.Stored, error) {
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
	_, err := s.pool.Exec(ctx, `DELETE FROM push_registrations WHERE account_id = $1 AND device_id = $2 AND ($3::bytea IS NULL OR data = $3)`,
		account, int64(device), data)
	return mapErr(err)
}

// ClaimWake implements push.Store: one conditional update, so that of
// concurrent claims exactly one wins.
func (s *Store) ClaimWake(ctx context.Context, account string, device uint32, now, notBefore time.Time) (push.Stored, bool, error) {
	st, err := scanPush(s.pool.QueryRow(ctx, `UPDATE push_registrations SET woken = $1
		WHERE account_id = $2 AND device_id = $3 AND (woken = 0 OR woken <= $4)
		RETURNING kind, data, created, updated, woken`, now.Unix(), account, int64(device), notBefore.Unix()))
	if errors.Is(err, push.ErrNotFound) {
		return st, false, nil
	}
	return st, err == nil, err
}

// ResetWake implements push.Store.
func (s *Store) ResetWake(ctx context.Context, account string, device uint32) error {
	_, err := s.pool.Exec(ctx, `UPDATE push_registrations SET woken = 0 WHERE account_id = $1 AND device_id = $2 AND woken <> 0`, account, int64(device))
	return mapErr(err)
}

var _ push.Store = (*Store)(nil)
