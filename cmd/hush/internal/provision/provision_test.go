package provision

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func assert(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func ephemeral(t *testing.T) *Ephemeral {
	t.Helper()
	e, err := NewEphemeral()
	noErr(t, err)
	return e
}

func message(t *testing.T) *Message {
	t.Helper()
	pub := make([]byte, PublicKeySize)
	pub[0] = keyType
	_, err := rand.Read(pub[1:])
	noErr(t, err)
	priv := make([]byte, IdentityPrivateKeySize)
	_, err = rand.Read(priv)
	noErr(t, err)
	return &Message{
		AccountID: "6f1c2e1a-8d1e-4d59-9d7c-6f3f0c1b2a3d", Number: "+15550000001",
		IdentityKeyPublic: pub, IdentityKeyPrivate: priv, ProvisioningCode: "code-123",
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	e := ephemeral(t)
	code := e.LinkCode("AbC-_9")
	parsed, err := ParseLinkCode(code.String())
	noErr(t, err)
	assert(t, parsed.Address == "AbC-_9" && bytes.Equal(parsed.PublicKey, e.PublicKey()), "link code round trip: %+v", parsed)

	want := message(t)
	sealed, err := SealMessage(parsed, want)
	noErr(t, err)
	assert(t, sealed[0] == Version, "version byte %d", sealed[0])
	assert(t, !bytes.Contains(sealed, want.IdentityKeyPrivate), "private key in the clear")
	got, err := e.OpenMessage(sealed)
	noErr(t, err)
	assert(t, got.AccountID == want.AccountID && got.Number == want.Number && got.ProvisioningCode == want.ProvisioningCode &&
		bytes.Equal(got.IdentityKeyPublic, want.IdentityKeyPublic) && bytes.Equal(got.IdentityKeyPrivate, want.IdentityKeyPrivate),
		"opened %v, want %v", got, want)

	again, err := SealMessage(parsed, want)
	noErr(t, err)
	assert(t, !bytes.Equal(again, sealed), "two seals of one message are equal: no fresh key or nonce")
}

// TestTamperingIsRejected flips one bit in every byte of a sealed message:
// each must fail to open, with the error of the part that was changed.
func TestTamperingIsRejected(t *testing.T) {
	t.Parallel()
	e := ephemeral(t)
	sealed, err := Seal(e.PublicKey(), []byte("secret plaintext"))
	noErr(t, err)
	for i := range sealed {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		_, err := e.Open(b)
		switch {
		case i == 0:
			assert(t, errors.Is(err, ErrVersion), "byte %d (version): got %v", i, err)
		case i == 1:
			assert(t, errors.Is(err, ErrMalformed), "byte %d (key type): got %v", i, err)
		default:
			// A changed key, nonce, ciphertext or tag: GCM refuses it (a
			// changed key may also be refused as a low-order point).
			assert(t, errors.Is(err, ErrDecrypt) || errors.Is(err, ErrMalformed), "byte %d: got %v", i, err)
		}
	}
	plain, err := e.Open(sealed)
	noErr(t, err)
	assert(t, string(plain) == "secret plaintext", "untouched message: %q", plain)
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	e := ephemeral(t)
	sealed, err := Seal(e.PublicKey(), []byte("x"))
	noErr(t, err)
	other := ephemeral(t)
	_, err = other.Open(sealed)
	assert(t, errors.Is(err, ErrDecrypt), "another key opened it: %v", err)

	for _, n := range []int{0, 1, headerSize, headerSize + tagSize - 1} {
		_, err := e.Open(sealed[:min(n, len(sealed))])
		assert(t, err != nil, "truncated to %d bytes: opened", n)
	}
	_, err = e.Open(append(bytes.Clone(sealed), 0))
	assert(t, errors.Is(err, ErrDecrypt), "extra byte: %v", err)

	garbage, err := Seal(e.PublicKey(), []byte("not json"))
	noErr(t, err)
	_, err = e.OpenMessage(garbage)
	assert(t, errors.Is(err, ErrContent), "non-JSON content: %v", err)
	incomplete, err := Seal(e.PublicKey(), []byte(`{"account_id":"a"}`))
	noErr(t, err)
	_, err = e.OpenMessage(incomplete)
	assert(t, errors.Is(err, ErrContent), "incomplete content: %v", err)
}

func TestSealRejectsBadRecipient(t *testing.T) {
	t.Parallel()
	for _, key := range [][]byte{nil, make([]byte, 32), append([]byte{0x06}, make([]byte, 32)...)} {
		_, err := Seal(key, []byte("x"))
		assert(t, err != nil, "key %x accepted", key)
	}
	m := message(t)
	m.IdentityKeyPrivate = m.IdentityKeyPrivate[:10]
	_, err := SealMessage(ephemeral(t).LinkCode("a"), m)
	assert(t, errors.Is(err, ErrContent), "invalid message sealed: %v", err)
}

func TestParseLinkCodeErrors(t *testing.T) {
	t.Parallel()
	key := base64.RawURLEncoding.EncodeToString(append([]byte{keyType}, make([]byte, 32)...))
	short := base64.RawURLEncoding.EncodeToString(append([]byte{keyType}, make([]byte, 31)...))
	wrongType := base64.RawURLEncoding.EncodeToString(append([]byte{0x06}, make([]byte, 32)...))
	padded := key + "=="
	std := base64.StdEncoding.EncodeToString(append([]byte{keyType, 0xfb, 0xff}, make([]byte, 30)...))
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "must start with"},
		{"other prefix", "signal-link:abc:" + key, "must start with"},
		{"no key", "hush-link:abc", "want hush-link:"},
		{"empty address", "hush-link::" + key, "empty address"},
		{"bad address", "hush-link:a/b:" + key, "address holds"},
		{"long address", "hush-link:" + strings.Repeat("a", maxAddress+1) + ":" + key, "longer than"},
		{"empty key", "hush-link:abc:", "key must be 33 bytes"},
		{"short key", "hush-link:abc:" + short, "key must be 33 bytes"},
		{"wrong key type", "hush-link:abc:" + wrongType, "type 0x05"},
		{"padded key", "hush-link:abc:" + padded, "unpadded base64url"},
		{"standard base64", "hush-link:abc:" + std, "unpadded base64url"},
		{"extra part", "hush-link:abc:" + key + ":x", "unpadded base64url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseLinkCode(tc.in)
			assert(t, errors.Is(err, ErrBadLinkCode), "ParseLinkCode(%q) = %v, want ErrBadLinkCode", tc.in, err)
			assert(t, strings.Contains(err.Error(), tc.want), "ParseLinkCode(%q) = %q, want it to say %q", tc.in, err, tc.want)
		})
	}
	_, err := ParseLinkCode("  hush-link:abc:" + key + "\n")
	noErr(t, err)
}

