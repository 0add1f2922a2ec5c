package signal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/signal"
)

type xeddsaVectors struct {
	Signatures []struct {
		Private, Public, Message, Signature string
	}
	Agreements []struct {
		Private, Public, Shared string
	}
}

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestXEdDSAOfficialVectors verifies signatures made by the official
// library and checks the public keys and agreements it derived.
func TestXEdDSAOfficialVectors(t *testing.T) {
	var v xeddsaVectors
	loadJSON(t, "xeddsa.json", &v)
	if len(v.Signatures) == 0 || len(v.Agreements) == 0 {
		t.Fatal("no vectors")
	}
	for i, s := range v.Signatures {
		priv, err := signal.ParsePrivateKey(unhex(t, s.Private))
		if err != nil {
			t.Fatal(err)
		}
		pub, err := signal.ParsePublicKey(unhex(t, s.Public))
		if err != nil {
			t.Fatal(err)
		}
		if priv.PublicKey() != pub {
			t.Fatalf("vector %d: derived public key %s, official %s", i, priv.PublicKey(), pub)
		}
		msg, sig := unhex(t, s.Message), unhex(t, s.Signature)
		if !pub.Verify(msg, sig) {
			t.Fatalf("vector %d: official signature does not verify", i)
		}
		bad := bytes.Clone(sig)
		bad[i%64] ^= 1 << (i % 7)
		if pub.Verify(msg, bad) {
			t.Fatalf("vector %d: tampered signature verifies", i)
		}
		if pub.Verify(append(bytes.Clone(msg), 0), sig) {
			t.Fatalf("vector %d: signature verifies another message", i)
		}
	}
	for i, a := range v.Agreements {
		priv, err := signal.ParsePrivateKey(unhex(t, a.Private))
		if err != nil {
			t.Fatal(err)
		}
		pub, err := signal.ParsePublicKey(unhex(t, a.Public))
		if err != nil {
			t.Fatal(err)
		}
		got, err := priv.Agree(pub)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, unhex(t, a.Shared)) {
			t.Fatalf("agreement %d differs", i)
		}
	}
}

// TestXEdDSAOfficialVerifiesGo has the official library verify Go's
// signatures (and reject tampered ones).
func TestXEdDSAOfficialVerifiesGo(t *testing.T) {
	p := startPeer(t)
	for i := range 16 {
		kp, err := signal.GenerateKeyPair(nil)
		if err != nil {
			t.Fatal(err)
		}
		msg := bytes.Repeat([]byte{byte(i)}, i*37)
		sig, err := kp.Private.Sign(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ OK bool }
		p.call(map[string]any{"op": "verify", "public": hexBytes(kp.Public.Bytes()), "message": hexBytes(msg), "signature": hexBytes(sig)}, &r)
		if !r.OK {
			t.Fatalf("official library rejects Go signature %d", i)
		}
		sig[5] ^= 0x10
		p.call(map[string]any{"op": "verify", "public": hexBytes(kp.Public.Bytes()), "message": hexBytes(msg), "signature": hexBytes(sig)}, &r)
		if r.OK {
			t.Fatalf("official library accepts tampered Go signature %d", i)
		}
		// And the official library signs with a key made in Go.
		var s struct{ Signature hexBytes }
		p.call(map[string]any{"op": "sign", "private": hexBytes(kp.Private.Bytes()), "message": hexBytes(msg)}, &s)
		if !kp.Public.Verify(msg, s.Signature) {
			t.Fatalf("official signature with a Go key does not verify")
		}
	}
}

func TestSignaturesAreRandomized(t *testing.T) {
	kp, err := signal.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := kp.Private.Sign(nil, []byte("m"))
	b, _ := kp.Private.Sign(nil, []byte("m"))
	if bytes.Equal(a, b) {
		t.Fatal("two signatures of one message are equal")
	}
	if !kp.Public.Verify([]byte("m"), a) || !kp.Public.Verify([]byte("m"), b) {
		t.Fatal("signature does not verify")
	}
}

