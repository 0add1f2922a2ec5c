package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hushmsg/hush/attachments"
)

const attachmentCols = `id, owner, size, upload_id, state, created, expires`

func scanAttachment(row pgx.Row) (attachments.Record, error) {
	var r attachments.Record
	var created, expires int64
	err := row.Scan(&r.ID, &r.Owner, &r.Size, &r.UploadID, &r.State, &created, &expires)
	r.Created, r.Expires = time.Unix(created, 0), time.Unix(expires, 0)
	return r, err
}

// CreateAttachment implements attachments.Store.
func (s *Store) CreateAttachment(ctx context.Context, r attachments.Record) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO attachments (`+attachmentCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, r.Owner, r.Size, r.UploadID, attachments.StateUploading, r.Created.Unix(), r.Expires.Unix())
	return mapErr(err)
}

// Attachment implements attachments.Store.
func (s *Store) Attachment(ctx context.Context, id string) (attachments.Record, error) {
	r, err := scanAttachment(s.pool.QueryRow(ctx, `SELECT id, owner::text, size, upload_id, state, created, expires FROM attachments WHERE id = $1`, id))
	return r, notFound(err, attachments.ErrNotFound)
}

// ReadyAttachment implements attachments.Store.
func (s *Store) ReadyAttachment(ctx context.Context, id string, expires time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE attachments SET state = 'ready', upload_id = '', expires = $1 WHERE id = $2 AND state = 'uploading'`, expires.Unix(), id)
	return affected(tag, err, attachments.ErrNotFound)
}

// DeletingAttachment implements attachments.Store.
func (s *Store) DeletingAttachment(ctx context.Context, id, owner string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE attachments SET state = 'deleting' WHERE id = $1 AND ($2 = '' OR owner::text = $2)`, id, owner)
	return affected(tag, err, attachments.ErrNotFound)
}

// DeletingAttachments implements attachments.Store.
func (s *Store) DeletingAttachments(ctx context.Context, owner string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE attachments SET state = 'deleting' WHERE owner = $1`, owner)
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
}

// DueAttachments implements attachments.Store.
func (s *Store) DueAttachments(ctx context.Context, now time.Time, limit int) ([]attachments.Record, error) {
	const cols = `id, owner::text, size, upload_id, state, created, expires`
	rows, err := s.pool.Query(ctx, `(SELECT `+cols+` FROM attachments WHERE state = 'deleting')
		UNION ALL (SELECT `+cols+` FROM attachments WHERE expires <= $1 AND state != 'deleting')
		LIMIT $2`, now.Unix(), limit)
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
	_, err := s.pool.Exec(ctx, `DELETE FROM attachments WHERE id = $1`, id)
	return mapErr(err)
}

// affected maps an update that touched no row to none.
func affected(tag pgconn.CommandTag, err, none error) error {
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return none
	}
	return nil
}

var _ attachments.Store = (*Store)(nil)
