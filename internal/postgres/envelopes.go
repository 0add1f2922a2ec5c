package postgres

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
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

// insertSQL inserts one envelope at its mailbox's next position, if its
// device exists and, under a quota ($11, $12: 0 for none), its mailbox's
// running count has room; the count goes up by the envelope.
const insertSQL = `WITH pos AS (
		UPDATE devices SET next_seq = next_seq + 1, mailbox_count = mailbox_count + 1, mailbox_bytes = mailbox_bytes + $13
		WHERE account_id = $1 AND device_id = $2
			AND ($11 = 0 OR mailbox_count < $11) AND ($12 = 0 OR mailbox_bytes < $12)
			AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM accounts WHERE account_id = $4::uuid)
				AND NOT EXISTS (SELECT 1 FROM erasures WHERE account_id = $4::uuid::text))
		RETURNING next_seq)
	INSERT INTO envelopes (account_id, device_id, seq, id, source_account, source_device, type, content, server_timestamp, expires, payload)
	SELECT $1, $2, pos.next_seq, $3, $4, $5, $6, $7, $8, $9, $10 FROM pos
	RETURNING seq`

// Insert implements envelope.Store. Each envelope takes the next position
// of its mailbox from the device row, which stays locked until commit, so
// positions commit in order. Mailboxes are locked in (account, device)
// order so that two sends never deadlock. A device removed since the send
// was checked has no row to update and is skipped, and so is an envelope
// whose sender is gone or being erased (gdpr.AccountStore.BeginErasure). A shared payload is
// written once (payloads in id order, before any mailbox is locked), then
// given as many references as envelopes were inserted. An envelope that
// finds no room under q is looked at again after the others (refuse):
// its mailbox is counted again if it may be, and what then fits goes in.
func (s *Store) Insert(ctx context.Context, envs []envelope.Stored, q envelope.Quota) error {
	order := make([]int, len(envs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(envs[a].AccountID, envs[b].AccountID), cmp.Compare(envs[a].DeviceID, envs[b].DeviceID))
	})
	payloads := sharedPayloads(envs)
	return s.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, i := range payloads {
			e := &envs[i]
			b.Queue(`INSERT INTO payloads (id, group_id, content, refs) VALUES ($1, $2, $3, 0) ON CONFLICT (id) DO NOTHING`,
				e.Payload, e.Group, e.Content)
		}
		refs := make(map[uuid.UUID]int, len(payloads))
		var missed []int
		for _, i := range order {
			envs[i].Full = false
			queueInsert(b, &envs[i], q, refs, func() { missed = append(missed, i) })
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if q.Bounded() && len(missed) > 0 {
			if err := refuse(ctx, tx, envs, missed, q, refs); err != nil {
				return err
			}
		}
		if len(payloads) == 0 {
			return nil
		}
		b = &pgx.Batch{}
		for _, i := range payloads {
			id := envs[i].Payload
			b.Queue(`UPDATE payloads SET refs = refs + $2 WHERE id = $1`, id, refs[id])
			b.Queue(`DELETE FROM payloads WHERE id = $1 AND refs <= 0`, id)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// queueInsert queues e's insert; missed is called when it was not stored.
func queueInsert(b *pgx.Batch, e *envelope.Stored, q envelope.Quota, refs map[uuid.UUID]int, missed func()) {
	content, payload := e.Content, (*uuid.UUID)(nil)
	if e.Payload != uuid.Nil {
		content, payload = []byte{}, &e.Payload
	}
	b.Queue(insertSQL,
		e.AccountID, e.DeviceID, [16]byte(e.ID), nullUUID(e.SourceAccount), e.SourceDevice, e.Type, content, e.ServerTimestamp, e.Expires.Unix(), payload,
		max(q.MaxEnvelopes, 0), max(q.MaxBytes, 0), len(e.Content),
	).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&e.Seq)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			missed()
			return nil
		case err == nil && payload != nil:
			refs[e.Payload]++
		}
		return err
	})
}

