package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/batch"
	"github.com/hushmsg/hush/internal/httpx"
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

// Claims are group-committed (internal/batch): the claims waiting for the
// single writer run in one transaction, which shares the commit's flush
// among them. Each claim is two prepared statements whatever the number
// of devices: one read of the account, its devices, their signed keys and
// one-time key counts; one delete that takes the lowest one-time key of
// each kind of each device. The single writer makes a claim atomic: no
// two claims can take the same one-time key.
const (
	claimBatch = 64

	claimSelectSQL = `SELECT a.identity_key, d.device_id, d.registration_id,
			e.key_id, e.public_key, e.signature, p.key_id, p.public_key, p.signature,
			(SELECT count(*) FROM one_time_prekeys o WHERE o.account_id = ?1 AND o.device_id = d.device_id AND o.kind = 'ec'),
			(SELECT count(*) FROM one_time_prekeys o WHERE o.account_id = ?1 AND o.device_id = d.device_id AND o.kind = 'pq')
		FROM accounts a
		LEFT JOIN devices d ON d.account_id = a.account_id AND (?2 = 0 OR d.device_id = ?2) AND d.device_id <> ?3
		LEFT JOIN signed_prekeys e ON e.account_id = d.account_id AND e.device_id = d.device_id AND e.kind = 'ec'
		LEFT JOIN signed_prekeys p ON p.account_id = d.account_id AND p.device_id = d.device_id AND p.kind = 'pq'
		WHERE a.account_id = ?1 ORDER BY d.device_id`

	claimDeleteSQL = `DELETE FROM one_time_prekeys WHERE (account_id, device_id, kind, key_id) IN (
			SELECT ?1, d.device_id, k.kind,
				(SELECT min(o.key_id) FROM one_time_prekeys o WHERE o.account_id = ?1 AND o.device_id = d.device_id AND o.kind = k.kind)
			FROM devices d, (SELECT 'ec' AS kind UNION ALL SELECT 'pq') k
			WHERE d.account_id = ?1 AND (?2 = 0 OR d.device_id = ?2) AND d.device_id <> ?3)
		RETURNING device_id, kind, key_id, public_key, signature`
)

// claimRequest is one ClaimBundles call in a batch, and its answer.
type claimRequest struct {
	ctx            context.Context // the caller's: a claim it gave up on is not run
	account        string
	device, except uint32
	keep           bool // hand out no one-time keys
	claim          *keys.Claim
	err            error
}

// waiting returns the claims whose callers still wait, answering the
// others: a claim nobody will read would use up one-time keys for nothing.
func waiting(reqs []*claimRequest) []*claimRequest {
	out := make([]*claimRequest, 0, len(reqs))
	for _, r := range reqs {
		if r.err = r.ctx.Err(); r.err == nil {
			out = append(out, r)
		}
	}
	return out
}

// ClaimBundles implements keys.Store.
func (s *Store) ClaimBundles(ctx context.Context, accountID string, deviceID, except uint32) (*keys.Claim, error) {
	return s.claim(ctx, &claimRequest{ctx: ctx, account: accountID, device: deviceID, except: except})
}

// Bundles implements keys.Store. It goes through the claims' batch, so
// that it reads what the claims before it left.
func (s *Store) Bundles(ctx context.Context, accountID string, deviceID, except uint32) (*keys.Claim, error) {
	return s.claim(ctx, &claimRequest{ctx: ctx, account: accountID, device: deviceID, except: except, keep: true})
}

func (s *Store) claim(ctx context.Context, r *claimRequest) (*keys.Claim, error) {
	if err := s.claims.Do(ctx, r); err != nil {
		if errors.Is(err, batch.ErrClosed) {
			err = fmt.Errorf("%w: %w", httpx.ErrUnavailable, err)
		}
		return nil, err
	}
	return r.claim, r.err
}

