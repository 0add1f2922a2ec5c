package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/envelope"
)

// Recipients implements envelope.Store.
func (s *Store) Recipients(ctx context.Context, accountID string) ([]envelope.Recipient, error) {
	rows, err := s.recipients.QueryContext(ctx, accountID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []envelope.Recipient
	for rows.Next() {
		var r envelope.Recipient
		if err := rows.Scan(&r.DeviceID, &r.RegistrationID); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	if len(out) == 0 {
		return nil, envelope.ErrNotFound
	}
	return out, nil
}

// Insert implements envelope.Store. A device removed since the send was
// checked is skipped rather than failing the whole send. A shared payload
// is written once, with as many references as envelopes were inserted.
func (s *Store) Insert(ctx context.Context, envs []envelope.Stored) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt := tx.StmtContext(ctx, s.insert)
		refs := map[uuid.UUID]int{}
		for i := range envs {
			e := &envs[i]
			content, payload := e.Content, any(nil)
			if e.Payload != uuid.Nil {
				if _, seen := refs[e.Payload]; !seen {
					refs[e.Payload] = 0
					if _, err := tx.ExecContext(ctx, `INSERT INTO payloads (id, group_id, content, refs) VALUES (?, ?, ?, 0)
						ON CONFLICT (id) DO NOTHING`, e.Payload[:], e.Group, e.Content); err != nil {
						return err
					}
				}
				content, payload = []byte{}, e.Payload[:]
			}
			err := stmt.QueryRowContext(ctx, e.AccountID, e.DeviceID, e.ID[:], e.SourceAccount, e.SourceDevice,
				e.Type, content, e.ServerTimestamp, e.Expires.Unix(), payload).Scan(&e.Seq)
			switch {
			case err == sql.ErrNoRows:
			case err != nil:
				return err
			case payload != nil:
				refs[e.Payload]++
			}
		}
		for id, n := range refs {
			if err := addRefs(ctx, tx, id, n); err != nil {
				return err
			}
		}
		return nil
	})
}

// addRefs counts n more references to a payload, deleting it when none
// are left (every device it was for is gone).
func addRefs(ctx context.Context, tx *sql.Tx, id uuid.UUID, n int) error {
	if _, err := tx.ExecContext(ctx, `UPDATE payloads SET refs = refs + ? WHERE id = ?`, n, id[:]); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM payloads WHERE id = ? AND refs <= 0`, id[:])
	return err
}

// Fetch implements envelope.Store.
func (s *Store) Fetch(ctx context.Context, accountID string, deviceID uint32, after int64, limit int) ([]envelope.Stored, error) {
	rows, err := s.fetch.QueryContext(ctx, accountID, deviceID, after, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []envelope.Stored
	for rows.Next() {
		e := envelope.Stored{AccountID: accountID, DeviceID: deviceID}
		var id, payload []byte
		var exp int64
		if err := rows.Scan(&e.Seq, &id, &e.SourceAccount, &e.SourceDevice, &e.Type, &e.Content, &e.ServerTimestamp, &exp,
			&payload, &e.Group); err != nil {
			return nil, err
		}
		copy(e.ID[:], id)
		copy(e.Payload[:], payload)
		e.Expires = time.Unix(exp, 0)
		out = append(out, e)
	}
	return out, mapErr(rows.Err())
}

// Ack implements envelope.Store, by id: SQLite looks each one up in the
// mailbox's unique index on ids, so it needs no position.
func (s *Store) Ack(ctx context.Context, acks []envelope.Acked) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt := tx.StmtContext(ctx, s.ack)
		for _, a := range acks {
			if _, err := stmt.ExecContext(ctx, a.AccountID, a.DeviceID, a.ID[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Count implements envelope.Store.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM envelopes`).Scan(&n)
	return n, mapErr(err)
}

// DeleteExpired implements envelope.Store.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM envelopes WHERE seq IN (SELECT seq FROM envelopes WHERE expires < ? LIMIT ?)`, now.Unix(), limit)
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
