package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"

	"github.com/hushmsg/hush/internal/ratelimit"
)

var _ ratelimit.Store = (*Store)(nil)

// TakeRateLimit implements ratelimit.Store: one upsert on the writer,
// which is atomic as every SQLite write is. It commits without waiting
// for the disk (synchronous=NORMAL for that statement: a crash may forget
// the last takes, never corrupt anything); the writer's next durable
// commit syncs it along.
func (s *Store) TakeRateLimit(ctx context.Context, key []byte, now, step, window int64) (bool, int64, error) {
	var tat int64
	err := s.lazy(ctx, func(c *sql.Conn) error {
		return c.QueryRowContext(ctx, takeLimitSQL, key, now, step, window).Scan(&tat)
	})
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

// lazy runs fn on the writer with synchronous=NORMAL, then sets it back.
func (s *Store) lazy(ctx context.Context, fn func(*sql.Conn) error) error {
	c, err := s.w.Conn(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return mapErr(err)
	}
	err = fn(c)
	// Back to FULL even when ctx has ended: the writer's other commits
	// must stay durable.
	if _, serr := c.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = FULL`); serr != nil {
		_ = c.Raw(func(any) error { return driver.ErrBadConn }) // drop the connection rather than keep it lazy
		return mapErr(serr)
	}
	return err
}

// SweepRateLimits implements ratelimit.Store.
func (s *Store) SweepRateLimits(ctx context.Context, now int64, limit int) (int, error) {
	var n int64
	err := s.lazy(ctx, func(c *sql.Conn) error {
		res, err := c.ExecContext(ctx, `DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits WHERE tat <= ?1 LIMIT ?2)`, now, limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), mapErr(err)
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