// flushClaims runs a batch of claims in one transaction. A claim that fails
// (other than for an unknown account or device, which writes nothing)
// takes the transaction with it; the claims are then run one transaction
// each, so that only it fails.
func (s *Store) flushClaims(ctx context.Context, reqs []*claimRequest) error {
	if reqs = waiting(reqs); len(reqs) == 0 {
		return nil
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		sel, del := tx.StmtContext(ctx, s.claimSelect), tx.StmtContext(ctx, s.claimDelete)
		for _, r := range reqs {
			r.claim, r.err = claimOne(ctx, sel, del, r)
			if r.err != nil && !errors.Is(r.err, keys.ErrNotFound) {
				return r.err
			}
		}
		return nil
	})
	if err == nil {
		return nil
	}
	if len(reqs) == 1 {
		reqs[0].claim, reqs[0].err = nil, err
		return nil
	}
	for _, r := range reqs {
		r.claim, r.err = nil, nil
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var err error
			r.claim, err = claimOne(ctx, tx.StmtContext(ctx, s.claimSelect), tx.StmtContext(ctx, s.claimDelete), r)
			return err
		})
		if err != nil {
			r.claim, r.err = nil, err
		}
	}
	return nil
}

// claimOne runs one claim inside the batch's transaction.
func claimOne(ctx context.Context, sel, del *sql.Stmt, r *claimRequest) (*keys.Claim, error) {
	c := &keys.Claim{Bundle: api.Bundle{AccountID: r.account}}
	rows, err := sel.QueryContext(ctx, r.account, r.device, r.except)
	if err != nil {
		return nil, err
	}
	found, keysLeft := false, false
	for rows.Next() {
		found = true
		var (
			device, reg                sql.Null[uint32]
			ecID, pqID                 sql.Null[uint32]
			ecPub, ecSig, pqPub, pqSig []byte
			left                       api.KeyCount
		)
		if err := rows.Scan(&c.Bundle.IdentityKey, &device, &reg, &ecID, &ecPub, &ecSig, &pqID, &pqPub, &pqSig,
			&left.PreKeys, &left.PQPreKeys); err != nil {
			rows.Close()
			return nil, err
		}
		if !device.Valid {
			continue // the account has no such device
		}
		if !ecID.Valid || !pqID.Valid {
			rows.Close()
			return nil, fmt.Errorf("device %s.%d has no signed prekey", r.account, device.V)
		}
		c.Bundle.Devices = append(c.Bundle.Devices, api.DeviceBundle{
			DeviceID: device.V, RegistrationID: reg.V,
			SignedPreKey: api.SignedPreKey{KeyID: ecID.V, PublicKey: ecPub, Signature: ecSig},
			// The last resort, until a one-time PQ key is taken below.
			PQPreKey: api.SignedPreKey{KeyID: pqID.V, PublicKey: pqPub, Signature: pqSig}, PQLastResort: true,
		})
		c.Left = append(c.Left, left)
		keysLeft = keysLeft || left.PreKeys > 0 || left.PQPreKeys > 0
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found || len(c.Bundle.Devices) == 0 && r.device != 0 {
		return nil, keys.ErrNotFound
	}
	if !keysLeft || r.keep {
		return c, nil
	}
	rows, err = del.QueryContext(ctx, r.account, r.device, r.except)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			device, id uint32
			kind       string
			pub, sig   []byte
		)
		if err := rows.Scan(&device, &kind, &id, &pub, &sig); err != nil {
			return nil, err
		}
		i := slices.IndexFunc(c.Bundle.Devices, func(d api.DeviceBundle) bool { return d.DeviceID == device })
		if i < 0 {
			return nil, fmt.Errorf("claimed a key of device %s.%d, which was not read", r.account, device)
		}
		d := &c.Bundle.Devices[i]
		switch kind {
		case "ec":
			d.PreKey = &api.PreKey{KeyID: id, PublicKey: pub}
			c.Left[i].PreKeys--
		case "pq":
			d.PQPreKey, d.PQLastResort = api.SignedPreKey{KeyID: id, PublicKey: pub, Signature: sig}, false
			c.Left[i].PQPreKeys--
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return c, nil
}
