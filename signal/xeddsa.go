package signal

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"io"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// XEdDSA (signal.org/docs/specifications/xeddsa) signs with a Curve25519
// key: the Montgomery private scalar is used as an Ed25519 scalar, and
// the sign bit of the Edwards public key travels in the signature's top
// bit, so a verifier can recover the Edwards point from the Montgomery
// u-coordinate. This follows libsignal's curve25519.rs byte for byte.

// SignatureSize is the length of an XEdDSA signature.
const SignatureSize = 64

var signPrefix = [32]byte{
	0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
}

// scalarFromBytesModOrder reduces a 32-byte little-endian integer mod l.
func scalarFromBytesModOrder(b []byte) *edwards25519.Scalar {
	var wide [64]byte
	copy(wide[:], b)
	s, err := edwards25519.NewScalar().SetUniformBytes(wide[:])
	if err != nil {
		panic("signal: SetUniformBytes with 64 bytes failed")
	}
	return s
}

func scalarFromHash(h []byte) *edwards25519.Scalar {
	s, err := edwards25519.NewScalar().SetUniformBytes(h)
	if err != nil {
		panic("signal: SetUniformBytes with 64 bytes failed")
	}
	return s
}

func xeddsaSign(k PrivateKey, r io.Reader, parts [][]byte) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	var random [64]byte
	if _, err := io.ReadFull(r, random[:]); err != nil {
		return nil, fmt.Errorf("signal: sign: %w", err)
	}
	a := scalarFromBytesModOrder(k.b[:])
	edPub := new(edwards25519.Point).ScalarBaseMult(a).Bytes()
	signBit := edPub[31] & 0x80

	h1 := sha512.New()
	h1.Write(signPrefix[:])
	h1.Write(k.b[:])
	for _, p := range parts {
		h1.Write(p)
	}
	h1.Write(random[:])
	nonce := scalarFromHash(h1.Sum(nil))
	capR := new(edwards25519.Point).ScalarBaseMult(nonce).Bytes()

	h2 := sha512.New()
	h2.Write(capR)
	h2.Write(edPub)
	for _, p := range parts {
		h2.Write(p)
	}
	h := scalarFromHash(h2.Sum(nil))
	s := edwards25519.NewScalar().MultiplyAdd(h, a, nonce)

	sig := make([]byte, 0, SignatureSize)
	sig = append(sig, capR...)
	sig = append(sig, s.Bytes()...)
	sig[63] &= 0x7F
	sig[63] |= signBit
	return sig, nil
}

var feOne = new(field.Element).One()

// montgomeryToEdwards converts a u-coordinate to the Edwards point with
// the given sign bit, as curve25519-dalek's MontgomeryPoint::to_edwards:
// the top bit of u is ignored, u = -1 has no image.
func montgomeryToEdwards(u *[32]byte, sign byte) (*edwards25519.Point, bool) {
	fu, err := new(field.Element).SetBytes(u[:])
	if err != nil {
		return nil, false
	}
	minusOne := new(field.Element).Negate(feOne)
	if fu.Equal(minusOne) == 1 {
		return nil, false
	}
	num := new(field.Element).Subtract(fu, feOne)
	den := new(field.Element).Add(fu, feOne)
	y := new(field.Element).Multiply(num, new(field.Element).Invert(den))
	yb := y.Bytes()
	yb[31] ^= sign << 7
	p, err := new(edwards25519.Point).SetBytes(yb)
	if err != nil {
		return nil, false
	}
	return p, true
}

func xeddsaVerify(pub PublicKey, parts [][]byte, sig []byte) bool {
	if len(sig) != SignatureSize {
		return false
	}
	u := [32]byte(pub)
	edPub, ok := montgomeryToEdwards(&u, (sig[63]&0x80)>>7)
	if !ok {
		return false
	}
	capA := edPub.Bytes()
	var s [32]byte
	copy(s[:], sig[32:])
	s[31] &= 0x7F
	if s[31]&0xE0 != 0 {
		return false
	}
	hh := sha512.New()
	hh.Write(sig[:32])
	hh.Write(capA)
	for _, p := range parts {
		hh.Write(p)
	}
	h := scalarFromHash(hh.Sum(nil))
	minusA := new(edwards25519.Point).Negate(edPub)
	check := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(h, minusA, scalarFromBytesModOrder(s[:]))
	return subtle.ConstantTimeCompare(check.Bytes(), sig[:32]) == 1
}

// montgomeryTorsionFree reports whether the Edwards image of u (sign 0)
// exists and lies in the prime-order subgroup.
func montgomeryTorsionFree(pub PublicKey) bool {
	u := [32]byte(pub)
	p, ok := montgomeryToEdwards(&u, 0)
	if !ok {
		return false
	}
	// [l]P = [l-1]P + P is the identity exactly when P has no torsion part.
	minusOne := edwards25519.NewScalar().Negate(scalarFromBytesModOrder([]byte{1}))
	lp := new(edwards25519.Point).ScalarMult(minusOne, p)
	lp.Add(lp, p)
	return lp.Equal(edwards25519.NewIdentityPoint()) == 1
}

// montgomeryInRange reports whether u < 2^255 - 19 (and its top bit is clear).
func montgomeryInRange(pub PublicKey) bool {
	if pub[31]&0x80 != 0 {
		return false
	}
	if pub[0] >= 237 && pub[31] == 0x7F {
		for _, c := range pub[1:31] {
			if c != 0xFF {
				return true
			}
		}
		return false
	}
	return true
}
