package spqr

import (
	"bytes"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha3"
	"errors"
	"testing"

	"github.com/cloudflare/circl/kem/mlkem/mlkem768"
)

// TestKEMKeysMatchStandard: the same seed gives the same key in
// crypto/mlkem, and the header is rho || H(ek).
func TestKEMKeysMatchStandard(t *testing.T) {
	t.Parallel()
	seed := make([]byte, 64)
	rand.Read(seed)
	keys, err := kemGenerate(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	std, err := mlkem.NewDecapsulationKey768(seed)
	if err != nil {
		t.Fatal(err)
	}
	ek := std.EncapsulationKey().Bytes() // t || rho
	if !bytes.Equal(ek[:kemEKSize], keys.ek) || !bytes.Equal(ek[kemEKSize:], keys.hdr[:32]) {
		t.Fatal("encapsulation key differs from crypto/mlkem's")
	}
	h := sha3.Sum256(ek)
	if !bytes.Equal(h[:], keys.hdr[32:]) {
		t.Fatal("header hash is not H(ek)")
	}
	if !kemEKMatchesHeader(keys.ek, keys.hdr) {
		t.Fatal("own key does not match its header")
	}
}

// TestKEMIncrementalIsStandard: the two-step encapsulation produces the
// very ciphertext and secret of a standard deterministic encapsulation
// with the same m, and both decapsulations agree.
func TestKEMIncrementalIsStandard(t *testing.T) {
	t.Parallel()
	for range 20 {
		seed := make([]byte, 64)
		rand.Read(seed)
		keys, err := kemGenerate(bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		m := make([]byte, 32)
		rand.Read(m)
		ct1, es, ss, err := kemEncaps1(keys.hdr, bytes.NewReader(m))
		if err != nil {
			t.Fatal(err)
		}
		ct2, err := kemEncaps2(keys.ek, es, nil)
		if err != nil {
			t.Fatal(err)
		}

		pk, _ := mlkem768.NewKeyFromSeed(seed)
		wantCT := make([]byte, mlkem768.CiphertextSize)
		wantSS := make([]byte, mlkem768.SharedKeySize)
		pk.EncapsulateTo(wantCT, wantSS, m)
		if !bytes.Equal(append(bytes.Clone(ct1), ct2...), wantCT) || !bytes.Equal(ss, wantSS) {
			t.Fatal("incremental encapsulation differs from the standard one")
		}

		std, _ := mlkem.NewDecapsulationKey768(seed)
		got, err := std.Decapsulate(wantCT)
		if err != nil || !bytes.Equal(got, ss) {
			t.Fatalf("crypto/mlkem decapsulates to a different secret (%v)", err)
		}
		got, err = kemDecaps(keys.dk, ct1, ct2)
		if err != nil || !bytes.Equal(got, ss) {
			t.Fatalf("own decapsulation differs (%v)", err)
		}

		// The other way: crypto/mlkem encapsulates, we decapsulate.
		stdSS, stdCT := std.EncapsulationKey().Encapsulate()
		got, err = kemDecaps(keys.dk, stdCT[:kemCT1Size], stdCT[kemCT1Size:])
		if err != nil || !bytes.Equal(got, stdSS) {
			t.Fatalf("own decapsulation of a crypto/mlkem ciphertext differs (%v)", err)
		}
	}
}

// TestKEMForeignEncapsState: a state in libcrux's layout (r as an NTT
// vector, e2, then m) is finished from m and the header, and refused
// without the header.
func TestKEMForeignEncapsState(t *testing.T) {
	t.Parallel()
	keys, err := kemGenerate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, es, _, err := kemEncaps1(keys.hdr, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want, err := kemEncaps2(keys.ek, es, nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign := make([]byte, kemESSize)
	rand.Read(foreign[:esE2Off])
	for i := esE2Off; i < esMOff; i += 2 {
		foreign[i], foreign[i+1] = 0xff, 0xff // e2 coefficient -1
	}
	copy(foreign[esMOff:], es[esMOff:])
	got, err := kemEncaps2(keys.ek, foreign, keys.hdr)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("foreign state with header: %v", err)
	}
	if _, err := kemEncaps2(keys.ek, foreign, nil); !errors.Is(err, ErrForeignState) {
		t.Fatalf("foreign state without header: %v, want ErrForeignState", err)
	}
}

func TestKEMHeaderMismatch(t *testing.T) {
	t.Parallel()
	keys, err := kemGenerate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ek := bytes.Clone(keys.ek)
	ek[100] ^= 1
	if kemEKMatchesHeader(ek, keys.hdr) {
		t.Fatal("tampered key matches")
	}
	// A non-canonical coefficient (0xfff >= q) with a matching hash.
	ek = bytes.Clone(keys.ek)
	ek[0], ek[1] = 0xff, ek[1]|0x0f
	hdr := bytes.Clone(keys.hdr)
	h := sha3.Sum256(append(bytes.Clone(ek), hdr[:32]...))
	copy(hdr[32:], h[:])
	if kemEKMatchesHeader(ek, hdr) {
		t.Fatal("non-canonical key matches")
	}
	if kemEKMatchesHeader(keys.ek[:100], keys.hdr) {
		t.Fatal("short key matches")
	}
}
