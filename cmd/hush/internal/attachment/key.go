package attachment

import (
	"crypto/rand"
	"fmt"
	"log/slog"
)

// Sizes of the scheme's parts, in bytes.
const (
	KeySize    = 64 // AES-256 key || HMAC-SHA256 key
	DigestSize = 32 // SHA-256 of the blob
	ivSize     = 16
	macSize    = 32
	blockSize  = 16
)

// Key is an attachment's 64-byte key. It encodes in JSON as base64 (it is
// a byte slice) and prints and logs as redacted.
type Key []byte

// NewKey returns a fresh random key.
func NewKey() Key {
	k := make(Key, KeySize)
	_, _ = rand.Read(k) // never fails (crypto/rand)
	return k
}

func (k Key) aesKey() []byte { return k[:32] }
func (k Key) macKey() []byte { return k[32:] }

func (k Key) check() error {
	if len(k) != KeySize {
		return ErrBadKey
	}
	return nil
}

const redacted = "REDACTED"

// String hides the key (fmt uses it for %s, %v, %x and %q).
func (k Key) String() string { return redacted }

// GoString hides the key from %#v.
func (k Key) GoString() string { return redacted }

// LogValue hides the key.
func (k Key) LogValue() slog.Value { return slog.StringValue(redacted) }

var (
	_ fmt.Stringer   = Key(nil)
	_ fmt.GoStringer = Key(nil)
	_ slog.LogValuer = Key(nil)
)
