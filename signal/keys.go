package signal

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"

	"golang.org/x/crypto/curve25519"
	"google.golang.org/protobuf/encoding/protowire"
)

// djbType is the type byte of a serialized Curve25519 public key.
const djbType = 0x05

// PublicKeySize is the length of a serialized public key (type byte and
// the 32-byte Montgomery u-coordinate).
const PublicKeySize = 33

// PublicKey is a Curve25519 public key (the Montgomery u-coordinate).
type PublicKey [32]byte

// ParsePublicKey decodes a serialized public key: the type byte 0x05 and
// 32 bytes. Trailing bytes are rejected.
func ParsePublicKey(b []byte) (PublicKey, error) {
	var k PublicKey
	if len(b) == 0 {
		return k, fmt.Errorf("%w: empty public key", ErrInvalidKey)
	}
	if b[0] != djbType {
		return k, fmt.Errorf("%w: public key type %#x", ErrInvalidKey, b[0])
	}
	if len(b) != PublicKeySize {
		return k, fmt.Errorf("%w: public key of %d bytes", ErrInvalidKey, len(b))
	}
	copy(k[:], b[1:])
	return k, nil
}

// Bytes returns the serialized key (33 bytes, type byte first).
func (k PublicKey) Bytes() []byte {
	out := make([]byte, PublicKeySize)
	out[0] = djbType
	copy(out[1:], k[:])
	return out
}

// appendTo appends the serialized key to b.
func (k PublicKey) appendTo(b []byte) []byte {
	b = append(b, djbType)
	return append(b, k[:]...)
}

// Equal reports whether k and o are the same key, in constant time.
func (k PublicKey) Equal(o PublicKey) bool {
	return subtle.ConstantTimeCompare(k[:], o[:]) == 1
}

// String returns the key in hex (public keys are not secret).
func (k PublicKey) String() string { return hex.EncodeToString(k[:]) }

// Verify reports whether sig is a valid XEdDSA signature of msg by k.
func (k PublicKey) Verify(msg, sig []byte) bool {
	return xeddsaVerify(k, [][]byte{msg}, sig)
}

// isCanonical reports whether k is torsion-free and its u-coordinate is
// fully reduced, as libsignal requires of an incoming base key.
func (k PublicKey) isCanonical() bool {
	return montgomeryTorsionFree(k) && montgomeryInRange(k)
}

// PrivateKey is a Curve25519 private key (clamped scalar). It never
// prints or logs its value.
type PrivateKey struct {
	b [32]byte
}

// GeneratePrivateKey returns a new random private key read from r
// (crypto/rand when r is nil).
func GeneratePrivateKey(r io.Reader) (PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	var k PrivateKey
	if _, err := io.ReadFull(r, k.b[:]); err != nil {
		return PrivateKey{}, fmt.Errorf("signal: generate private key: %w", err)
	}
	clamp(&k.b)
	return k, nil
}

// ParsePrivateKey decodes a 32-byte private key. Like libsignal it
// clamps the scalar.
func ParsePrivateKey(b []byte) (PrivateKey, error) {
	var k PrivateKey
	if len(b) != 32 {
		return k, fmt.Errorf("%w: private key of %d bytes", ErrInvalidKey, len(b))
	}
	copy(k.b[:], b)
	clamp(&k.b)
	return k, nil
}

func clamp(b *[32]byte) {
	b[0] &= 248
	b[31] &= 127
	b[31] |= 64
}

// Bytes returns the 32-byte private key.
func (k PrivateKey) Bytes() []byte { return append([]byte(nil), k.b[:]...) }

// PublicKey returns the public key of k.
func (k PrivateKey) PublicKey() PublicKey {
	var p PublicKey
	out, err := curve25519.X25519(k.b[:], curve25519.Basepoint)
	if err != nil {
		// The base point is never of low order.
		panic("signal: X25519 with the base point failed")
	}
	copy(p[:], out)
	return p
}

// Agree returns the X25519 shared secret of k and pub. An all-zero
// result (pub of low order) is an error, as in libsignal.
func (k PrivateKey) Agree(pub PublicKey) ([]byte, error) {
	out, err := curve25519.X25519(k.b[:], pub[:])
	if err != nil {
		return nil, fmt.Errorf("%w: key agreement with a low-order point", ErrInvalidKey)
	}
	return out, nil
}

