package main

import (
	"context"
	"crypto/mlkem"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/state/record"
	"go.mau.fi/libsignal/util/keyhelper"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/api"
)

const (
	// preKeyBatch is how many one-time keys of a kind one upload carries.
	preKeyBatch = api.MaxPreKeysPerUpload
	// preKeyRefill is the count of one-time keys on the server under which
	// the client uploads another batch.
	preKeyRefill = 20

	maxRegistrationID = 16380

	ecKeySize     = 33
	signatureSize = 64
	pqKeyType     = 0x08
	// pqKeySize is 0x08 || ML-KEM-1024 encapsulation key.
	pqKeySize = 1 + mlkem.EncapsulationKeySize1024
)

// newRegistrationID returns a random registration id in 1..16380.
func newRegistrationID() (uint32, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(maxRegistrationID))
	if err != nil {
		return 0, err
	}
	return uint32(n.Int64()) + 1, nil
}

// deviceKeys are the keys a new device (registered or linked) brings.
type deviceKeys struct {
	identity       *identity.KeyPair
	registrationID uint32
	signed         *record.SignedPreKey
	pqLastResort   *store.PQPreKey
}

// newDeviceKeys makes a registration id, a signed prekey and a PQ
// last-resort prekey for ident; key ids come from st. Nothing is saved.
func newDeviceKeys(ctx context.Context, st *store.Store, ident *identity.KeyPair) (*deviceKeys, error) {
	reg, err := newRegistrationID()
	if err != nil {
		return nil, fmt.Errorf("registration id: %w", err)
	}
	ids, err := st.AllocateIDs(ctx, store.KindSignedPreKey, 1)
	if err != nil {
		return nil, err
	}
	signed, err := keyhelper.GenerateSignedPreKey(ident, ids[0], st.Serializer().SignedPreKeyRecord)
	if err != nil {
		return nil, fmt.Errorf("signed prekey: %w", err)
	}
	pqIDs, err := st.AllocateIDs(ctx, store.KindPQPreKey, 1)
	if err != nil {
		return nil, err
	}
	pq, err := newPQPreKey(pqIDs[0], ident, true)
	if err != nil {
		return nil, err
	}
	return &deviceKeys{identity: ident, registrationID: reg, signed: signed, pqLastResort: pq}, nil
}

// api returns the keys as the server takes them.
func (d *deviceKeys) api(name string) api.DeviceKeys {
	return api.DeviceKeys{
		RegistrationID:     d.registrationID,
		SignedPreKey:       signedAPI(d.signed),
		PQLastResortPreKey: d.pqLastResort.API(),
		Name:               name,
	}
}

// save stores the new device's account and keys in one transaction.
func (d *deviceKeys) save(ctx context.Context, st *store.Store, acct *store.Account) error {
	return st.InTx(ctx, func(ctx context.Context) error {
		if err := st.CreateAccount(ctx, acct); err != nil {
			return err
		}
		if err := st.StoreSignedPreKey(ctx, d.signed.ID(), d.signed); err != nil {
			return err
		}
		return st.StorePQPreKey(ctx, d.pqLastResort)
	})
}

func signedAPI(r *record.SignedPreKey) api.SignedPreKey {
	sig := r.Signature()
	return api.SignedPreKey{KeyID: r.ID(), PublicKey: r.KeyPair().PublicKey().Serialize(), Signature: sig[:]}
}

// newPQPreKey makes an ML-KEM-1024 prekey signed by ident. libsignal has no
// PQXDH, so these keys are published (and their signatures checked) but no
// session uses them yet.
func newPQPreKey(id uint32, ident *identity.KeyPair, lastResort bool) (*store.PQPreKey, error) {
	dk, err := mlkem.GenerateKey1024()
	if err != nil {
		return nil, fmt.Errorf("ML-KEM key: %w", err)
	}
	pub := append([]byte{pqKeyType}, dk.EncapsulationKey().Bytes()...)
	sig := ecc.CalculateSignature(ident.PrivateKey(), pub)
	return &store.PQPreKey{ID: id, PublicKey: pub, Signature: sig[:], Seed: dk.Bytes(), LastResort: lastResort}, nil
}

// errBadPQKey is wrapped by every verifyPQPreKey error.
var errBadPQKey = errors.New("PQ prekey rejected")

// verifyPQPreKey checks the shape of a fetched PQ prekey and its signature
// by the account's identity key.
func verifyPQPreKey(ident ecc.ECPublicKeyable, k *api.SignedPreKey) error {
	if len(k.PublicKey) != pqKeySize || k.PublicKey[0] != pqKeyType {
		return fmt.Errorf("%w: key %d is not %d bytes of type 0x08", errBadPQKey, k.KeyID, pqKeySize)
	}
	if _, err := mlkem.NewEncapsulationKey1024(k.PublicKey[1:]); err != nil {
		return fmt.Errorf("%w: key %d: %v", errBadPQKey, k.KeyID, err)
	}
	if len(k.Signature) != signatureSize {
		return fmt.Errorf("%w: key %d: signature is not %d bytes", errBadPQKey, k.KeyID, signatureSize)
	}
	if !ecc.VerifySignature(ident, k.PublicKey, [signatureSize]byte(k.Signature)) {
		return fmt.Errorf("%w: key %d: signature does not verify", errBadPQKey, k.KeyID)
	}
	return nil
}

// decodeECKey parses a serialized curve25519 public key.
func decodeECKey(what string, b []byte) (ecc.ECPublicKeyable, error) {
	if len(b) != ecKeySize || b[0] != ecc.DjbType {
		return nil, fmt.Errorf("%s is not a %d-byte curve25519 key", what, ecKeySize)
	}
	return ecc.DecodePoint(b, 0)
}

// uploadPreKeys makes ec one-time EC prekeys and pq one-time PQ prekeys,
// stores their private parts, then uploads the public parts.
func (m *messenger) uploadPreKeys(ctx context.Context, ec, pq int) error {
	if ec == 0 && pq == 0 {
		return nil
	}
	set := &api.SetKeys{}
	err := m.st.InTx(ctx, func(ctx context.Context) error {
		ids, err := m.st.AllocateIDs(ctx, store.KindPreKey, ec)
		if err != nil {
			return err
		}
		for _, id := range ids {
			kp, err := ecc.GenerateKeyPair()
			if err != nil {
				return err
			}
			if err := m.st.StorePreKey(ctx, id, record.NewPreKey(id, kp, m.st.Serializer().PreKeyRecord)); err != nil {
				return err
			}
			set.PreKeys = append(set.PreKeys, api.PreKey{KeyID: id, PublicKey: kp.PublicKey().Serialize()})
		}
		pqIDs, err := m.st.AllocateIDs(ctx, store.KindPQPreKey, pq)
		if err != nil {
			return err
		}
		for _, id := range pqIDs {
			k, err := newPQPreKey(id, m.me.Identity, false)
			if err != nil {
				return err
			}
			if err := m.st.StorePQPreKey(ctx, k); err != nil {
				return err
			}
			set.PQPreKeys = append(set.PQPreKeys, k.API())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("make prekeys: %w", err)
	}
	if err := m.cl.SetKeys(ctx, set); err != nil {
		return fmt.Errorf("upload prekeys: %w", err)
	}
	return nil
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

// checkPreKeys asks the server how many one-time prekeys are left and
// refills them when low.
func (m *messenger) checkPreKeys(ctx context.Context) error {
	c, err := m.cl.KeyCount(ctx)
	if err != nil {
		return fmt.Errorf("count prekeys: %w", err)
	}
	return m.refillPreKeys(ctx, *c)
}
