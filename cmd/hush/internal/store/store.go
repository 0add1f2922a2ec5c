package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/hushmsg/hush/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// FileName is the database file inside the home directory.
const FileName = "hush.db"

// Store is the client's local state. Its methods are safe for concurrent
// use; package signal's load-modify-store sequences are not atomic by
// themselves, so callers serialize session operations (see InTx).
type Store struct {
	db  *sql.DB
	now func() time.Time

	mu   sync.Mutex // guards acct
	acct *Account   // nil until registered or linked
}

// Open opens (creating if needed, mode 0600) the store in dir and migrates it.
func Open(ctx context.Context, dir string) (*Store, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	f.Close()
	q := url.Values{}
	for _, p := range []string{"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "secure_delete(1)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?"+q.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// One connection: a transaction carried in a context (InTx) is then
	// the only writer, and nothing reads around it.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	s := &Store{db: db, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.PruneSent(ctx); err != nil {
		db.Close()
		return nil, err
	}
	acct, err := s.loadAccount(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.acct = acct
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	if err := migrate.Apply(ctx, s.db, migrations, "migrations"); err != nil {
		return fmt.Errorf("migrate store: %w", err)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type txKey struct{ s *Store }

// txState is the transaction a context carries, with what to do once it
// has committed.
type txState struct {
	tx    *sql.Tx
	after []func()
}

func (s *Store) tx(ctx context.Context) *txState {
	t, _ := ctx.Value(txKey{s}).(*txState)
	return t
}

// q returns the transaction ctx carries for s, or the database.
func (s *Store) q(ctx context.Context) querier {
	if t := s.tx(ctx); t != nil {
		return t.tx
	}
	return s.db
}

// AfterCommit runs fn once the transaction ctx carries commits (never, if
// it rolls back), or at once outside a transaction.
func (s *Store) AfterCommit(ctx context.Context, fn func()) {
	if t := s.tx(ctx); t != nil {
		t.after = append(t.after, fn)
		return
	}
	fn()
}

// InTx runs fn in one transaction: every call of s made with the context fn
// receives is part of it, and all of them take effect or none does. A call
// made with another context while fn runs waits for the transaction to end,
// so fn must pass its context on. Nested calls join the outer transaction.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.tx(ctx) != nil {
		return fn(ctx)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &txState{tx: tx}
	if err := fn(context.WithValue(ctx, txKey{s}, t)); err != nil {
		return errors.Join(err, rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, f := range t.after {
		f()
	}
	return nil
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

func (s *Store) unix() int64 { return s.now().Unix() }
