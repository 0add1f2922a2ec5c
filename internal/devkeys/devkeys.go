// Package devkeys makes the public keys a device uploads — an identity
// key pair, signed EC and Kyber1024 prekeys — with real signatures, for
// tools that act as many devices at once (tests, the load generator)
// without a full Signal client. The keys come from package signal; the
// private halves of the prekeys are thrown away. The reference client
// keeps its own, persistent keys.
package devkeys

import (
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/signal"
)

// Identity is an account's identity key pair.
type Identity struct{ Pair signal.IdentityKeyPair }

// NewIdentity makes a fresh identity key pair.
func NewIdentity() (Identity, error) {
	kp, err := signal.GenerateIdentityKeyPair(nil)
	return Identity{kp}, err
}

// Public returns the serialized public identity key.
func (id Identity) Public() []byte { return id.Pair.Public.Bytes() }

// Sign signs msg with the identity key (XEdDSA). It panics only when
// the system's random source fails.
func (id Identity) Sign(msg []byte) []byte {
	sig, err := id.Pair.Private.Sign(nil, msg)
	if err != nil {
		panic("devkeys: sign: " + err.Error())
	}
	return sig
}

// ECKey returns a fresh serialized curve25519 public key.
func ECKey() ([]byte, error) {
	kp, err := signal.GenerateKeyPair(nil)
	if err != nil {
		return nil, err
	}
	return kp.Public.Bytes(), nil
}

// SignedEC returns a signed EC prekey.
func (id Identity) SignedEC(keyID uint32) (api.SignedPreKey, error) {
	pub, err := ECKey()
	if err != nil {
		return api.SignedPreKey{}, err
	}
	return api.SignedPreKey{KeyID: keyID, PublicKey: pub, Signature: id.Sign(pub)}, nil
}

// SignedPQ returns a signed Kyber1024 prekey.
func (id Identity) SignedPQ(keyID uint32) (api.SignedPreKey, error) {
	kp, err := signal.GenerateKEMKeyPair(nil)
	if err != nil {
		return api.SignedPreKey{}, err
	}
	pub := kp.Public.Bytes()
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
