package signal

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"

	"github.com/cloudflare/circl/kem/kyber/kyber1024"
)

// Kyber prekeys use Kyber1024 as submitted to NIST's third round, which
// is what libsignal's key type 0x08 is (libcrux's kyber1024 module), not
// the final ML-KEM of FIPS 203: encapsulation hashes its randomness first
// and the shared secret is SHAKE256 of K' and H(c). Keys and ciphertexts
// are serialized with the type byte first.

const kyber1024Type = 0x08

// Serialized sizes, type byte included.
const (
	KEMPublicKeySize  = 1 + kyber1024.PublicKeySize  // 1569
	KEMSecretKeySize  = 1 + kyber1024.PrivateKeySize // 3169
	KEMCiphertextSize = 1 + kyber1024.CiphertextSize // 1569
	kemSharedKeySize  = kyber1024.SharedKeySize
)

// KEMPublicKey is a Kyber1024 public key.
type KEMPublicKey struct {
	raw []byte // serialized, type byte first
	pk  kyber1024.PublicKey
}

// ParseKEMPublicKey decodes a serialized Kyber1024 public key.
func ParseKEMPublicKey(b []byte) (*KEMPublicKey, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty KEM public key", ErrInvalidKey)
	}
	if b[0] != kyber1024Type {
		return nil, fmt.Errorf("%w: KEM key type %#x", ErrInvalidKey, b[0])
	}
	if len(b) != KEMPublicKeySize {
		return nil, fmt.Errorf("%w: KEM public key of %d bytes", ErrInvalidKey, len(b))
	}
	k := &KEMPublicKey{raw: clone(b)}
	k.pk.Unpack(k.raw[1:])
	return k, nil
}

// Bytes returns the serialized key.
func (k *KEMPublicKey) Bytes() []byte { return clone(k.raw) }

// Equal reports whether k and o are the same key.
func (k *KEMPublicKey) Equal(o *KEMPublicKey) bool {
	return k != nil && o != nil && string(k.raw) == string(o.raw)
}

// Encapsulate returns a fresh shared secret and its serialized
// ciphertext for k, with randomness from r (crypto/rand when nil).
func (k *KEMPublicKey) Encapsulate(r io.Reader) (secret, ciphertext []byte, err error) {
	if r == nil {
		r = rand.Reader
	}
	seed := make([]byte, kyber1024.EncapsulationSeedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return nil, nil, fmt.Errorf("signal: encapsulate: %w", err)
	}
	ct := make([]byte, KEMCiphertextSize)
	ct[0] = kyber1024Type
	ss := make([]byte, kemSharedKeySize)
	k.pk.EncapsulateTo(ct[1:], ss, seed)
	return ss, ct, nil
}

// KEMSecretKey is a Kyber1024 secret key. It never prints or logs its value.
type KEMSecretKey struct {
	raw []byte
	sk  kyber1024.PrivateKey
}

// ParseKEMSecretKey decodes a serialized Kyber1024 secret key.
func ParseKEMSecretKey(b []byte) (*KEMSecretKey, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty KEM secret key", ErrInvalidKey)
	}
	if b[0] != kyber1024Type {
		return nil, fmt.Errorf("%w: KEM key type %#x", ErrInvalidKey, b[0])
	}
	if len(b) != KEMSecretKeySize {
		return nil, fmt.Errorf("%w: KEM secret key of %d bytes", ErrInvalidKey, len(b))
	}
	k := &KEMSecretKey{raw: clone(b)}
	k.sk.Unpack(k.raw[1:])
	return k, nil
}

// Bytes returns the serialized secret key.
func (k *KEMSecretKey) Bytes() []byte { return clone(k.raw) }

// Decapsulate returns the shared secret in a serialized ciphertext.
// Like every Kyber decapsulation it cannot tell a forged ciphertext: that
// yields an unrelated secret, which the protocol's MAC then rejects.
func (k *KEMSecretKey) Decapsulate(ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 {
		return nil, fmt.Errorf("%w: empty KEM ciphertext", ErrInvalidMessage)
	}
	if ciphertext[0] != kyber1024Type {
		return nil, fmt.Errorf("%w: KEM ciphertext type %#x", ErrInvalidMessage, ciphertext[0])
	}
	if len(ciphertext) != KEMCiphertextSize {
		return nil, fmt.Errorf("%w: KEM ciphertext of %d bytes", ErrInvalidMessage, len(ciphertext))
	}
	ss := make([]byte, kemSharedKeySize)
	k.sk.DecapsulateTo(ss, ciphertext[1:])
	return ss, nil
}

// String redacts the key.
func (*KEMSecretKey) String() string { return "KEMSecretKey(REDACTED)" }

// GoString redacts the key.
func (*KEMSecretKey) GoString() string { return "signal.KEMSecretKey(REDACTED)" }

// LogValue redacts the key.
func (*KEMSecretKey) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// KEMKeyPair is a Kyber1024 key pair.
type KEMKeyPair struct {
	Public *KEMPublicKey
	Secret *KEMSecretKey
}

// GenerateKEMKeyPair returns a new random Kyber1024 key pair
// (crypto/rand when r is nil).
func GenerateKEMKeyPair(r io.Reader) (KEMKeyPair, error) {
	if r == nil {
		r = rand.Reader
	}
	seed := make([]byte, kyber1024.KeySeedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return KEMKeyPair{}, fmt.Errorf("signal: generate KEM key: %w", err)
	}
	pk, sk := kyber1024.NewKeyFromSeed(seed)
	pub := &KEMPublicKey{raw: make([]byte, KEMPublicKeySize), pk: *pk}
	pub.raw[0] = kyber1024Type
	pk.Pack(pub.raw[1:])
	sec := &KEMSecretKey{raw: make([]byte, KEMSecretKeySize), sk: *sk}
	sec.raw[0] = kyber1024Type
	sk.Pack(sec.raw[1:])
	return KEMKeyPair{Public: pub, Secret: sec}, nil
}

// String redacts the secret half.
func (p KEMKeyPair) String() string { return "KEMKeyPair(REDACTED)" }

// LogValue redacts the secret half.
func (p KEMKeyPair) LogValue() slog.Value { return slog.StringValue("REDACTED") }
