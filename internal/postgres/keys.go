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
// transaction: one round trip and one commit for the batch. The batch is
// split into rounds, a round holding at most one claim per account (the
// first claims of each account, then the second ones...), and a round is
// one statement, whatever its number of claims and devices. One-time keys
// are taken with FOR UPDATE SKIP LOCKED, so claims on other nodes take
// other keys without waiting; every part of a statement reads the same
// snapshot, so the counts it reads include the keys it takes, and a round
// sees what the rounds before it took.
const (
	claimBatch = 64

	claimSQL = `WITH r AS (
			SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::bool[]) WITH ORDINALITY AS r (account_id, device, except_id, take, n)),
		d AS (
			SELECT r.n, r.take, v.account_id, v.device_id, v.registration_id
			FROM r JOIN devices v ON v.account_id = r.account_id
				AND (r.device = 0 OR v.device_id = r.device) AND v.device_id <> r.except_id),
		pick AS (
			SELECT k.account_id, k.device_id, k.kind, k.key_id
			FROM d CROSS JOIN (VALUES ('ec'), ('pq')) AS v (kind)
			CROSS JOIN LATERAL (
				SELECT o.account_id, o.device_id, o.kind, o.key_id FROM one_time_prekeys o
				WHERE d.take AND o.account_id = d.account_id AND o.device_id = d.device_id AND o.kind = v.kind
				ORDER BY o.key_id LIMIT 1 FOR UPDATE SKIP LOCKED) k),
		taken AS (
			DELETE FROM one_time_prekeys o USING pick p
			WHERE o.account_id = p.account_id AND o.device_id = p.device_id AND o.kind = p.kind AND o.key_id = p.key_id
			RETURNING o.account_id, o.device_id, o.kind, o.key_id, o.public_key, o.signature)
		SELECT r.n, a.identity_key, d.device_id, d.registration_id,
			e.key_id, e.public_key, e.signature,
			te.key_id, te.public_key,
			coalesce(tp.key_id, p.key_id), coalesce(tp.public_key, p.public_key), coalesce(tp.signature, p.signature), tp.key_id IS NULL,
			coalesce(c.ec, 0) - (te.key_id IS NOT NULL)::int, coalesce(c.pq, 0) - (tp.key_id IS NOT NULL)::int
		FROM r
		JOIN accounts a ON a.account_id = r.account_id
		LEFT JOIN d ON d.n = r.n
		LEFT JOIN signed_prekeys e ON e.account_id = d.account_id AND e.device_id = d.device_id AND e.kind = 'ec'
		LEFT JOIN signed_prekeys p ON p.account_id = d.account_id AND p.device_id = d.device_id AND p.kind = 'pq'
		LEFT JOIN taken te ON te.account_id = d.account_id AND te.device_id = d.device_id AND te.kind = 'ec'
		LEFT JOIN taken tp ON tp.account_id = d.account_id AND tp.device_id = d.device_id AND tp.kind = 'pq'
		LEFT JOIN LATERAL (
			SELECT count(*) FILTER (WHERE o.kind = 'ec') AS ec, count(*) FILTER (WHERE o.kind = 'pq') AS pq
			FROM one_time_prekeys o WHERE o.account_id = d.account_id AND o.device_id = d.device_id) c ON true
		ORDER BY r.n, d.device_id`
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
	if _, err := uuid.Parse(accountID); err != nil {
		return nil, keys.ErrNotFound // not an account id: no such account
	}
	return s.claim(ctx, &claimRequest{ctx: ctx, account: accountID, device: deviceID, except: except})
}

