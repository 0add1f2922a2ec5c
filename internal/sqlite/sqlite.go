// Package sqlite is the embedded store: every Store interface of the domain
// packages on one SQLite file, through the pure-Go modernc.org/sqlite
// driver (no cgo).
//
// It promises durability before it returns from a write (WAL with
// synchronous=FULL) and atomic claims and registrations (one writer
// connection, immediate transactions). Migrations are the numbered files in
// migrations/, applied in order at Open. It stores only what the domain
// packages hand it: opaque ciphertexts, public keys and hashes.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/internal/batch"
	"github.com/hushmsg/hush/internal/httpx"
	"github.com/hushmsg/hush/internal/migrate"
	"github.com/hushmsg/hush/keys"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite store.
type Store struct {
	w *sql.DB // the one writer connection
	r *sql.DB // readers

	// Statements of the hot paths, prepared once: parsing SQL was a
	// quarter of the relay's CPU.
	credential, recipients, fetch *sql.Stmt // on r
	insert, ack                   *sql.Stmt // on w
	claimSelect, claimDelete      *sql.Stmt // on w

	claims *batch.Batcher[*claimRequest] // group commit of prekey claims
}

var (
	_ devices.Store  = (*Store)(nil)
	_ keys.Store     = (*Store)(nil)
	_ envelope.Store = (*Store)(nil)
)

// walSizeLimit is what the write-ahead log is cut back to whenever it is
// reset after a checkpoint: past its live frames, the log keeps the
// frames of earlier transactions (deleted rows among them) until they
// are overwritten, and this bounds how many. Purge cuts it to nothing.
const walSizeLimit = 4 << 20

// Open opens (creating if needed) the database file at path and migrates
// it. Deleted content does not linger in the file: secure_delete zeroes
// it where it was (the cost on the relay's inserts and acks is within
// noise: docs/privacy.md), Purge zeroes the copies rebalancing left
// behind (scrub.go), and the write-ahead log is bounded by walSizeLimit
// and emptied by Purge after erasures.
func Open(ctx context.Context, path string) (*Store, error) {
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append([]string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)",
			"secure_delete(1)", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit)}, extra...) {
			q.Add("_pragma", p)
		}
		return "file:" + filepath.ToSlash(path) + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)*2))
	s.r = r
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		db  *sql.DB
		dst **sql.Stmt
		sql string
	}{
		{s.r, &s.credential, `SELECT password_hash, last_seen_day FROM devices WHERE account_id = ? AND device_id = ?`},
		{s.r, &s.recipients, `SELECT device_id, registration_id FROM devices WHERE account_id = ? ORDER BY device_id`},
		{s.r, &s.fetch, `SELECT e.seq, e.id, e.source_account, e.source_device, e.type,
				CASE WHEN e.payload IS NULL THEN e.content ELSE p.content END, e.server_timestamp, e.expires,
				e.payload, coalesce(p.group_id, '')
			FROM envelopes e LEFT JOIN payloads p ON p.id = e.payload
			WHERE e.account_id = ? AND e.device_id = ? AND e.seq > ? ORDER BY e.seq LIMIT ?`},
		// An envelope for a removed device, or from an account that is
		// gone or being erased (BeginErasure), is not stored.
		{s.w, &s.insert, `INSERT INTO envelopes
			(account_id, device_id, id, source_account, source_device, type, content, server_timestamp, expires, payload)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
			WHERE EXISTS (SELECT 1 FROM devices WHERE account_id = ?1 AND device_id = ?2)
				AND (?4 = '' OR EXISTS (SELECT 1 FROM accounts WHERE account_id = ?4)
					AND NOT EXISTS (SELECT 1 FROM erasures WHERE account_id = ?4))
			RETURNING seq`},
		{s.w, &s.ack, `DELETE FROM envelopes WHERE account_id = ? AND device_id = ? AND id = ?`},
		{s.w, &s.claimSelect, claimSelectSQL},
		{s.w, &s.claimDelete, claimDeleteSQL},
	} {
		st, err := p.db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		*p.dst = st
	}
	s.claims = batch.New(claimBatch, s.flushClaims)
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	if s.claims != nil {
		s.claims.Stop()
	}
	for _, st := range []*sql.Stmt{s.credential, s.recipients, s.fetch, s.insert, s.ack, s.claimSelect, s.claimDelete} {
		if st != nil {
			st.Close()
		}
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// Ping checks that the database answers, for readiness.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return mapErr(s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one))
}

func (s *Store) migrate(ctx context.Context) error {
	return mapErr(migrate.Apply(ctx, s.w, migrations, "migrations"))
}

// tx runs fn in a write transaction.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return mapErr(err)
	}
	return mapErr(tx.Commit())
}

// mapErr marks errors worth a retry (busy, locked, I/O) as unavailable.
func mapErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: %w", httpx.ErrUnavailable, err)
		}
	}
	return err
}

// Stats counts rows, for operators and the demo's "nothing left" check.
func (s *Store) Stats(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range []string{"accounts", "devices", "envelopes", "one_time_prekeys", "registration_codes", "provisioning_codes", "groups", "group_members", "payloads", "attachments", "push_registrations", "admin_tokens", "audit_log", "audit_subjects", "dsr_requests", "erasures", "registration_locks"} {
		var n int64
		if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, nil
}
