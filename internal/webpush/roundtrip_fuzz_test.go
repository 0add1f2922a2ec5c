package webpush_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	sender "github.com/SherClockHolmes/webpush-go"

	"github.com/hushmsg/hush/internal/webpush"
)

// captureClient is webpush-go's HTTP client for a push service that keeps
// the body and answers 201, with no network in between.
type captureClient struct{ body []byte }

func (c *captureClient) Do(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	c.body = b
	return &http.Response{StatusCode: http.StatusCreated, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// FuzzDecryptRoundTrip: whatever hushd's sending library encrypts, at
// any record size it accepts, Decrypt opens to the same bytes; the same
// message with any one byte changed, or cut short, is refused with
// ErrUndecryptable (a change to rs, which RFC 8188 leaves unauthenticated,
// may instead open to the same bytes); and no error holds the plaintext
// or the keys.
func FuzzDecryptRoundTrip(f *testing.F) {
	priv, auth, _ := rfcExample(f)
	vapidPriv, vapidPub, err := sender.GenerateVAPIDKeys()
	if err != nil {
		f.Fatal(err)
	}
	sub := &sender.Subscription{Endpoint: "https://push.example.com/wpush/x", Keys: sender.Keys{
		P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:   base64.RawURLEncoding.EncodeToString(auth),
	}}
	f.Add([]byte(`{"hush":"wake"}`), uint16(0), uint16(0), byte(1))
	f.Add([]byte{}, uint16(103), uint16(20), byte(0xff))
	f.Add([]byte("When I grow up, I want to be a watermelon"), uint16(4096), uint16(17), byte(0x10))
	f.Add(bytes.Repeat([]byte{0}, 64), uint16(200), uint16(150), byte(2))
	f.Add(bytes.Repeat([]byte{2}, 3993), uint16(0), uint16(4095), byte(0x80))
	f.Fuzz(func(t *testing.T, plain []byte, rs, at uint16, x byte) {
		c := &captureClient{}
		resp, err := sender.SendNotificationWithContext(context.Background(), bytes.Clone(plain), sub, &sender.Options{
			HTTPClient: c, RecordSize: uint32(rs % 4097), Subscriber: "ops@example.org", TTL: 60,
			VAPIDPublicKey: vapidPub, VAPIDPrivateKey: vapidPriv,
		})
		if err != nil {
			return // too long for the record size: nothing is sent
		}
		resp.Body.Close()
		body := c.body
		secrets := [][]byte{auth, priv.Bytes(), []byte(hex.EncodeToString(auth)), []byte(base64.RawURLEncoding.EncodeToString(auth))}
		if len(plain) >= 8 {
			secrets = append(secrets, plain)
		}
		noSecret := func(what string, err error) {
			t.Helper()
			for _, s := range secrets {
				if bytes.Contains([]byte(err.Error()), s) {
					t.Fatalf("%s: error %q holds %q", what, err, s)
				}
			}
		}

		got, err := webpush.Decrypt(priv, auth, body)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes at rs %d: opened to %q, %v", len(plain), rs%4097, got, err)
		}

		i := int(at) % len(body)
		if x == 0 {
			x = 1
		}
		changed := bytes.Clone(body)
		changed[i] ^= x
		got, err = webpush.Decrypt(priv, auth, changed)
		inRS := i >= 16 && i < 20
		switch {
		case err == nil && inRS && bytes.Equal(got, plain):
		case err == nil:
			t.Fatalf("byte %d of %d changed: opened to %q", i, len(body), got)
		case !errors.Is(err, webpush.ErrUndecryptable) || got != nil:
			t.Fatalf("byte %d changed: %q, %v; want ErrUndecryptable", i, got, err)
		default:
			noSecret("changed", err)
		}

		got, err = webpush.Decrypt(priv, auth, body[:i])
		if !errors.Is(err, webpush.ErrUndecryptable) || got != nil {
			t.Fatalf("cut to %d of %d bytes: %q, %v; want ErrUndecryptable", i, len(body), got, err)
		}
		noSecret("cut", err)
	})
}
