package client

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPINAccessKeyKnownAnswers: the Argon2id step gives the access keys
// of libsignal's PinHash test vectors (account-keys, known_hash and
// known_hash2), so a client on libsignal derives the same token.
func TestPINAccessKeyKnownAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct{ pin, salt, accessKey string }{
		{"password", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "ab7e8499d21f80a6600b3b9ee349ac6d72c07e3359fe885a934ba7aa844429f8"},
		{"anotherpassword", "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f", "301d9dd1e96f20ce51083f67d3298fd37b97525de8324d5e12ed2d407d3d927b"},
	}
	for _, tt := range tests {
		if got := pinAccessKey([]byte(tt.pin), unhex(t, tt.salt)); !bytes.Equal(got, unhex(t, tt.accessKey)) {
			t.Errorf("access key of %q = %x, want %s", tt.pin, got, tt.accessKey)
		}
	}
}

func TestNormalizePIN(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{" 1234\n", "1234"},
		{"١٢٣٤", "1234"},               // Arabic-Indic digits
		{"۱۲۳۴", "1234"},               // Extended Arabic-Indic
		{"１２３４", "1234"},               // fullwidth, by NFKD
		{"𝟏𝟐𝟑𝟒", "1234"},               // mathematical bold, by NFKD
		{"१२३४५", "12345"},             // Devanagari
		{"pässword", "pa\u0308ssword"}, // NFKD, letters kept
		{"12a4", "12a4"},
	}
	for _, tt := range tests {
		if got := NormalizePIN(tt.in); got != tt.want {
			t.Errorf("NormalizePIN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRegistrationLockToken(t *testing.T) {
	t.Parallel()
	salt := bytes.Repeat([]byte{1}, ReglockSaltSize)
	a, err := RegistrationLockToken(" 1234 ", salt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := RegistrationLockToken("١٢٣٤", salt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || len(a) != ReglockTokenSize {
		t.Fatalf("the same PIN typed two ways gave %x and %x", a, b)
	}
	other, err := RegistrationLockToken("1234", bytes.Repeat([]byte{2}, ReglockSaltSize))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, other) {
		t.Fatal("the token does not depend on the salt")
	}
	if _, err := RegistrationLockToken("123", salt); !errors.Is(err, ErrShortPIN) {
		t.Fatalf("short PIN: err = %v", err)
	}
	if _, err := RegistrationLockToken("12345", salt[:16]); err == nil {
		t.Fatal("a short salt was taken")
	}
}
