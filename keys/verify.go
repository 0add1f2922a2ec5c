package keys

import (
	"fmt"

	"go.mau.fi/libsignal/ecc"

	"github.com/hushmsg/hush/internal/api"
	_ "github.com/hushmsg/hush/internal/signallog" // before any libsignal call
)

// Serialized key sizes: a type byte and the key.
const (
	ECKeySize     = 33   // 0x05 || curve25519 public key
	PQKeySize     = 1569 // 0x08 || ML-KEM-1024 encapsulation key
	SignatureSize = 64

	ecKeyType = 0x05
	pqKeyType = 0x08
)

// CheckECKey checks that b is a serialized curve25519 public key.
func CheckECKey(field string, b []byte) error {
	if len(b) != ECKeySize || b[0] != ecKeyType {
		return &KeyError{Field: field, Reason: fmt.Sprintf("want a %d-byte curve25519 key of type 0x05", ECKeySize)}
	}
	return nil
}

func checkPQKey(field string, b []byte) error {
	if len(b) != PQKeySize || b[0] != pqKeyType {
		return &KeyError{Field: field, Reason: fmt.Sprintf("want a %d-byte ML-KEM-1024 key of type 0x08", PQKeySize)}
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
	if CheckECKey("identity_key", identityKey) != nil || len(sig) != SignatureSize {
		return false
	}
	pub, err := ecc.DecodePoint(identityKey, 0)
	if err != nil {
		return false
	}
	return ecc.VerifySignature(pub, msg, [SignatureSize]byte(sig))
}
