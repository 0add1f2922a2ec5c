package postgres

import (
	"context"
	"crypto/rand"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/internal/ratelimit"
)

var _ ratelimit.Store = (*Store)(nil)

// takeLimitSQL is the generic cell rate algorithm's step in one statement:
// the upsert locks the bucket's row, so nodes taking from one bucket at
// once take in turn; no row comes back when the bucket has no room.
const takeLimitSQL = `INSERT INTO rate_limits (key, tat) SELECT $1, $2::bigint + $3::bigint WHERE $3::bigint <= $4::bigint
	ON CONFLICT (key) DO UPDATE SET tat = greatest(rate_limits.tat, $2) + $3
	WHERE greatest(rate_limits.tat, $2) + $3 - $2 <= $4
	RETURNING tat`

// TakeRateLimit implements ratelimit.Store, on the pool whose commits do
// not wait for the WAL flush: a crash may forget the last takes.
func (s *Store) TakeRateLimit(ctx context.Context, key []byte, now, step, window int64) (bool, int64, error) {
	var tat int64
	err := s.limits.QueryRow(ctx, takeLimitSQL, key, now, step, window).Scan(&tat)
	if err == nil {
		return true, tat, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, 0, mapErr(err)
	}
	err = s.limits.QueryRow(ctx, `SELECT tat FROM rate_limits WHERE key = $1`, key).Scan(&tat)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, now, nil
	}
	return false, tat, mapErr(err)
}

// SweepRateLimits implements ratelimit.Store. The outer condition is
// checked again on a row a take changed meanwhile, which is then kept.
func (s *Store) SweepRateLimits(ctx context.Context, now int64, limit int) (int, error) {
	tag, err := s.limits.Exec(ctx, `DELETE FROM rate_limits WHERE tat <= $1 AND key IN (
		SELECT key FROM rate_limits WHERE tat <= $1 LIMIT $2)`, now, limit)
	if err != nil {
		return 0, mapErr(err)
	}
	return int(tag.RowsAffected()), nil
}

// RateLimitSecret implements ratelimit.Store.
func (s *Store) RateLimitSecret(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	if _, err := s.pool.Exec(ctx, `INSERT INTO rate_limit_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, fresh); err != nil {
		return nil, mapErr(err)
	}
	var secret []byte
	err := s.pool.QueryRow(ctx, `SELECT secret FROM rate_limit_secret WHERE id = 1`).Scan(&secret)
	return secret, mapErr(err)
}
