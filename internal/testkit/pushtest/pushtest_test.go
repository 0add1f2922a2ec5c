package pushtest

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The example of RFC 8291, Appendix A.
func TestDecryptRFC8291(t *testing.T) {
	priv, err := ecdh.P256().NewPrivateKey(b64(t, "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()); got != "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4" {
		t.Fatalf("ua_public %s", got)
	}
	auth := b64(t, "BTBZMqHH6r4Tts7J_aSIgg")
	body := b64(t, "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
	got, err := Decrypt(body, priv, auth)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "When I grow up, I want to be a watermelon" {
		t.Fatalf("plaintext %q", got)
	}
	for _, at := range []int{0, 30, len(body) - 1} { // salt, key id, tag
		bad := append([]byte(nil), body...)
		bad[at] ^= 1
		if _, err := Decrypt(bad, priv, auth); err == nil {
			t.Errorf("message tampered at %d decrypted", at)
		}
	}
	if _, err := Decrypt(body, priv, make([]byte, 16)); err == nil {
		t.Error("decrypted with another auth secret")
	}
}

// FuzzDecrypt: whatever a push service is sent, Decrypt fails cleanly.
func FuzzDecrypt(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 21))
	f.Add(append(make([]byte, 20), 65))
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	auth := make([]byte, 16)
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := Decrypt(body, key, auth); err == nil {
			t.Fatalf("random body %x decrypted", body)
		}
	})
}
