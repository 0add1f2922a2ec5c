package client

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"unicode"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	"github.com/hushmsg/hush/internal/api"
)

// Registration lock derivation (docs/api.md): the parameters and the
// split of the 64-byte output are those of Signal's PIN hash.
const (
	pinTime    = 32
	pinMemory  = 16 * 1024 // KiB
	pinThreads = 1
	pinKeyLen  = 64
	// ReglockSaltSize and ReglockTokenSize are the sizes the server takes.
	ReglockSaltSize  = 32
	ReglockTokenSize = 32
	// MinPINLength is the fewest characters a PIN may have.
	MinPINLength = 4
)

// ErrShortPIN is returned for a PIN under MinPINLength characters.
var ErrShortPIN = errors.New("a PIN has at least 4 characters")

// NormalizePIN trims white space around pin, applies Unicode NFKD, and
// maps every digit of an all-digit PIN to ASCII 0-9, so that the same PIN
// typed on another keyboard derives the same token.
func NormalizePIN(pin string) string {
	pin = norm.NFKD.String(strings.TrimSpace(pin))
	digits := pin != ""
	for _, r := range pin {
		digits = digits && unicode.IsDigit(r)
	}
	if !digits {
		return pin
	}
	return strings.Map(func(r rune) rune {
		// Decimal digits come in runs of ten from zero; after NFKD the
		// runs that touch each other (mathematical digits) are ASCII.
		zero := r
		for r-zero < 9 && unicode.IsDigit(zero-1) {
			zero--
		}
		return '0' + (r - zero)
	}, pin)
}

// RegistrationLockToken derives the registration lock token of a PIN
// (normalized here) and salt: HMAC-SHA256 keyed by the second half of
// Argon2id(PIN, salt), over "Registration Lock".
func RegistrationLockToken(pin string, salt []byte) ([]byte, error) {
	pin = NormalizePIN(pin)
	if len([]rune(pin)) < MinPINLength {
		return nil, ErrShortPIN
	}
	if len(salt) != ReglockSaltSize {
		return nil, errors.New("registration lock salt must be 32 bytes")
	}
	mac := hmac.New(sha256.New, pinAccessKey([]byte(pin), salt))
	mac.Write([]byte("Registration Lock"))
	return mac.Sum(nil), nil
}

// pinAccessKey is the second half of Argon2id(pin, salt) with Signal's
// PIN hash parameters (its "access key").
func pinAccessKey(pin, salt []byte) []byte {
	return argon2.IDKey(pin, salt, pinTime, pinMemory, pinThreads, pinKeyLen)[32:]
}

// SetRegistrationLock derives a token from pin with a fresh salt and sets
// it as the account's registration lock (PUT
// /v1/account/registration-lock; primary device only).
func (c *Client) SetRegistrationLock(ctx context.Context, pin string) error {
	salt := make([]byte, ReglockSaltSize)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	token, err := RegistrationLockToken(pin, salt)
	if err != nil {
		return err
	}
	return c.do(ctx, call{method: http.MethodPut, path: "/v1/account/registration-lock", auth: true,
		in: api.SetRegistrationLock{Token: token, Salt: salt}})
}

// DeleteRegistrationLock removes the account's registration lock (primary
// device only).
func (c *Client) DeleteRegistrationLock(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodDelete, path: "/v1/account/registration-lock", auth: true})
}

// RegistrationLocked returns what a 423 registration_locked answer holds,
// or nil when err is not one.
func RegistrationLocked(err error) *api.RegistrationLocked {
	var ae *APIError
	if errors.As(err, &ae) && ae.Body.Code == api.CodeRegistrationLocked {
		return ae.Body.RegistrationLock
	}
	return nil
}
