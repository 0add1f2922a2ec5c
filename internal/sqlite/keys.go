package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/keys"
)

// SetKeys implements keys.Store.
func (s *Store) SetKeys(ctx context.Context, accountID string, deviceID uint32, set *api.SetKeys) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM devices WHERE account_id = ? AND device_id = ?`, accountID, deviceID).Scan(&one); err != nil {
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
		if len(set.PreKeys)+len(set.PQPreKeys) == 0 {
			return nil
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO one_time_prekeys (account_id, device_id, kind, key_id, public_key, signature) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (account_id, device_id, kind, key_id) DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, k := range set.PreKeys {
			if _, err := stmt.ExecContext(ctx, accountID, deviceID, "ec", k.KeyID, k.PublicKey, nil); err != nil {
				return err
			}
		}
		for _, k := range set.PQPreKeys {
			if _, err := stmt.ExecContext(ctx, accountID, deviceID, "pq", k.KeyID, k.PublicKey, k.Signature); err != nil {
				return err
			}
		}
		return nil
	})
}

// CountPreKeys implements keys.Store.
func (s *Store) CountPreKeys(ctx context.Context, accountID string, deviceID uint32) (api.KeyCount, error) {
	return countPreKeys(ctx, s.r, accountID, deviceID)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func countPreKeys(ctx context.Context, q queryer, accountID string, deviceID uint32) (api.KeyCount, error) {
	var c api.KeyCount
	err := q.QueryRowContext(ctx, `SELECT
		coalesce(sum(kind = 'ec'), 0), coalesce(sum(kind = 'pq'), 0)
		FROM one_time_prekeys WHERE account_id = ? AND device_id = ?`, accountID, deviceID).Scan(&c.PreKeys, &c.PQPreKeys)
	return c, mapErr(err)
}

// ClaimBundles implements keys.Store. The single writer connection makes
// the claim atomic: no two callers can take the same one-time key.
func (s *Store) ClaimBundles(ctx context.Context, accountID string, deviceID, except uint32) (*keys.Claim, error) {
	c := &keys.Claim{Bundle: api.Bundle{AccountID: accountID}}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT identity_key FROM accounts WHERE account_id = ?`, accountID).Scan(&c.Bundle.IdentityKey); err != nil {
			return notFound(err, keys.ErrNotFound)
		}
		rows, err := tx.QueryContext(ctx, `SELECT device_id, registration_id FROM devices
			WHERE account_id = ?1 AND (?2 = 0 OR device_id = ?2) AND device_id <> ?3 ORDER BY device_id`,
			accountID, deviceID, except)
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

func claimDevice(ctx context.Context, tx *sql.Tx, accountID string, d *api.DeviceBundle) (api.KeyCount, error) {
	signed := func(kind string, k *api.SignedPreKey) error {
		return tx.QueryRowContext(ctx, `SELECT key_id, public_key, signature FROM signed_prekeys WHERE account_id = ? AND device_id = ? AND kind = ?`,
			accountID, d.DeviceID, kind).Scan(&k.KeyID, &k.PublicKey, &k.Signature)
	}
	take := func(kind string) (id uint32, pub, sig []byte, err error) {
		err = tx.QueryRowContext(ctx, `DELETE FROM one_time_prekeys
			WHERE account_id = ?1 AND device_id = ?2 AND kind = ?3 AND key_id = (
				SELECT min(key_id) FROM one_time_prekeys WHERE account_id = ?1 AND device_id = ?2 AND kind = ?3)
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
	case !errors.Is(err, sql.ErrNoRows):
		return api.KeyCount{}, err
	}
	id, pub, sig, err := take("pq")
	switch {
	case err == nil:
		d.PQPreKey = api.SignedPreKey{KeyID: id, PublicKey: pub, Signature: sig}
	case errors.Is(err, sql.ErrNoRows):
		d.PQLastResort = true
		if err := signed("pq", &d.PQPreKey); err != nil {
			return api.KeyCount{}, err
		}
	default:
		return api.KeyCount{}, err
	}
	return countPreKeys(ctx, tx, accountID, d.DeviceID)
}
