package signal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hushmsg/hush/signal"
)

// TestKEMOfficialKeys loads Kyber1024 key pairs made by the official
// library: both halves parse, the secret key embeds the public key, and
// a secret encapsulated to the public key decapsulates with the secret.
func TestKEMOfficialKeys(t *testing.T) {
	var v struct {
		Pairs []struct{ Public, Secret string }
	}
	loadJSON(t, "kem.json", &v)
	if len(v.Pairs) == 0 {
		t.Fatal("no vectors")
	}
	for i, p := range v.Pairs {
		pubBytes, secBytes := unhex(t, p.Public), unhex(t, p.Secret)
		if len(pubBytes) != signal.KEMPublicKeySize || len(secBytes) != signal.KEMSecretKeySize {
			t.Fatalf("pair %d: sizes %d, %d", i, len(pubBytes), len(secBytes))
		}
		pub, err := signal.ParseKEMPublicKey(pubBytes)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := signal.ParseKEMSecretKey(secBytes)
		if err != nil {
			t.Fatal(err)
		}
		// Kyber's secret key is sk_cpa || pk || H(pk) || z.
		if !bytes.Contains(secBytes[1:], pubBytes[1:]) {
			t.Fatalf("pair %d: secret key does not embed the public key", i)
		}
		ss, ct, err := pub.Encapsulate(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != signal.KEMCiphertextSize || ct[0] != 0x08 {
			t.Fatalf("ciphertext of %d bytes, type %#x", len(ct), ct[0])
		}
		got, err := sec.Decapsulate(ct)
		if err != nil || !bytes.Equal(got, ss) {
			t.Fatalf("pair %d: decapsulated secret differs (%v)", i, err)
		}
		if !bytes.Equal(pub.Bytes(), pubBytes) || !bytes.Equal(sec.Bytes(), secBytes) {
			t.Fatalf("pair %d: reserialized keys differ", i)
		}
	}
}

// TestKEMOfficialLoadsGoKeys has the official library load Go's keys and
// serialize them back unchanged.
func TestKEMOfficialLoadsGoKeys(t *testing.T) {
	p := startPeer(t)
	kp, err := signal.GenerateKEMKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Public, Secret hexBytes }
	p.call(map[string]any{"op": "kemCheck", "public": hexBytes(kp.Public.Bytes()), "secret": hexBytes(kp.Secret.Bytes())}, &r)
	if !bytes.Equal(r.Public, kp.Public.Bytes()) || !bytes.Equal(r.Secret, kp.Secret.Bytes()) {
		t.Fatal("official library reserializes Go's KEM keys differently")
	}
}

func TestKEMBadInput(t *testing.T) {
	kp, err := signal.GenerateKEMKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := kp.Public.Bytes()
	for _, b := range [][]byte{nil, {0x08}, pub[:100], append(bytes.Clone(pub), 0), append([]byte{0x0A}, pub[1:]...)} {
		if _, err := signal.ParseKEMPublicKey(b); !errors.Is(err, signal.ErrInvalidKey) {
			t.Fatalf("ParseKEMPublicKey(%d bytes) = %v", len(b), err)
		}
	}
	_, ct, _ := kp.Public.Encapsulate(nil)
	for _, b := range [][]byte{nil, ct[:10], append(bytes.Clone(ct), 1), append([]byte{0x07}, ct[1:]...)} {
		if _, err := kp.Secret.Decapsulate(b); !errors.Is(err, signal.ErrInvalidMessage) {
			t.Fatalf("Decapsulate(%d bytes) = %v", len(b), err)
		}
	}
	// A forged ciphertext decapsulates (implicit rejection) to another secret.
	ss, ct, _ := kp.Public.Encapsulate(nil)
	ct[100] ^= 1
	got, err := kp.Secret.Decapsulate(ct)
	if err != nil || bytes.Equal(got, ss) {
		t.Fatalf("forged ciphertext: %v", err)
	}
}