// refuse settles the envelopes (indexes into envs, in mailbox order) that
// found no room or no device: a removed device's are skipped; a mailbox
// that may be counted again (not counted within q.Recount) is, and what
// fits then goes in; the rest are marked Full.
func refuse(ctx context.Context, tx pgx.Tx, envs []envelope.Stored, missed []int, q envelope.Quota, refs map[uuid.UUID]int) error {
	now := time.Now().Unix()
	for start := 0; start < len(missed); {
		first := &envs[missed[start]]
		end := start + 1
		for end < len(missed) && envs[missed[end]].AccountID == first.AccountID && envs[missed[end]].DeviceID == first.DeviceID {
			end++
		}
		box := missed[start:end]
		start = end
		var count, bytes, counted int64
		err := tx.QueryRow(ctx, `SELECT mailbox_count, mailbox_bytes, mailbox_counted FROM devices WHERE account_id = $1 AND device_id = $2 FOR UPDATE`,
			first.AccountID, first.DeviceID).Scan(&count, &bytes, &counted)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // the device is gone
		}
		if err != nil {
			return err
		}
		if now-counted < int64(q.Recount.Seconds()) {
			for _, i := range box {
				envs[i].Full = true
			}
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE devices d SET mailbox_count = c.n, mailbox_bytes = c.b, mailbox_counted = $3
			FROM (SELECT count(*) AS n, coalesce(sum(CASE WHEN e.payload IS NULL THEN octet_length(e.content) ELSE coalesce(octet_length(p.content), 0) END), 0) AS b
				FROM envelopes e LEFT JOIN payloads p ON p.id = e.payload WHERE e.account_id = $1 AND e.device_id = $2) c
			WHERE d.account_id = $1 AND d.device_id = $2`, first.AccountID, first.DeviceID, now); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, i := range box {
			queueInsert(b, &envs[i], q, refs, func() { envs[i].Full = true })
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	}
	return nil
}

// sharedPayloads returns the index of the first envelope of each shared
// payload, in payload id order.
func sharedPayloads(envs []envelope.Stored) []int {
	var out []int
	seen := map[uuid.UUID]bool{}
	for i := range envs {
		if p := envs[i].Payload; p != uuid.Nil && !seen[p] {
			seen[p] = true
			out = append(out, i)
		}
	}
	slices.SortFunc(out, func(a, b int) int { return bytes.Compare(envs[a].Payload[:], envs[b].Payload[:]) })
	return out
}

// nullUUID stores "" (a server notice's source) as NULL.
func nullUUID(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Fetch implements envelope.Store.
func (s *Store) Fetch(ctx context.Context, accountID string, deviceID uint32, after int64, limit int) ([]envelope.Stored, error) {
	rows, err := s.pool.Query(ctx, `SELECT e.seq, e.id, coalesce(e.source_account::text, ''), e.source_device, e.type,
			CASE WHEN e.payload IS NULL THEN e.content ELSE p.content END, e.server_timestamp, e.expires,
			e.payload, coalesce(p.group_id::text, '')
		FROM envelopes e LEFT JOIN payloads p ON p.id = e.payload
		WHERE e.account_id = $1 AND e.device_id = $2 AND e.seq > $3 ORDER BY e.seq LIMIT $4`, accountID, deviceID, after, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []envelope.Stored
	for rows.Next() {
		e := envelope.Stored{AccountID: accountID, DeviceID: deviceID}
		var exp int64
		var payload *uuid.UUID
		if err := rows.Scan(&e.Seq, (*[16]byte)(&e.ID), &e.SourceAccount, &e.SourceDevice, &e.Type, &e.Content, &e.ServerTimestamp, &exp,
			&payload, &e.Group); err != nil {
			return nil, err
		}
		if payload != nil {
			e.Payload = *payload
		}
		e.Expires = time.Unix(exp, 0)
		out = append(out, e)
	}
	return out, mapErr(rows.Err())
}

// ackQuery deletes the acked ids of one mailbox within a range of positions.
const ackQuery = `DELETE FROM envelopes WHERE account_id = $1 AND device_id = $2 AND seq BETWEEN $3 AND $4 AND id = ANY($5::uuid[])`

// Ack implements envelope.Store: one statement per mailbox, with the ids as
// an array, looked up by position. The positions bound an index range of
// the mailbox; the ids alone decide what is deleted. Without that range
// the planner, which believes a mailbox small (an unknown account is
// estimated at a row or two, and a fresh backlog is never in the
// statistics), scans the whole mailbox once per batch of acks, and
// draining a backlog of n takes time in n² (TestAckFindsByPosition).
func (s *Store) Ack(ctx context.Context, acks []envelope.Acked) error {
	// Acks whose position the session did not know (an envelope it did
	// not deliver) get a statement of their own, so that their unbounded
	// range does not widen the others'.
	type box struct {
		account string
		device  uint32
		unknown bool
	}
	type del struct {
		lo, hi int64
		ids    [][16]byte // not uuid.UUID, which pgx encodes through its text form
	}
	dels := map[box]*del{}
	var order []box
	for _, a := range acks {
		k := box{a.AccountID, a.DeviceID, a.Seq == 0 && a.After == 0}
		lo, hi := a.Range()
		d := dels[k]
		if d == nil {
			d = &del{lo: lo, hi: hi}
			dels[k] = d
			order = append(order, k)
		}
		d.lo, d.hi = min(d.lo, lo), max(d.hi, hi)
		d.ids = append(d.ids, [16]byte(a.ID))
	}
	if len(order) == 1 {
		k := order[0]
		d := dels[k]
		_, err := s.pool.Exec(ctx, ackQuery, k.account, k.device, d.lo, d.hi, d.ids)
		return mapErr(err)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, k := range order {
			d := dels[k]
			b.Queue(ackQuery, k.account, k.device, d.lo, d.hi, d.ids)
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
