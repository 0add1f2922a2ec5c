// Package postgres is the production store: every Store interface of the
// domain packages on PostgreSQL through pgx's connection pool.
//
// It promises what internal/sqlite promises, checked by the same
// conformance suite: a write is committed before it returns, one-time
// prekey claims never hand a key out twice (row locks with SKIP LOCKED),
// and mailbox positions are committed in order within a mailbox (the
// device row's counter is locked by the inserting transaction). Errors that
// mean "the database is away" are marked httpx.ErrUnavailable, which the
// API answers with 503 and Retry-After. Migrations are the numbered files
// in migrations/, applied under an advisory lock so that nodes starting
// together do not race.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/internal/batch"
	"github.com/hushmsg/hush/internal/httpx"
	"github.com/hushmsg/hush/internal/migrate"
	"github.com/hushmsg/hush/keys"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL store.
type Store struct {
	pool        *pgxpool.Pool
	limits      *pgxpool.Pool                      // rate limits: commits do not wait for the WAL flush
	claims      *batch.Batcher[*claimRequest]      // group commit of prekey claims
	credentials *batch.Batcher[*credentialRequest] // batched credential reads
}

var (
	_ devices.Store  = (*Store)(nil)
	_ keys.Store     = (*Store)(nil)
	_ envelope.Store = (*Store)(nil)
)

// Open connects to the database at url (postgres://...) and migrates it.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	// Fail fast while the database is away: requests answer 503 at once
	// instead of queueing behind dials that will not succeed.
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 2*time.Second {
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	// A rate limit's bucket lost in a crash only forgets a few takes:
	// not worth a WAL flush per take (about 2 ms on a disk that syncs).
	lcfg := cfg.Copy()
	lcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	lcfg.MaxConns = min(cfg.MaxConns, 4)
	if s.limits, err = pgxpool.NewWithConfig(ctx, lcfg); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s.claims = batch.New(claimBatch, s.flushClaims)
	s.credentials = batch.New(credentialBatch, s.flushCredentials)
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.claims.Stop()
	s.credentials.Stop()
	s.pool.Close()
	s.limits.Close()
	return nil
}

// Ping checks that the database answers, for readiness.
func (s *Store) Ping(ctx context.Context) error { return mapErr(s.pool.Ping(ctx)) }

func (s *Store) migrate(ctx context.Context) error {
	scripts, err := migrate.Scripts(migrations, "migrations")
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		// One migrator at a time across every node.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7461203)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, migrate.Table); err != nil {
			return err
		}
		for _, sc := range scripts {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, sc.Version).Scan(&done); err != nil {
				return err
			}
			if done {
				continue
			}
			if _, err := tx.Exec(ctx, sc.SQL); err != nil {
				return fmt.Errorf("apply %s: %w", sc.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, sc.Version); err != nil {
				return err
			}
		}
		return nil
	})
}

// tx runs fn in a transaction.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return mapErr(pgx.BeginFunc(ctx, s.pool, fn))
}

// mapErr marks errors that mean "the database is away" as unavailable.
func mapErr(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exceptions
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, crash, cannot connect now
			pe.Code == "53300",                     // too many connections
			pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock: retry
			return fmt.Errorf("%w: %w", httpx.ErrUnavailable, err)
		}
		return err
	}
	// Not an answer from the server: a dial, network or timeout error.
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isNetErr(err) {
		return fmt.Errorf("%w: %w", httpx.ErrUnavailable, err)
	}
	return err
}

func isNetErr(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "conn closed") || strings.Contains(msg, "closed pool")
}

// Stats counts rows, for operators and checks.
func (s *Store) Stats(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range []string{"accounts", "devices", "envelopes", "one_time_prekeys", "registration_codes", "provisioning_codes", "groups", "group_members", "payloads", "attachments", "push_registrations", "admin_tokens", "audit_log", "audit_subjects", "dsr_requests", "erasures", "registration_locks"} {
		var n int64
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return nil, mapErr(err)
		}
		out[t] = n
	}
	return out, nil
}
