package webpush_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	sender "github.com/SherClockHolmes/webpush-go"
	"go.uber.org/goleak"

	"github.com/hushmsg/hush/internal/webpush"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rfcExample returns the user agent's key, auth secret and message of
// RFC 8291, Appendix A.
func rfcExample(t testing.TB) (*ecdh.PrivateKey, []byte, []byte) {
	t.Helper()
	priv, err := ecdh.P256().NewPrivateKey(b64(t, "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()); got != "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4" {
		t.Fatalf("ua_public %s", got)
	}
	return priv, b64(t, "BTBZMqHH6r4Tts7J_aSIgg"),
		b64(t, "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
}

func TestDecryptRFC8291AppendixA(t *testing.T) {
	t.Parallel()
	priv, auth, body := rfcExample(t)
	got, err := webpush.Decrypt(priv, auth, body)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "When I grow up, I want to be a watermelon" {
		t.Fatalf("plaintext %q", got)
	}
}

func TestDecryptRefuses(t *testing.T) {
	t.Parallel()
	priv, auth, body := rfcExample(t)
	other, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(at int) []byte {
		b := bytes.Clone(body)
		b[at] ^= 1
		return b
	}
	withRS := func(rs byte) []byte {
		b := bytes.Clone(body)
		b[16], b[17], b[18], b[19] = 0, 0, 0, rs
		return b
	}
	tests := []struct {
		name string
		priv *ecdh.PrivateKey
		auth []byte
		body []byte
		want error
	}{
		{"salt changed", priv, auth, flip(0), webpush.ErrUndecryptable},
		{"key id changed", priv, auth, flip(30), webpush.ErrUndecryptable},
		{"ciphertext changed", priv, auth, flip(90), webpush.ErrUndecryptable},
		{"tag changed", priv, auth, flip(len(body) - 1), webpush.ErrUndecryptable},
		{"truncated", priv, auth, body[:len(body)-1], webpush.ErrUndecryptable},
		{"header only", priv, auth, body[:86], webpush.ErrUndecryptable},
		{"short header", priv, auth, body[:20], webpush.ErrUndecryptable},
		{"empty", priv, auth, nil, webpush.ErrUndecryptable},
		{"record larger than rs", priv, auth, withRS(40), webpush.ErrUndecryptable},
		{"rs below 18", priv, auth, withRS(17), webpush.ErrUndecryptable},
		{"other auth secret", priv, make([]byte, 16), body, webpush.ErrUndecryptable},
		{"other key", other, auth, body, webpush.ErrUndecryptable},
		{"short auth secret", priv, auth[:15], body, webpush.ErrKeys},
		{"no key", nil, auth, body, webpush.ErrKeys},
		{"not P-256", x25519, auth, body, webpush.ErrKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := webpush.Decrypt(tc.priv, tc.auth, tc.body)
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("got %q, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestDecryptWhatHushdSends opens what webpush-go, the library hushd
// sends wake-ups with, encrypts for a fresh subscription.
func TestDecryptWhatHushdSends(t *testing.T) {
	t.Parallel()
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, webpush.AuthSize)
	_, _ = rand.Read(auth)
	vapidPriv, vapidPub, err := sender.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	sub := &sender.Subscription{Endpoint: srv.URL + "/push/x", Keys: sender.Keys{
		P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:   base64.RawURLEncoding.EncodeToString(auth),
	}}
	resp, err := sender.SendNotificationWithContext(context.Background(), []byte(`{"hush":"wake"}`), sub, &sender.Options{
		HTTPClient: srv.Client(), Subscriber: "ops@example.org", TTL: 60,
		VAPIDPublicKey: vapidPub, VAPIDPrivateKey: vapidPriv,
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got, err := webpush.Decrypt(priv, auth, <-bodies)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"hush":"wake"}` {
		t.Fatalf("plaintext %q", got)
	}
}

// FuzzDecrypt: whatever arrives, Decrypt fails cleanly (never panics, and
// nothing random decrypts).
func FuzzDecrypt(f *testing.F) {
	priv, auth, body := rfcExample(f)
	f.Add([]byte{})
	f.Add(make([]byte, 21))
	f.Add(append(make([]byte, 20), 65))
	f.Add(body[:86])
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := webpush.Decrypt(priv, auth, b)
		// RFC 8188 does not authenticate the record size (bytes 16-19):
		// a body that differs only there may decrypt, to the same text.
		sameButRS := len(b) == len(body) && bytes.Equal(b[:16], body[:16]) && bytes.Equal(b[20:], body[20:])
		if err == nil && !bytes.Equal(b, body) && !sameButRS {
			t.Fatalf("random body %x decrypted to %q", b, got)
		}
		if err != nil && !errors.Is(err, webpush.ErrUndecryptable) {
			t.Fatalf("error %v does not wrap ErrUndecryptable", err)
		}
	})
}
