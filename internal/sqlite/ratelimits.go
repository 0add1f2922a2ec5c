package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"

	"github.com/hushmsg/hush/internal/ratelimit"
)

var _ ratelimit.Store = (*Store)(nil)

// TakeRateLimit implements ratelimit.Store: one upsert on the writer,
// which is atomic as every SQLite write is.
func (s *Store) TakeRateLimit(ctx context.Context, key []byte, now, step, window int64) (bool, int64, error) {
	var tat int64
	err := s.takeLimit.QueryRowContext(ctx, key, now, step, window).Scan(&tat)
	if err == nil {
		return true, tat, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, 0, mapErr(err)
	}
	err = s.w.QueryRowContext(ctx, `SELECT tat FROM rate_limits WHERE key = ?`, key).Scan(&tat)
	if errors.Is(err, sql.ErrNoRows) {
		return false, now, nil
	}
	return false, tat, mapErr(err)
}

// takeLimitSQL is the generic cell rate algorithm's step in one statement:
// no row comes back when the bucket has no room.
const takeLimitSQL = `INSERT INTO rate_limits (key, tat) SELECT ?1, ?2 + ?3 WHERE ?3 <= ?4
	ON CONFLICT (key) DO UPDATE SET tat = max(tat, ?2) + ?3 WHERE max(tat, ?2) + ?3 - ?2 <= ?4
	RETURNING tat`

// SweepRateLimits implements ratelimit.Store.
func (s *Store) SweepRateLimits(ctx context.Context, now int64, limit int) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits WHERE tat <= ?1 LIMIT ?2)`, now, limit)
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// RateLimitSecret implements ratelimit.Store.
func (s *Store) RateLimitSecret(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	if _, err := s.w.ExecContext(ctx, `INSERT INTO rate_limit_secret (id, secret) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`, fresh); err != nil {
		return nil, mapErr(err)
	}
	var secret []byte
	err := s.w.QueryRowContext(ctx, `SELECT secret FROM rate_limit_secret WHERE id = 1`).Scan(&secret)
	return secret, mapErr(err)
}
