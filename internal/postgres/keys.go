package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/keys"
)

// SetKeys implements keys.Store.
func (s *Store) SetKeys(ctx context.Context, accountID string, deviceID uint32, set *api.SetKeys) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM devices WHERE account_id = $1 AND device_id = $2`, accountID, deviceID).Scan(&one); err != nil {
			return notFound(err, keys.ErrNotFound)
		}
		if set.SignedPreKey != nil {
			if err := putSigned(ctx, tx, accountID, deviceID, "ec", set.SignedPreKey); err != nil {
				return err
			}
		}
		if set.PQLastResortPreKey != nil {
			if err := putSigned(ctx, tx, accountID, deviceID, "pq", set.PQLastResortPreKey); err != nil {
				return err
			}
		}
		const q = `INSERT INTO one_time_prekeys (account_id, device_id, kind, key_id, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (account_id, device_id, kind, key_id) DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature`
		b := &pgx.Batch{}
		for _, k := range set.PreKeys {
			b.Queue(q, accountID, deviceID, "ec", k.KeyID, k.PublicKey, nil)
		}
		for _, k := range set.PQPreKeys {
			b.Queue(q, accountID, deviceID, "pq", k.KeyID, k.PublicKey, k.Signature)
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// queryer is a pool or a transaction.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CountPreKeys implements keys.Store.
func (s *Store) CountPreKeys(ctx context.Context, accountID string, deviceID uint32) (api.KeyCount, error) {
	c, err := countPreKeys(ctx, s.pool, accountID, deviceID)
	return c, mapErr(err)
}

func countPreKeys(ctx context.Context, q queryer, accountID string, deviceID uint32) (api.KeyCount, error) {
	var c api.KeyCount
	err := q.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind = 'ec'), count(*) FILTER (WHERE kind = 'pq')
		FROM one_time_prekeys WHERE account_id = $1 AND device_id = $2`, accountID, deviceID).Scan(&c.PreKeys, &c.PQPreKeys)
	return c, err
}

// ClaimBundles implements keys.Store. Each one-time key is taken with
// FOR UPDATE SKIP LOCKED, so concurrent claimers take different keys
// without waiting on each other.
func (s *Store) ClaimBundles(ctx context.Context, accountID string, deviceID, except uint32) (*keys.Claim, error) {
	c := &keys.Claim{Bundle: api.Bundle{AccountID: accountID}}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT identity_key FROM accounts WHERE account_id = $1`, accountID).Scan(&c.Bundle.IdentityKey); err != nil {
			return notFound(err, keys.ErrNotFound)
		}
		rows, err := tx.Query(ctx, `SELECT device_id, registration_id FROM devices
			WHERE account_id = $1 AND ($2 = 0 OR device_id = $2) AND device_id <> $3 ORDER BY device_id`,
			accountID, int64(deviceID), int64(except))
		if err != nil {
			return err
		}
		for rows.Next() {
			var d api.DeviceBundle
			if err := rows.Scan(&d.DeviceID, &d.RegistrationID); err != nil {
				rows.Close()
				return err
			}
			c.Bundle.Devices = append(c.Bundle.Devices, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(c.Bundle.Devices) == 0 && deviceID != 0 {
			return keys.ErrNotFound
		}
		for i := range c.Bundle.Devices {
			left, err := claimDevice(ctx, tx, accountID, &c.Bundle.Devices[i])
			if err != nil {
				return err
			}
			c.Left = append(c.Left, left)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func claimDevice(ctx context.Context, tx pgx.Tx, accountID string, d *api.DeviceBundle) (api.KeyCount, error) {
	signed := func(kind string, k *api.SignedPreKey) error {
		return tx.QueryRow(ctx, `SELECT key_id, public_key, signature FROM signed_prekeys WHERE account_id = $1 AND device_id = $2 AND kind = $3`,
			accountID, d.DeviceID, kind).Scan(&k.KeyID, &k.PublicKey, &k.Signature)
	}
	take := func(kind string) (id uint32, pub, sig []byte, err error) {
		err = tx.QueryRow(ctx, `DELETE FROM one_time_prekeys
			WHERE (account_id, device_id, kind, key_id) = (
				SELECT account_id, device_id, kind, key_id FROM one_time_prekeys
				WHERE account_id = $1 AND device_id = $2 AND kind = $3
				ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
			RETURNING key_id, public_key, signature`, accountID, d.DeviceID, kind).Scan(&id, &pub, &sig)
		return id, pub, sig, err
	}
	if err := signed("ec", &d.SignedPreKey); err != nil {
		return api.KeyCount{}, err
	}
	id, pub, _, err := take("ec")
	switch {
	case err == nil:
		d.PreKey = &api.PreKey{KeyID: id, PublicKey: pub}
	case !errors.Is(err, pgx.ErrNoRows):
		return api.KeyCount{}, err
	}
	id, pub, sig, err := take("pq")
	switch {
	case err == nil:
		d.PQPreKey = api.SignedPreKey{KeyID: id, PublicKey: pub, Signature: sig}
	case errors.Is(err, pgx.ErrNoRows):
		d.PQLastResort = true
		if err := signed("pq", &d.PQPreKey); err != nil {
			return api.KeyCount{}, err
		}
	default:
		return api.KeyCount{}, err
	}
	return countPreKeys(ctx, tx, accountID, d.DeviceID)
}
