package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/hushmsg/hush/attachments"
)

const attachmentCols = `id, owner, size, upload_id, state, created, expires`

func scanAttachment(row interface{ Scan(...any) error }) (attachments.Record, error) {
	var r attachments.Record
	var created, expires int64
	err := row.Scan(&r.ID, &r.Owner, &r.Size, &r.UploadID, &r.State, &created, &expires)
	r.Created, r.Expires = time.Unix(created, 0), time.Unix(expires, 0)
	return r, err
}

// CreateAttachment implements attachments.Store.
func (s *Store) CreateAttachment(ctx context.Context, r attachments.Record) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO attachments (`+attachmentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Owner, r.Size, r.UploadID, attachments.StateUploading, r.Created.Unix(), r.Expires.Unix())
	return mapErr(err)
}

// Attachment implements attachments.Store.
func (s *Store) Attachment(ctx context.Context, id string) (attachments.Record, error) {
	r, err := scanAttachment(s.r.QueryRowContext(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE id = ?`, id))
	return r, notFound(err, attachments.ErrNotFound)
}

// ReadyAttachment implements attachments.Store.
func (s *Store) ReadyAttachment(ctx context.Context, id string, expires time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE attachments SET state = 'ready', upload_id = '', expires = ? WHERE id = ? AND state = 'uploading'`, expires.Unix(), id)
	return affected(res, err, attachments.ErrNotFound)
}

// DeletingAttachment implements attachments.Store.
func (s *Store) DeletingAttachment(ctx context.Context, id, owner string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE attachments SET state = 'deleting' WHERE id = ? AND (? = '' OR owner = ?)`, id, owner, owner)
	return affected(res, err, attachments.ErrNotFound)
}

// DeletingAttachments implements attachments.Store.
func (s *Store) DeletingAttachments(ctx context.Context, owner string) (int64, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE attachments SET state = 'deleting' WHERE owner = ?`, owner)
	if err != nil {
		return 0, mapErr(err)
	}
	return res.RowsAffected()
}

// DueAttachments implements attachments.Store.
func (s *Store) DueAttachments(ctx context.Context, now time.Time, limit int) ([]attachments.Record, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE state = 'deleting'
		UNION ALL SELECT `+attachmentCols+` FROM attachments WHERE expires <= ? AND state != 'deleting'
		LIMIT ?`, now.Unix(), limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []attachments.Record
	for rows.Next() {
		r, err := scanAttachment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, mapErr(rows.Err())
}

// DeleteAttachment implements attachments.Store.
func (s *Store) DeleteAttachment(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM attachments WHERE id = ?`, id)
	return mapErr(err)
}

// affected maps an update that touched no row to none.
func affected(res sql.Result, err, none error) error {
	if err != nil {
		return mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return none
	}
	return nil
}

var _ attachments.Store = (*Store)(nil)
