package sqlite

import (
	"context"
	"database/sql"
	"math"
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
// Under a quota, each mailbox's running count is read once per batch and
// written back once.
func (s *Store) Insert(ctx context.Context, envs []envelope.Stored, q envelope.Quota) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt := tx.StmtContext(ctx, s.insert)
		refs := map[uuid.UUID]int{}
		var boxes *mailboxes
		if q.Bounded() {
			boxes = newMailboxes(q, envs)
		}
		for i := range envs {
			e := &envs[i]
			e.Full = false
			if boxes != nil {
				ok, err := boxes.admit(ctx, tx, e)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
			}
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
		if boxes != nil {
			if err := boxes.save(ctx, tx); err != nil {
				return err
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

type mailboxKey struct {
	account string
	device  uint32
}

// mailbox is a mailbox's running count during one Insert.
type mailbox struct {
	n, size, last         int64 // the batch's envelopes for it, their bytes, the last one's
	all                   bool  // the running count took every one at once
	read                  bool
	gone                  bool // no such device
	count, bytes, counted int64
	dirty, recounted      bool
}

// mailboxes admits the envelopes of one Insert under its quota.
type mailboxes struct {
	q     envelope.Quota
	now   time.Time
	m     map[mailboxKey]*mailbox
	order []mailboxKey
}

func newMailboxes(q envelope.Quota, envs []envelope.Stored) *mailboxes {
	b := &mailboxes{q: q, now: time.Now(), m: map[mailboxKey]*mailbox{}}
	for i := range envs {
		k := mailboxKey{envs[i].AccountID, envs[i].DeviceID}
		m := b.m[k]
		if m == nil {
			m = &mailbox{}
			b.m[k] = m
			b.order = append(b.order, k)
		}
		m.n++
		m.last = int64(len(envs[i].Content))
		m.size += m.last
	}
	return b
}

// admit reports whether e's mailbox has room, counting e in if it has and
// marking it Full if not (a removed device's envelope is neither). The
// first envelope of a mailbox tries to count in all of the batch's at
// once, one statement: room for all is the common case.
func (b *mailboxes) admit(ctx context.Context, tx *sql.Tx, e *envelope.Stored) (bool, error) {
	k := mailboxKey{e.AccountID, e.DeviceID}
	m := b.m[k]
	if m.all {
		return true, nil
	}
	if !m.read {
		m.read = true
		maxN, maxB := b.q.MaxEnvelopes, b.q.MaxBytes
		if maxN <= 0 {
			maxN = math.MaxInt64
		}
		if maxB <= 0 {
			maxB = math.MaxInt64
		}
		res, err := tx.ExecContext(ctx, `UPDATE devices SET mailbox_count = mailbox_count + ?1, mailbox_bytes = mailbox_bytes + ?2
			WHERE account_id = ?3 AND device_id = ?4 AND mailbox_count + ?1 <= ?5 AND mailbox_bytes + ?2 - ?6 < ?7`,
			m.n, m.size, k.account, k.device, maxN, m.last, maxB)
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return false, err
		} else if n == 1 {
			m.all = true
			return true, nil
		}
		err = tx.QueryRowContext(ctx, `SELECT mailbox_count, mailbox_bytes, mailbox_counted FROM devices WHERE account_id = ? AND device_id = ?`,
			e.AccountID, e.DeviceID).Scan(&m.count, &m.bytes, &m.counted)
		switch {
		case err == sql.ErrNoRows:
			m.gone = true
		case err != nil:
			return false, err
		}
	}
	if m.gone {
		return true, nil // the insert skips it
	}
	if !b.q.Admits(m.count, m.bytes) && !m.recounted && b.now.Unix()-m.counted >= int64(b.q.Recount.Seconds()) {
		if err := recountMailbox(ctx, tx, k, &m.count, &m.bytes); err != nil {
			return false, err
		}
		m.counted, m.recounted, m.dirty = b.now.Unix(), true, true
	}
	if !b.q.Admits(m.count, m.bytes) {
		e.Full = true
		return false, nil
	}
	m.count++
	m.bytes += int64(len(e.Content))
	m.dirty = true
	return true, nil
}

// recountMailbox counts what a mailbox holds.
func recountMailbox(ctx context.Context, tx *sql.Tx, k mailboxKey, count, bytes *int64) error {
	return tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(CASE WHEN e.payload IS NULL THEN length(e.content)
			ELSE coalesce((SELECT length(p.content) FROM payloads p WHERE p.id = e.payload), 0) END), 0)
		FROM envelopes e WHERE e.account_id = ? AND e.device_id = ?`, k.account, k.device).Scan(count, bytes)
}

// save writes back the running counts that changed.
func (b *mailboxes) save(ctx context.Context, tx *sql.Tx) error {
	for _, k := range b.order {
		m := b.m[k]
		if m.all || !m.dirty {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET mailbox_count = ?, mailbox_bytes = ?, mailbox_counted = ? WHERE account_id = ? AND device_id = ?`,
			m.count, m.bytes, m.counted, k.account, k.device); err != nil {
			return err
		}
	}
	return nil
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
