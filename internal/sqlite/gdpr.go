package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hushmsg/hush/gdpr"
)

// CreateAdminToken implements gdpr.Store.
func (s *Store) CreateAdminToken(ctx context.Context, t gdpr.Token) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO admin_tokens (id, name, role, hash, created) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Role, t.Hash, t.Created.Unix())
	return mapErr(err)
}

func scanToken(row interface{ Scan(...any) error }) (gdpr.Token, error) {
	var t gdpr.Token
	var created, revoked int64
	if err := row.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created, &revoked); err != nil {
		return t, err
	}
	t.Created = time.Unix(created, 0)
	if revoked != 0 {
		t.Revoked = time.Unix(revoked, 0)
	}
	return t, nil
}

// AdminToken implements gdpr.Store.
func (s *Store) AdminToken(ctx context.Context, id string) (gdpr.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT id, name, role, hash, created, revoked FROM admin_tokens WHERE id = ?`, id))
	return t, notFound(err, gdpr.ErrNotFound)
}

// AdminTokens implements gdpr.Store.
func (s *Store) AdminTokens(ctx context.Context) ([]gdpr.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, role, hash, created, revoked FROM admin_tokens ORDER BY created, id`)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []gdpr.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, mapErr(rows.Err())
}

// RevokeAdminToken implements gdpr.Store.
func (s *Store) RevokeAdminToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE admin_tokens SET revoked = ? WHERE id = ? AND revoked = 0`, at.Unix(), id)
	return affected(res, err, gdpr.ErrNotFound)
}

// AppendAudit implements gdpr.Store; the single writer orders appends.
func (s *Store) AppendAudit(ctx context.Context, e gdpr.Entry, seal func(*gdpr.Entry) []byte) (gdpr.Entry, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var seq int64
		var prev []byte
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		e.Seq, e.Prev = seq+1, prev
		if e.Prev == nil {
			e.Prev = []byte{}
		}
		e.Hash = seal(&e)
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, e.At.UnixMilli(), e.Actor, e.Action, e.Subject, e.Detail, e.Prev, e.Hash)
		return err
	})
	return e, err
}

// AuditLog implements gdpr.Store.
func (s *Store) AuditLog(ctx context.Context, subject string, after int64, limit int) ([]gdpr.Entry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, at, actor, action, subject, detail, prev, hash FROM audit_log
		WHERE seq > ? AND (? = '' OR subject = ?) ORDER BY seq LIMIT ?`, after, subject, subject, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []gdpr.Entry
	for rows.Next() {
		var e gdpr.Entry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &e.Detail, &e.Prev, &e.Hash); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	return out, mapErr(rows.Err())
}

// Pseudonym implements gdpr.Store: read first, then an upsert that
// returns the row whichever call made it.
func (s *Store) Pseudonym(ctx context.Context, account string, fresh func() string) (string, error) {
	var p string
	err := s.r.QueryRowContext(ctx, `SELECT pseudonym FROM audit_subjects WHERE account_id = ?`, account).Scan(&p)
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return p, mapErr(err)
	}
	err = s.w.QueryRowContext(ctx, `INSERT INTO audit_subjects (account_id, pseudonym) SELECT account_id, ? FROM accounts WHERE account_id = ?
		ON CONFLICT (account_id) DO UPDATE SET pseudonym = audit_subjects.pseudonym RETURNING pseudonym`, fresh(), account).Scan(&p)
	return p, notFound(err, gdpr.ErrNotFound)
}

// CreateRequest implements gdpr.Store.
func (s *Store) CreateRequest(ctx context.Context, r gdpr.Request) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO dsr_requests (id, kind, subject, received, due, status) VALUES (?, ?, ?, ?, ?, ?)`,
		r.ID, r.Kind, r.Subject, r.Received.Unix(), r.Due.Unix(), r.Status)
	return mapErr(err)
}

// Requests implements gdpr.Store.
func (s *Store) Requests(ctx context.Context) ([]gdpr.Request, error) {
	return s.requests(ctx, "")
}

// requests lists the requests that where (a WHERE clause, or "") selects.
func (s *Store) requests(ctx context.Context, where string, args ...any) ([]gdpr.Request, error) {
	var out []gdpr.Request
	err := each(ctx, s.r, `SELECT id, kind, subject, received, due, status, closed, note FROM dsr_requests `+where+` ORDER BY due, id`, args,
		func(rows *sql.Rows) error {
			var r gdpr.Request
			var received, due, closed int64
			if err := rows.Scan(&r.ID, &r.Kind, &r.Subject, &received, &due, &r.Status, &closed, &r.Note); err != nil {
				return err
			}
			r.Received, r.Due = time.Unix(received, 0).UTC(), time.Unix(due, 0).UTC()
			if closed != 0 {
				r.Closed = time.Unix(closed, 0).UTC()
			}
			out = append(out, r)
			return nil
		})
	return out, err
}

// CloseRequest implements gdpr.Store.
func (s *Store) CloseRequest(ctx context.Context, id, status, note string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE dsr_requests SET status = ?, note = ?, closed = ? WHERE id = ? AND status = 'open'`, status, note, at.Unix(), id)
	return affected(res, err, gdpr.ErrNotFound)
}

var _ gdpr.Store = (*Store)(nil)