// Bundles implements keys.Store.
func (s *Store) Bundles(ctx context.Context, accountID string, deviceID, except uint32) (*keys.Claim, error) {
	if _, err := uuid.Parse(accountID); err != nil {
		return nil, keys.ErrNotFound
	}
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

// flushClaims runs a batch of claims in one implicit transaction. If one
// fails it takes the batch with it; the claims are then run one by one, so
// that only it fails.
func (s *Store) flushClaims(ctx context.Context, reqs []*claimRequest) error {
	reqs = waiting(reqs)
	if len(reqs) > 1 {
		b := &pgx.Batch{}
		for _, round := range rounds(reqs) {
			queueRound(b, round)
		}
		if err := s.pool.SendBatch(ctx, b).Close(); err == nil {
			return nil
		}
	}
	for _, r := range reqs {
		b := &pgx.Batch{}
		queueRound(b, []*claimRequest{r})
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			r.claim, r.err = nil, mapErr(err)
		}
	}
	return nil
}

// rounds splits reqs so that no round claims an account's keys twice.
func rounds(reqs []*claimRequest) [][]*claimRequest {
	var out [][]*claimRequest
	seen := make(map[string]int, len(reqs)) // account -> claims so far
	for _, r := range reqs {
		i := seen[r.account]
		seen[r.account] = i + 1
		if i == len(out) {
			out = append(out, nil)
		}
		out[i] = append(out[i], r)
	}
	return out
}

// queueRound queues one round's statement, which answers its claims.
func queueRound(b *pgx.Batch, round []*claimRequest) {
	accounts, devs, excepts := make([]string, len(round)), make([]int64, len(round)), make([]int64, len(round))
	take := make([]bool, len(round))
	for i, r := range round {
		accounts[i], devs[i], excepts[i], take[i] = r.account, int64(r.device), int64(r.except), !r.keep
		r.claim, r.err = nil, keys.ErrNotFound // until a row says otherwise
	}
	b.Queue(claimSQL, accounts, devs, excepts, take).Query(func(rows pgx.Rows) error {
		if err := readRound(rows, round); err != nil {
			for _, r := range round {
				r.claim, r.err = nil, err
			}
			return err
		}
		return nil
	})
}

// readRound reads a round's rows: for each claim of a known account, one
// per device, or one with no device if it has none of those asked for.
func readRound(rows pgx.Rows, round []*claimRequest) error {
	defer rows.Close()
	for rows.Next() {
		var (
			n                             int64
			identity                      []byte
			device, reg, ecID, otID, pqID *int64
			ecPub, ecSig, otPub           []byte
			pqPub, pqSig                  []byte
			lastResort                    bool
			left                          api.KeyCount
		)
		if err := rows.Scan(&n, &identity, &device, &reg, &ecID, &ecPub, &ecSig, &otID, &otPub,
			&pqID, &pqPub, &pqSig, &lastResort, &left.PreKeys, &left.PQPreKeys); err != nil {
			return err
		}
		if n < 1 || int(n) > len(round) {
			return fmt.Errorf("claim round: row %d of %d", n, len(round))
		}
		r := round[n-1]
		if r.claim == nil {
			r.claim, r.err = &keys.Claim{Bundle: api.Bundle{AccountID: r.account, IdentityKey: identity}}, nil
		}
		if device == nil {
			continue // the account has no such device
		}
		if ecID == nil || pqID == nil {
			return fmt.Errorf("device %s.%d has no signed prekey", r.account, *device)
		}
		d := api.DeviceBundle{
			DeviceID: uint32(*device), RegistrationID: uint32(*reg),
			SignedPreKey: api.SignedPreKey{KeyID: uint32(*ecID), PublicKey: ecPub, Signature: ecSig},
			PQPreKey:     api.SignedPreKey{KeyID: uint32(*pqID), PublicKey: pqPub, Signature: pqSig}, PQLastResort: lastResort,
		}
		if otID != nil {
			d.PreKey = &api.PreKey{KeyID: uint32(*otID), PublicKey: otPub}
		}
		r.claim.Bundle.Devices = append(r.claim.Bundle.Devices, d)
		r.claim.Left = append(r.claim.Left, left)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range round {
		if r.claim != nil && len(r.claim.Bundle.Devices) == 0 && r.device != 0 {
			r.claim, r.err = nil, keys.ErrNotFound
		}
	}
	return nil
}
