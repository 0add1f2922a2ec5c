package keys

import (
	"fmt"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/signal"
)

// Serialized key sizes: a type byte and the key.
const (
	ECKeySize     = signal.PublicKeySize    // 0x05 || curve25519 public key
	PQKeySize     = signal.KEMPublicKeySize // 0x08 || Kyber1024 public key
	SignatureSize = signal.SignatureSize
)

// CheckECKey checks that b is a serialized curve25519 public key.
func CheckECKey(field string, b []byte) error {
	if _, err := signal.ParsePublicKey(b); err != nil {
		return &KeyError{Field: field, Reason: fmt.Sprintf("want a %d-byte curve25519 key of type 0x05", ECKeySize)}
	}
	return nil
}

// checkPQKey checks that b is a serialized Kyber1024 public key, the KEM
// key type 0x08 of the official library.
func checkPQKey(field string, b []byte) error {
	if _, err := signal.ParseKEMPublicKey(b); err != nil {
		return &KeyError{Field: field, Reason: fmt.Sprintf("want a %d-byte Kyber1024 key of type 0x08", PQKeySize)}
	}
	return nil
}

// CheckSigned checks the shape of a signed prekey (EC when pq is false) and
// its signature by identityKey. It returns a *KeyError for a malformed key
// and errBadSignature for one that does not verify.
func CheckSigned(identityKey []byte, field string, k *api.SignedPreKey, pq bool) error {
	check := CheckECKey
	if pq {
		check = checkPQKey
	}
	if err := check(field+".public_key", k.PublicKey); err != nil {
		return err
	}
	if len(k.Signature) != SignatureSize {
		return &KeyError{Field: field + ".signature", Reason: "want 64 bytes"}
	}
	if !Verify(identityKey, k.PublicKey, k.Signature) {
		return errBadSignature
	}
	return nil
}

// Verify reports whether sig is identityKey's XEdDSA signature over msg.
// A malformed identity key does not verify.
func Verify(identityKey, msg, sig []byte) bool {
	pub, err := signal.ParsePublicKey(identityKey)
	if err != nil || len(sig) != SignatureSize {
		return false
	}
	return pub.Verify(msg, sig)
}
