package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/envelope"
)

// Recipients implements envelope.Store.
func (s *Store) Recipients(ctx context.Context, accountID string) ([]envelope.Recipient, error) {
	rows, err := s.pool.Query(ctx, `SELECT device_id, registration_id FROM devices WHERE account_id = $1 ORDER BY device_id`, accountID)
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

// Insert implements envelope.Store. Each envelope takes the next position
// of its mailbox from the device row, which stays locked until commit, so
// positions commit in order. Mailboxes are locked in (account, device)
// order so that two sends never deadlock. A device removed since the send
// was checked has no row to update and is skipped.
func (s *Store) Insert(ctx context.Context, envs []envelope.Stored) error {
	order := make([]int, len(envs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(envs[a].AccountID, envs[b].AccountID), cmp.Compare(envs[a].DeviceID, envs[b].DeviceID))
	})
	return s.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, i := range order {
			e := &envs[i]
			b.Queue(`WITH pos AS (
					UPDATE devices SET next_seq = next_seq + 1 WHERE account_id = $1 AND device_id = $2 RETURNING next_seq)
				INSERT INTO envelopes (account_id, device_id, seq, id, source_account, source_device, type, content, server_timestamp, expires)
				SELECT $1, $2, pos.next_seq, $3, $4, $5, $6, $7, $8, $9 FROM pos
				RETURNING seq`,
				e.AccountID, e.DeviceID, e.ID, e.SourceAccount, e.SourceDevice, e.Type, e.Content, e.ServerTimestamp, e.Expires.Unix(),
			).QueryRow(func(row pgx.Row) error {
				err := row.Scan(&e.Seq)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				return err
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// Fetch implements envelope.Store.
func (s *Store) Fetch(ctx context.Context, accountID string, deviceID uint32, after int64, limit int) ([]envelope.Stored, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, id, source_account, source_device, type, content, server_timestamp, expires
		FROM envelopes WHERE account_id = $1 AND device_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`, accountID, deviceID, after, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []envelope.Stored
	for rows.Next() {
		e := envelope.Stored{AccountID: accountID, DeviceID: deviceID}
		var exp int64
		if err := rows.Scan(&e.Seq, &e.ID, &e.SourceAccount, &e.SourceDevice, &e.Type, &e.Content, &e.ServerTimestamp, &exp); err != nil {
			return nil, err
		}
		e.Expires = time.Unix(exp, 0)
		out = append(out, e)
	}
	return out, mapErr(rows.Err())
}

// Ack implements envelope.Store.
func (s *Store) Ack(ctx context.Context, acks []envelope.AckKey) error {
	// One statement per mailbox, with the ids as an array.
	type box struct {
		account string
		device  uint32
	}
	ids := map[box][]string{}
	var order []box
	for _, a := range acks {
		k := box{a.AccountID, a.DeviceID}
		if _, ok := ids[k]; !ok {
			order = append(order, k)
		}
		ids[k] = append(ids[k], a.ID.String())
	}
	const q = `DELETE FROM envelopes WHERE account_id = $1 AND device_id = $2 AND id = ANY($3::uuid[])`
	if len(order) == 1 {
		_, err := s.pool.Exec(ctx, q, order[0].account, order[0].device, ids[order[0]])
		return mapErr(err)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, k := range order {
			b.Queue(q, k.account, k.device, ids[k])
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// Count implements envelope.Store.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM envelopes`).Scan(&n)
	return n, mapErr(err)
}

// DeleteExpired implements envelope.Store.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM envelopes WHERE (account_id, device_id, seq) IN (
		SELECT account_id, device_id, seq FROM envelopes WHERE expires < $1 LIMIT $2)`, now.Unix(), limit)
	if err != nil {
		return 0, mapErr(err)
	}
	return int(tag.RowsAffected()), nil
}