// Sign returns an XEdDSA signature of msg with randomness from r
// (crypto/rand when nil). Signatures are randomized: two signatures of
// the same message differ.
func (k PrivateKey) Sign(r io.Reader, msg []byte) ([]byte, error) {
	return xeddsaSign(k, r, [][]byte{msg})
}

// String redacts the key.
func (PrivateKey) String() string { return "PrivateKey(REDACTED)" }

// GoString redacts the key.
func (PrivateKey) GoString() string { return "signal.PrivateKey(REDACTED)" }

// LogValue redacts the key.
func (PrivateKey) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// KeyPair is a Curve25519 key pair.
type KeyPair struct {
	Public  PublicKey
	Private PrivateKey
}

// GenerateKeyPair returns a new random key pair (crypto/rand when r is nil).
func GenerateKeyPair(r io.Reader) (KeyPair, error) {
	priv, err := GeneratePrivateKey(r)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Public: priv.PublicKey(), Private: priv}, nil
}

// NewKeyPair returns the pair of priv and its public key.
func NewKeyPair(priv PrivateKey) KeyPair {
	return KeyPair{Public: priv.PublicKey(), Private: priv}
}

// String redacts the private half.
func (p KeyPair) String() string { return "KeyPair(" + p.Public.String() + ", REDACTED)" }

// LogValue redacts the private half.
func (p KeyPair) LogValue() slog.Value {
	return slog.GroupValue(slog.String("public", p.Public.String()), slog.String("private", "REDACTED"))
}

// IdentityKey is the public key that identifies a user's device.
type IdentityKey struct {
	PublicKey
}

// ParseIdentityKey decodes a serialized identity key (33 bytes).
func ParseIdentityKey(b []byte) (IdentityKey, error) {
	k, err := ParsePublicKey(b)
	return IdentityKey{k}, err
}

// Equal reports whether k and o are the same key, in constant time.
func (k IdentityKey) Equal(o IdentityKey) bool { return k.PublicKey.Equal(o.PublicKey) }

// IdentityKeyPair is a device's long-term identity.
type IdentityKeyPair struct {
	Public  IdentityKey
	Private PrivateKey
}

// GenerateIdentityKeyPair returns a new random identity (crypto/rand
// when r is nil).
func GenerateIdentityKeyPair(r io.Reader) (IdentityKeyPair, error) {
	kp, err := GenerateKeyPair(r)
	if err != nil {
		return IdentityKeyPair{}, err
	}
	return IdentityKeyPair{Public: IdentityKey{kp.Public}, Private: kp.Private}, nil
}

// NewIdentityKeyPair returns the identity of priv.
func NewIdentityKeyPair(priv PrivateKey) IdentityKeyPair {
	return IdentityKeyPair{Public: IdentityKey{priv.PublicKey()}, Private: priv}
}

// keyPair returns the identity as a plain key pair.
func (p IdentityKeyPair) keyPair() KeyPair {
	return KeyPair{Public: p.Public.PublicKey, Private: p.Private}
}

// Bytes serializes the identity as libsignal's IdentityKeyPairStructure
// (public_key = 1, private_key = 2).
func (p IdentityKeyPair) Bytes() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, p.Public.Bytes())
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, p.Private.b[:])
	return b
}

// ParseIdentityKeyPair decodes IdentityKeyPair.Bytes.
func ParseIdentityKeyPair(b []byte) (IdentityKeyPair, error) {
	var pub, priv []byte
	err := walkFields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case 1:
			pub = v
		case 2:
			priv = v
		}
		return nil
	}, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.BytesType})
	if err != nil {
		return IdentityKeyPair{}, fmt.Errorf("%w: identity key pair: %w", ErrInvalidKey, err)
	}
	ik, err := ParseIdentityKey(pub)
	if err != nil {
		return IdentityKeyPair{}, err
	}
	pk, err := ParsePrivateKey(priv)
	if err != nil {
		return IdentityKeyPair{}, err
	}
	return IdentityKeyPair{Public: ik, Private: pk}, nil
}

// String redacts the private half.
func (p IdentityKeyPair) String() string {
	return "IdentityKeyPair(" + p.Public.String() + ", REDACTED)"
}

// LogValue redacts the private half.
func (p IdentityKeyPair) LogValue() slog.Value { return p.keyPair().LogValue() }
