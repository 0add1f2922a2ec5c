package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/signal"
)

const (
	// preKeyBatch is how many one-time keys of a kind one upload carries.
	preKeyBatch = api.MaxPreKeysPerUpload
	// preKeyRefill is the count of one-time keys on the server under which
	// the client uploads another batch.
	preKeyRefill = 20

	maxRegistrationID = 16380
)

// newRegistrationID returns a random registration id in 1..16380.
func newRegistrationID() (uint32, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(maxRegistrationID))
	if err != nil {
		return 0, err
	}
	return uint32(n.Int64()) + 1, nil
}

// newIdentity makes a new account's identity key pair.
func newIdentity() (signal.IdentityKeyPair, error) {
	id, err := signal.GenerateIdentityKeyPair(nil)
	if err != nil {
		return signal.IdentityKeyPair{}, fmt.Errorf("identity key: %w", err)
	}
	return id, nil
}

// deviceKeys are the keys a new device (registered or linked) brings: the
// server requires a signed prekey and a Kyber1024 last-resort key.
type deviceKeys struct {
	identity       signal.IdentityKeyPair
	registrationID uint32
	signed         *signal.SignedPreKeyRecord
	lastResort     *signal.KyberPreKeyRecord
}

// newDeviceKeys makes a registration id, a signed prekey and a Kyber
// last-resort prekey for ident; key ids come from st. Nothing is saved.
func newDeviceKeys(ctx context.Context, st *store.Store, ident signal.IdentityKeyPair) (*deviceKeys, error) {
	reg, err := newRegistrationID()
	if err != nil {
		return nil, fmt.Errorf("registration id: %w", err)
	}
	signed, lastResort, err := newSignedKeys(ctx, st, ident)
	if err != nil {
		return nil, err
	}
	return &deviceKeys{identity: ident, registrationID: reg, signed: signed, lastResort: lastResort}, nil
}

// newSignedKeys makes a signed prekey and a Kyber last-resort prekey.
func newSignedKeys(ctx context.Context, st *store.Store, ident signal.IdentityKeyPair) (*signal.SignedPreKeyRecord, *signal.KyberPreKeyRecord, error) {
	ids, err := st.AllocateIDs(ctx, store.KindSignedPreKey, 1)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	signed, err := signal.GenerateSignedPreKey(ident, ids[0], now, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("signed prekey: %w", err)
	}
	pqIDs, err := st.AllocateIDs(ctx, store.KindPQPreKey, 1)
	if err != nil {
		return nil, nil, err
	}
	lastResort, err := signal.GenerateKyberPreKey(ident, pqIDs[0], now, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("kyber last-resort prekey: %w", err)
	}
	return signed, lastResort, nil
}

// api returns the keys as the server takes them.
func (d *deviceKeys) api(name string) api.DeviceKeys {
	return api.DeviceKeys{
		RegistrationID:     d.registrationID,
		SignedPreKey:       signedAPI(d.signed),
		PQLastResortPreKey: kyberAPI(d.lastResort),
		Name:               name,
	}
}

// save stores the new device's account and keys in one transaction.
func (d *deviceKeys) save(ctx context.Context, st *store.Store, acct *store.Account) error {
	return st.InTx(ctx, func(ctx context.Context) error {
		if err := st.CreateAccount(ctx, acct); err != nil {
			return err
		}
		if err := st.StoreSignedPreKey(ctx, d.signed); err != nil {
			return err
		}
		return st.StoreKyberPreKey(ctx, d.lastResort, true)
	})
}

func signedAPI(r *signal.SignedPreKeyRecord) api.SignedPreKey {
	return api.SignedPreKey{KeyID: r.ID, PublicKey: r.KeyPair.Public.Bytes(), Signature: r.Signature}
}

func kyberAPI(r *signal.KyberPreKeyRecord) api.SignedPreKey {
	return api.SignedPreKey{KeyID: r.ID, PublicKey: r.KeyPair.Public.Bytes(), Signature: r.Signature}
}

