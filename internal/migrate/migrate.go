// Package migrate reads numbered, embedded SQL migrations ("0001_init.sql")
// and applies them once each, in order, recording the versions it applied
// in schema_migrations. Every store of the project (the server's SQLite
// and PostgreSQL stores, the client's SQLite store) migrates this way.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Script is one migration.
type Script struct {
	Version int
	Name    string
	SQL     string
}

// Scripts returns the *.sql files in dir of fsys, ordered by version.
func Scripts(fsys fs.FS, dir string) ([]Script, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var out []Script
	for _, name := range names {
		base := path.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: no version number", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Script{Version: v, Name: base, SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Script) int { return a.Version - b.Version })
	return out, nil
}

// Table creates the bookkeeping table.
const Table = `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY)`

// Apply applies the scripts of dir in fsys that db has not had yet, each in
// its own transaction, through database/sql with "?" placeholders (SQLite).
func Apply(ctx context.Context, db *sql.DB, fsys fs.FS, dir string) error {
	scripts, err := Scripts(fsys, dir)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, Table); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, sc := range scripts {
		if err := applyOne(ctx, db, sc); err != nil {
			return fmt.Errorf("migration %s: %w", sc.Name, err)
		}
	}
	return nil
}

func applyOne(ctx context.Context, db *sql.DB, sc Script) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, sc.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, sc.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, sc.Version); err != nil {
		return err
	}
	return tx.Commit()
}
