package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Key id kinds for AllocateIDs.
const (
	KindPreKey       = "prekey"
	KindSignedPreKey = "signed_prekey"
	KindPQPreKey     = "pq_prekey"
)

// MaxKeyID is the largest key id handed out. libsignal's medium integers
// reserve 0xFFFFFF, and a one-time prekey id of 0 means "none" on the wire,
// so ids run 1..MaxKeyID and then wrap.
const MaxKeyID = 0xFFFFFE

// AllocateIDs reserves n consecutive key ids (wrapping after MaxKeyID) of
// a kind.
func (s *Store) AllocateIDs(ctx context.Context, kind string, n int) ([]uint32, error) {
	if n <= 0 {
		return nil, nil
	}
	ids := make([]uint32, 0, n)
	err := s.InTx(ctx, func(ctx context.Context) error {
		var next int64
		err := s.q(ctx).QueryRowContext(ctx, `SELECT next FROM counters WHERE name = ?`, kind).Scan(&next)
		if errors.Is(err, sql.ErrNoRows) {
			next = 1
		} else if err != nil {
			return err
		}
		for range n {
			if next < 1 || next > MaxKeyID {
				next = 1
			}
			ids = append(ids, uint32(next))
			next++
		}
		_, err = s.q(ctx).ExecContext(ctx, `INSERT INTO counters (name, next) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET next = excluded.next`, kind, next)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("allocate %s ids: %w", kind, err)
	}
	return ids, nil
}

// KeyReset is what a device must upload after its keys were dropped (the
// move to package signal's records): a new signed prekey, a new Kyber
// last-resort key, and one-time keys under the ids of the ones the server
// may still hand out, so that the new keys replace them there.
type KeyReset struct {
	StaleEC []uint32 // one-time EC prekey ids to replace
	StalePQ []uint32 // one-time Kyber prekey ids to replace
}

// PendingKeyReset returns the reset the device owes, or nil.
func (s *Store) PendingKeyReset(ctx context.Context) (*KeyReset, error) {
	ok, err := s.exists(ctx, `SELECT 1 FROM key_reset WHERE id = 1`)
	if err != nil || !ok {
		return nil, err
	}
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT kind, id FROM stale_prekeys ORDER BY kind, id`)
	if err != nil {
		return nil, fmt.Errorf("load stale prekeys: %w", err)
	}
	defer rows.Close()
	r := &KeyReset{}
	for rows.Next() {
		var kind string
		var id uint32
		if err := rows.Scan(&kind, &id); err != nil {
			return nil, fmt.Errorf("load stale prekeys: %w", err)
		}
		if kind == "ec" {
			r.StaleEC = append(r.StaleEC, id)
		} else {
			r.StalePQ = append(r.StalePQ, id)
		}
	}
	return r, wrap(rows.Err(), "load stale prekeys")
}

// DoneStalePreKeys forgets stale one-time key ids once keys under them
// have been uploaded.
func (s *Store) DoneStalePreKeys(ctx context.Context, kind string, ids []uint32) error {
	for _, id := range ids {
		if _, err := s.q(ctx).ExecContext(ctx, `DELETE FROM stale_prekeys WHERE kind = ? AND id = ?`, kind, id); err != nil {
			return fmt.Errorf("forget stale prekey %d: %w", id, err)
		}
	}
	return nil
}

// FinishKeyReset records that the reset is done.
func (s *Store) FinishKeyReset(ctx context.Context) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM key_reset`)
	return wrap(err, "finish key reset")
}

// NextTimestamp returns the timestamp (Unix ms) for a message this device
// sends: now, or one more than the last one when now is not later. Other
// devices name a message by its sender and timestamp (receipts, resends),
// so a device never uses one twice.
func (s *Store) NextTimestamp(ctx context.Context, now int64) (int64, error) {
	var ts int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		var last int64
		err := s.q(ctx).QueryRowContext(ctx, `SELECT next FROM counters WHERE name = 'timestamp'`).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		ts = max(now, last+1)
		_, err = s.q(ctx).ExecContext(ctx, `INSERT INTO counters (name, next) VALUES ('timestamp', ?)
			ON CONFLICT (name) DO UPDATE SET next = excluded.next`, ts)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("message timestamp: %w", err)
	}
	return ts, nil
}