// errBadPQKey is wrapped by every verifyPQPreKey error.
var errBadPQKey = errors.New("PQ prekey rejected")

// verifyPQPreKey checks that a fetched PQ prekey is a Kyber1024 key signed
// by the account's identity key. (ProcessPreKeyBundle checks it too; this
// names the key in the error.)
func verifyPQPreKey(ident signal.IdentityKey, k *api.SignedPreKey) error {
	if _, err := signal.ParseKEMPublicKey(k.PublicKey); err != nil {
		return fmt.Errorf("%w: key %d is not a %d-byte Kyber1024 key of type 0x08", errBadPQKey, k.KeyID, signal.KEMPublicKeySize)
	}
	if len(k.Signature) != signal.SignatureSize {
		return fmt.Errorf("%w: key %d: signature is not %d bytes", errBadPQKey, k.KeyID, signal.SignatureSize)
	}
	if !ident.Verify(k.PublicKey, k.Signature) {
		return fmt.Errorf("%w: key %d: signature does not verify", errBadPQKey, k.KeyID)
	}
	return nil
}

// preKeyBundle converts a device's bundle for signal; ik is the account's
// identity key.
func preKeyBundle(ik signal.IdentityKey, d *api.DeviceBundle) (*signal.PreKeyBundle, error) {
	spk, err := signal.ParsePublicKey(d.SignedPreKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signed prekey: %w", err)
	}
	if err := verifyPQPreKey(ik, &d.PQPreKey); err != nil {
		return nil, err
	}
	kyber, err := signal.ParseKEMPublicKey(d.PQPreKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("PQ prekey: %w", err)
	}
	b := &signal.PreKeyBundle{
		RegistrationID: d.RegistrationID, DeviceID: d.DeviceID,
		SignedPreKeyID: d.SignedPreKey.KeyID, SignedPreKey: spk, SignedPreKeySignature: d.SignedPreKey.Signature,
		IdentityKey:   ik,
		KyberPreKeyID: d.PQPreKey.KeyID, KyberPreKey: kyber, KyberPreKeySignature: d.PQPreKey.Signature,
	}
	if d.PreKey != nil {
		if d.PreKey.KeyID == 0 {
			return nil, errors.New("one-time prekey has id 0")
		}
		pk, err := signal.ParsePublicKey(d.PreKey.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("one-time prekey: %w", err)
		}
		b.PreKeyID, b.PreKey = d.PreKey.KeyID, &pk
	}
	return b, nil
}

// makePreKeys makes and stores one-time prekeys: EC ones under ecIDs and
// Kyber ones under pqIDs, and returns their public parts.
func (m *messenger) makePreKeys(ctx context.Context, set *api.SetKeys, ecIDs, pqIDs []uint32) error {
	now := time.Now()
	for _, id := range ecIDs {
		k, err := signal.GeneratePreKey(id, nil)
		if err != nil {
			return err
		}
		if err := m.st.StorePreKey(ctx, k); err != nil {
			return err
		}
		set.PreKeys = append(set.PreKeys, api.PreKey{KeyID: id, PublicKey: k.KeyPair.Public.Bytes()})
	}
	for _, id := range pqIDs {
		k, err := signal.GenerateKyberPreKey(m.me.Identity, id, now, nil)
		if err != nil {
			return err
		}
		if err := m.st.StoreKyberPreKey(ctx, k, false); err != nil {
			return err
		}
		set.PQPreKeys = append(set.PQPreKeys, kyberAPI(k))
	}
	return nil
}

