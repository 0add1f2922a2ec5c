package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hushmsg/hush/internal/api"
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

// PQPreKey is an ML-KEM-1024 prekey: the public key as uploaded (0x08 ||
// encapsulation key), its signature by the identity key, and the private
// decapsulation seed.
type PQPreKey struct {
	ID         uint32
	PublicKey  []byte
	Signature  []byte
	Seed       SecretBytes
	LastResort bool
}

// LogValue hides the seed.
func (k *PQPreKey) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("id", uint64(k.ID)), slog.Bool("last_resort", k.LastResort), slog.String("seed", redacted))
}

// StorePQPreKey saves a PQ prekey, replacing one with the same id.
func (s *Store) StorePQPreKey(ctx context.Context, k *PQPreKey) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO pq_prekeys (id, public_key, signature, seed, last_resort, created)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature,
			seed = excluded.seed, last_resort = excluded.last_resort, created = excluded.created`,
		k.ID, k.PublicKey, k.Signature, []byte(k.Seed), k.LastResort, s.unix())
	if err != nil {
		return fmt.Errorf("store PQ prekey %d: %w", k.ID, err)
	}
	return nil
}

// LoadPQPreKey returns a PQ prekey, or nil when there is none with id.
func (s *Store) LoadPQPreKey(ctx context.Context, id uint32) (*PQPreKey, error) {
	k := PQPreKey{ID: id}
	var seed []byte
	err := s.q(ctx).QueryRowContext(ctx, `SELECT public_key, signature, seed, last_resort FROM pq_prekeys WHERE id = ?`, id).
		Scan(&k.PublicKey, &k.Signature, &seed, &k.LastResort)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load PQ prekey %d: %w", id, err)
	}
	k.Seed = seed
	return &k, nil
}

// RemovePQPreKey deletes a PQ prekey.
func (s *Store) RemovePQPreKey(ctx context.Context, id uint32) error {
	if _, err := s.q(ctx).ExecContext(ctx, `DELETE FROM pq_prekeys WHERE id = ?`, id); err != nil {
		return fmt.Errorf("remove PQ prekey %d: %w", id, err)
	}
	return nil
}

// CountPreKeys returns how many one-time EC and PQ prekeys the store holds.
func (s *Store) CountPreKeys(ctx context.Context) (ec, pq int, err error) {
	err = s.q(ctx).QueryRowContext(ctx, `SELECT (SELECT count(*) FROM prekeys), (SELECT count(*) FROM pq_prekeys WHERE NOT last_resort)`).Scan(&ec, &pq)
	if err != nil {
		return 0, 0, fmt.Errorf("count prekeys: %w", err)
	}
	return ec, pq, nil
}

// API returns the public part as the server takes it.
func (k *PQPreKey) API() api.SignedPreKey {
	return api.SignedPreKey{KeyID: k.ID, PublicKey: k.PublicKey, Signature: k.Signature}
}
