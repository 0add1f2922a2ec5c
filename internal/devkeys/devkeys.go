// Package devkeys makes the public keys a device uploads — an identity
// key pair, signed EC and ML-KEM prekeys — with real signatures, for tools
// that act as many devices at once (tests, the load generator) without a
// full Signal client. The reference client keeps its own, persistent keys.
package devkeys

import (
	"crypto/mlkem"

	"go.mau.fi/libsignal/ecc"

	"github.com/hushmsg/hush/internal/api"
	_ "github.com/hushmsg/hush/internal/signallog" // before any libsignal call
)

// Identity is an account's identity key pair.
type Identity struct{ Pair *ecc.ECKeyPair }

// NewIdentity makes a fresh identity key pair.
func NewIdentity() (Identity, error) {
	kp, err := ecc.GenerateKeyPair()
	return Identity{kp}, err
}

// Public returns the serialized public identity key.
func (id Identity) Public() []byte { return id.Pair.PublicKey().Serialize() }

// Sign signs msg with the identity key (XEdDSA).
func (id Identity) Sign(msg []byte) []byte {
	sig := ecc.CalculateSignature(id.Pair.PrivateKey(), msg)
	return sig[:]
}

// ECKey returns a fresh serialized curve25519 public key.
func ECKey() ([]byte, error) {
	kp, err := ecc.GenerateKeyPair()
	if err != nil {
		return nil, err
	}
	return kp.PublicKey().Serialize(), nil
}

// SignedEC returns a signed EC prekey.
func (id Identity) SignedEC(keyID uint32) (api.SignedPreKey, error) {
	pub, err := ECKey()
	return api.SignedPreKey{KeyID: keyID, PublicKey: pub, Signature: id.Sign(pub)}, err
}

// SignedPQ returns a signed ML-KEM-1024 prekey.
func (id Identity) SignedPQ(keyID uint32) (api.SignedPreKey, error) {
	dk, err := mlkem.GenerateKey1024()
	if err != nil {
		return api.SignedPreKey{}, err
	}
	pub := append([]byte{0x08}, dk.EncapsulationKey().Bytes()...)
	return api.SignedPreKey{KeyID: keyID, PublicKey: pub, Signature: id.Sign(pub)}, nil
}

// DeviceKeys returns valid keys for a new device with registration id reg.
func (id Identity) DeviceKeys(reg uint32) (api.DeviceKeys, error) {
	spk, err := id.SignedEC(1)
	if err != nil {
		return api.DeviceKeys{}, err
	}
	pq, err := id.SignedPQ(1)
	return api.DeviceKeys{RegistrationID: reg, SignedPreKey: spk, PQLastResortPreKey: pq}, err
}