// uploadPreKeys makes ec one-time EC prekeys and pq one-time Kyber
// prekeys, stores their private parts, then uploads the public parts.
func (m *messenger) uploadPreKeys(ctx context.Context, ec, pq int) error {
	if ec == 0 && pq == 0 {
		return nil
	}
	set := &api.SetKeys{}
	err := m.st.InTx(ctx, func(ctx context.Context) error {
		ecIDs, err := m.st.AllocateIDs(ctx, store.KindPreKey, ec)
		if err != nil {
			return err
		}
		pqIDs, err := m.st.AllocateIDs(ctx, store.KindPQPreKey, pq)
		if err != nil {
			return err
		}
		return m.makePreKeys(ctx, set, ecIDs, pqIDs)
	})
	if err != nil {
		return fmt.Errorf("make prekeys: %w", err)
	}
	if err := m.cl.SetKeys(ctx, set); err != nil {
		return fmt.Errorf("upload prekeys: %w", err)
	}
	return nil
}

// resetKeys uploads what a device owes after its keys were dropped (the
// move to package signal's records, store migration 4): a new signed
// prekey and Kyber last-resort key, then fresh one-time keys under the
// ids of the old ones, which replaces them on the server so that nobody
// is handed a key this device can no longer use. Each upload is recorded
// once the server took it, so a reset cut short goes on where it stopped.
func (m *messenger) resetKeys(ctx context.Context) error {
	r, err := m.st.PendingKeyReset(ctx)
	if err != nil || r == nil {
		return err
	}
	first := true
	for first || len(r.StaleEC)+len(r.StalePQ) > 0 {
		ec := r.StaleEC[:min(len(r.StaleEC), api.MaxPreKeysPerUpload)]
		pq := r.StalePQ[:min(len(r.StalePQ), api.MaxPreKeysPerUpload)]
		set := &api.SetKeys{}
		err := m.st.InTx(ctx, func(ctx context.Context) error {
			if first {
				signed, lastResort, err := newSignedKeys(ctx, m.st, m.me.Identity)
				if err != nil {
					return err
				}
				if err := m.st.StoreSignedPreKey(ctx, signed); err != nil {
					return err
				}
				if err := m.st.StoreKyberPreKey(ctx, lastResort, true); err != nil {
					return err
				}
				s, l := signedAPI(signed), kyberAPI(lastResort)
				set.SignedPreKey, set.PQLastResortPreKey = &s, &l
			}
			return m.makePreKeys(ctx, set, ec, pq)
		})
		if err != nil {
			return fmt.Errorf("make new keys: %w", err)
		}
		if err := m.cl.SetKeys(ctx, set); err != nil {
			return fmt.Errorf("upload new keys: %w", err)
		}
		err = m.st.InTx(ctx, func(ctx context.Context) error {
			if err := m.st.DoneStalePreKeys(ctx, "ec", ec); err != nil {
				return err
			}
			return m.st.DoneStalePreKeys(ctx, "pq", pq)
		})
		if err != nil {
			return err
		}
		r.StaleEC, r.StalePQ = slices.Clone(r.StaleEC[len(ec):]), slices.Clone(r.StalePQ[len(pq):])
		first = false
	}
	return m.st.FinishKeyReset(ctx)
}

// refillPreKeys uploads a batch of each kind of one-time prekey the server
// holds fewer than preKeyRefill of.
func (m *messenger) refillPreKeys(ctx context.Context, c api.KeyCount) error {
	var ec, pq int
	if c.PreKeys < preKeyRefill {
		ec = preKeyBatch
	}
	if c.PQPreKeys < preKeyRefill {
		pq = preKeyBatch
	}
	return m.uploadPreKeys(ctx, ec, pq)
}

// checkPreKeys finishes a pending key reset, then asks the server how many
// one-time prekeys are left and refills them when low.
func (m *messenger) checkPreKeys(ctx context.Context) error {
	if err := m.resetKeys(ctx); err != nil {
		return err
	}
	c, err := m.cl.KeyCount(ctx)
	if err != nil {
		return fmt.Errorf("count prekeys: %w", err)
	}
	return m.refillPreKeys(ctx, *c)
}