func TestSecretsAreRedacted(t *testing.T) {
	t.Parallel()
	m := message(t)
	e := ephemeral(t)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "msg", m, "key", e)
	printed := fmt.Sprintf("%v %+v %s", m, m, e)
	for name, out := range map[string]string{"log": logged.String(), "fmt": printed} {
		assert(t, !strings.Contains(out, m.ProvisioningCode), "%s shows the provisioning code: %s", name, out)
		assert(t, !strings.Contains(out, fmt.Sprintf("%x", m.IdentityKeyPrivate)) &&
			!strings.Contains(out, fmt.Sprint(m.IdentityKeyPrivate)), "%s shows the private key: %s", name, out)
	}
}

func FuzzParseLinkCode(f *testing.F) {
	f.Add("hush-link:abc:" + base64.RawURLEncoding.EncodeToString(append([]byte{keyType}, make([]byte, 32)...)))
	f.Add("hush-link::")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseLinkCode(s)
		if err != nil {
			return
		}
		again, err := ParseLinkCode(c.String())
		if err != nil || again.Address != c.Address || !bytes.Equal(again.PublicKey, c.PublicKey) {
			t.Fatalf("%q parsed, but its String %q does not parse back the same: %v", s, c.String(), err)
		}
	})
}

func FuzzOpen(f *testing.F) {
	e, err := NewEphemeral()
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := Seal(e.PublicKey(), []byte(`{"account_id":"a"}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := e.Open(b)
		if err == nil && !bytes.Equal(b, sealed) {
			t.Fatalf("a message not sealed by this test opened: %q", plain)
		}
		_, _ = e.OpenMessage(b)
	})
}
