package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/batch"
	"github.com/hushmsg/hush/internal/httpx"
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

// Claims are group-committed (internal/batch): the claims waiting are sent
// together, as one pipeline that PostgreSQL runs as one implicit
// transaction: one round trip and one commit for the batch. Each claim is
// one statement whatever the number of devices. Its one-time keys are
// taken with FOR UPDATE SKIP LOCKED, so claims on other nodes take other
// keys without waiting; every part of the statement reads the same
// snapshot, so the counts it reads include the keys it takes.
const (
	claimBatch = 64

	claimSQL = `WITH d AS (
			SELECT device_id, registration_id FROM devices
			WHERE account_id = $1 AND ($2 = 0 OR device_id = $2) AND device_id <> $3),
		pick AS (
			SELECT k.device_id, k.kind, k.key_id
			FROM d CROSS JOIN (VALUES ('ec'), ('pq')) AS v (kind)
			CROSS JOIN LATERAL (
				SELECT o.device_id, o.kind, o.key_id FROM one_time_prekeys o
				WHERE o.account_id = $1 AND o.device_id = d.device_id AND o.kind = v.kind
				ORDER BY o.key_id LIMIT 1 FOR UPDATE SKIP LOCKED) k),
		taken AS (
			DELETE FROM one_time_prekeys o USING pick p
			WHERE o.account_id = $1 AND o.device_id = p.device_id AND o.kind = p.kind AND o.key_id = p.key_id
			RETURNING o.device_id, o.kind, o.key_id, o.public_key, o.signature)
		SELECT a.identity_key, d.device_id, d.registration_id,
			e.key_id, e.public_key, e.signature,
			te.key_id, te.public_key,
			coalesce(tp.key_id, p.key_id), coalesce(tp.public_key, p.public_key), coalesce(tp.signature, p.signature), tp.key_id IS NULL,
			coalesce(c.ec, 0) - (te.key_id IS NOT NULL)::int, coalesce(c.pq, 0) - (tp.key_id IS NOT NULL)::int
		FROM accounts a
		LEFT JOIN d ON true
		LEFT JOIN signed_prekeys e ON e.account_id = a.account_id AND e.device_id = d.device_id AND e.kind = 'ec'
		LEFT JOIN signed_prekeys p ON p.account_id = a.account_id AND p.device_id = d.device_id AND p.kind = 'pq'
		LEFT JOIN taken te ON te.device_id = d.device_id AND te.kind = 'ec'
		LEFT JOIN taken tp ON tp.device_id = d.device_id AND tp.kind = 'pq'
		LEFT JOIN LATERAL (
			SELECT count(*) FILTER (WHERE o.kind = 'ec') AS ec, count(*) FILTER (WHERE o.kind = 'pq') AS pq
			FROM one_time_prekeys o WHERE o.account_id = a.account_id AND o.device_id = d.device_id) c ON true
		WHERE a.account_id = $1
		ORDER BY d.device_id`
)

// claimRequest is one ClaimBundles call in a batch, and its answer.
type claimRequest struct {
	ctx            context.Context // the caller's: a claim it gave up on is not run
	account        string
	device, except uint32
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
	if _, err := uuid.Parse(accountID); err != nil {
		return nil, keys.ErrNotFound // not an account id: no such account
	}
	r := &claimRequest{ctx: ctx, account: accountID, device: deviceID, except: except}
	if err := s.claims.Do(ctx, r); err != nil {
		if errors.Is(err, batch.ErrClosed) {
			err = fmt.Errorf("%w: %w", httpx.ErrUnavailable, err)
		}
		return nil, err
	}
	return r.claim, r.err
}

// flushClaims runs a batch of claims in one implicit transaction. If one
// fails it takes the batch with it; the claims are then run one by one, so
// that only it fails.
func (s *Store) flushClaims(ctx context.Context, reqs []*claimRequest) error {
	reqs = waiting(reqs)
	if len(reqs) > 1 {
		b := &pgx.Batch{}
		for _, r := range reqs {
			b.Queue(claimSQL, r.account, int64(r.device), int64(r.except)).Query(func(rows pgx.Rows) error {
				r.claim, r.err = readClaim(rows, r)
				if errors.Is(r.err, keys.ErrNotFound) {
					return nil
				}
				return r.err
			})
		}
		if err := s.pool.SendBatch(ctx, b).Close(); err == nil {
			return nil
		}
	}
	for _, r := range reqs {
		rows, err := s.pool.Query(ctx, claimSQL, r.account, int64(r.device), int64(r.except))
		if err != nil {
			r.claim, r.err = nil, mapErr(err)
			continue
		}
		r.claim, r.err = readClaim(rows, r)
		r.err = mapErr(r.err)
	}
	return nil
}

// readClaim reads one claim's rows (one per device, or one with no device
// for an account without the devices asked for).
func readClaim(rows pgx.Rows, r *claimRequest) (*keys.Claim, error) {
	defer rows.Close()
	c := &keys.Claim{Bundle: api.Bundle{AccountID: r.account}}
	found := false
	for rows.Next() {
		found = true
		var (
			device, reg, ecID, otID, pqID *int64
			ecPub, ecSig, otPub           []byte
			pqPub, pqSig                  []byte
			lastResort                    bool
			left                          api.KeyCount
		)
		if err := rows.Scan(&c.Bundle.IdentityKey, &device, &reg, &ecID, &ecPub, &ecSig, &otID, &otPub,
			&pqID, &pqPub, &pqSig, &lastResort, &left.PreKeys, &left.PQPreKeys); err != nil {
			return nil, err
		}
		if device == nil {
			continue // the account has no such device
		}
		if ecID == nil || pqID == nil {
			return nil, fmt.Errorf("device %s.%d has no signed prekey", r.account, *device)
		}
		d := api.DeviceBundle{
			DeviceID: uint32(*device), RegistrationID: uint32(*reg),
			SignedPreKey: api.SignedPreKey{KeyID: uint32(*ecID), PublicKey: ecPub, Signature: ecSig},
			PQPreKey:     api.SignedPreKey{KeyID: uint32(*pqID), PublicKey: pqPub, Signature: pqSig}, PQLastResort: lastResort,
		}
		if otID != nil {
			d.PreKey = &api.PreKey{KeyID: uint32(*otID), PublicKey: otPub}
		}
		c.Bundle.Devices = append(c.Bundle.Devices, d)
		c.Left = append(c.Left, left)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found || len(c.Bundle.Devices) == 0 && r.device != 0 {
		return nil, keys.ErrNotFound
	}
	return c, nil
}