func TestParseKeys(t *testing.T) {
	kp, _ := signal.GenerateKeyPair(nil)
	good := kp.Public.Bytes()
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"type only", []byte{5}},
		{"wrong type", append([]byte{6}, good[1:]...)},
		{"short", good[:32]},
		{"trailing", append(bytes.Clone(good), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := signal.ParsePublicKey(tt.in); !errors.Is(err, signal.ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
		})
	}
	got, err := signal.ParsePublicKey(good)
	if err != nil || got != kp.Public {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := signal.ParsePrivateKey(make([]byte, 31)); !errors.Is(err, signal.ErrInvalidKey) {
		t.Fatalf("short private key: %v", err)
	}
	var low signal.PublicKey // u = 0 is of low order
	if _, err := kp.Private.Agree(low); !errors.Is(err, signal.ErrInvalidKey) {
		t.Fatalf("agreement with a low-order point: %v", err)
	}
	ikp, _ := signal.GenerateIdentityKeyPair(nil)
	back, err := signal.ParseIdentityKeyPair(ikp.Bytes())
	if err != nil || back.Public != ikp.Public || !bytes.Equal(back.Private.Bytes(), ikp.Private.Bytes()) {
		t.Fatalf("identity key pair round trip: %v", err)
	}
}

// TestSecretsAreRedacted prints and logs every secret-bearing type.
func TestSecretsAreRedacted(t *testing.T) {
	ikp, _ := signal.GenerateIdentityKeyPair(nil)
	kp, _ := signal.GenerateKeyPair(nil)
	secret := fmt.Sprintf("%x", ikp.Private.Bytes())
	secret2 := fmt.Sprintf("%x", kp.Private.Bytes())
	pre := &signal.PreKeyRecord{ID: 1, KeyPair: kp}
	signed, _ := signal.GenerateSignedPreKey(ikp, 2, time.Now(), nil)
	secret3 := fmt.Sprintf("%x", signed.KeyPair.Private.Bytes())
	kyber, _ := signal.GenerateKyberPreKey(ikp, 3, time.Now(), nil)
	secret4 := fmt.Sprintf("%x", kyber.KeyPair.Secret.Bytes()[1:33])
	// A session record and a distribution message with real keys.
	alice, bob, _ := pair(t, true, false)
	deliver(t, alice, bob, send(t, alice, bob, "x"))
	rec, _ := bob.Store.LoadSession(context.Background(), alice.Address)
	rec.ArchiveCurrentState() // the keys are then in the archived bytes
	skdm, _ := alice.Cipher.CreateSenderKeyDistribution(context.Background(), uuid.New())
	var logged bytes.Buffer
	text := slog.New(slog.NewTextHandler(&logged, nil))
	js := slog.New(slog.NewJSONHandler(&logged, nil))
	for _, v := range []any{ikp, ikp.Private, kp, kp.Private, &kp, pre, signed, kyber, kyber.KeyPair, kyber.KeyPair.Secret, rec, skdm} {
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			out := fmt.Sprintf(f, v)
			if (v == any(rec) || v == any(skdm)) && f != "%x" && f != "%q" && len(out) > 120 {
				t.Fatalf("%s of %T shows more than a description: %s", f, v, out)
			}
			if strings.Contains(out, secret) || strings.Contains(out, secret2) || strings.Contains(out, secret3) || strings.Contains(out, secret4) {
				t.Fatalf("%s of %T shows the secret: %s", f, v, out)
			}
		}
		for _, log := range []*slog.Logger{text, js} {
			log.Info("key", "v", v)
			log.Info("key", slog.Any("v", v))
		}
	}
	if l := logged.String(); strings.Contains(l, secret) || strings.Contains(l, secret2) || strings.Contains(l, secret3) || strings.Contains(l, secret4) {
		t.Fatalf("log shows a secret: %s", logged.String())
	}
}
