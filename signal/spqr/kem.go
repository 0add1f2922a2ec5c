package spqr

import (
	"bytes"
	"crypto/mlkem"
	"crypto/sha3"
	"crypto/subtle"
	"fmt"
	"io"

	"github.com/cloudflare/circl/kem/mlkem/mlkem768"
	"github.com/cloudflare/circl/pke/kyber/kyber768"
)

// The incremental ML-KEM-768 of libcrux (libcrux-ml-kem, mlkem768::
// incremental), which the reference uses: standard ML-KEM-768 (FIPS 203)
// with its encapsulation key and ciphertext each cut in two, so that the
// larger halves can travel in parallel.
//
//   - header (pk1, 64 bytes): rho || H(ek), the matrix seed and the hash of
//     the full encapsulation key ek = t || rho;
//   - encapsulation key vector (pk2, 1152 bytes): t;
//   - ct1 (960 bytes): the compressed u of the ciphertext, which depends
//     only on rho and the randomness, so it is made from the header alone;
//   - ct2 (128 bytes): the compressed v, which needs t;
//   - decapsulation key (2400 bytes): the standard expanded key
//     dk_PKE || ek || H(ek) || z. The receiver decapsulates ct1 || ct2 as
//     an ordinary ML-KEM-768 ciphertext.
//
// Encapsulation follows FIPS 203: (K, r) = G(m || H(ek)), and the K-PKE
// encryption of m with randomness r. Here it is done with circl's K-PKE
// (pke/kyber/kyber768): ct1 is the u part of an encryption under a key
// with the header's rho and t = 0 (u does not depend on t), ct2 the v part
// of the same encryption under the real key once it has arrived. Key
// generation and decapsulation use circl's ML-KEM (kem/mlkem/mlkem768),
// because the state must hold the expanded 2400-byte key and the standard
// library's crypto/mlkem only takes the 64-byte seed form; the key check
// uses crypto/mlkem.

const (
	kemHeaderSize = 64
	kemEKSize     = 1152
	kemCT1Size    = 960
	kemCT2Size    = 128
	kemDKSize     = mlkem768.PrivateKeySize // 2400
	kemESSize     = 2080                    // the size libcrux gives its encapsulation state
	kemSeedSize   = mlkem768.KeySeedSize    // 64
)

// Encapsulation state. libcrux stores r as an NTT vector (1536 bytes),
// the error polynomial e2 (512 bytes of i16 coefficients in [-2, 2]) and
// m (32 bytes). Ours keeps the same size and m in the same place, and
// stores the K-PKE randomness r in the first 32 bytes; it is told apart by
// the e2 area, filled with esMarker, a value e2 never holds. From a libcrux
// state only m is usable here, so r must be rederived from m and H(ek),
// which needs the header.
const (
	esE2Off  = 1536
	esMOff   = 2048
	esMarker = 0x7f
)

// kemKeys is a fresh key pair, split the incremental way.
type kemKeys struct{ hdr, ek, dk []byte }

// kemGenerate makes a key pair from 64 bytes of rand (d || z, as FIPS 203
// ML-KEM.KeyGen_internal takes them).
func kemGenerate(rand io.Reader) (kemKeys, error) {
	var seed [kemSeedSize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return kemKeys{}, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	_, sk := mlkem768.NewKeyFromSeed(seed[:])
	dk := make([]byte, kemDKSize)
	sk.Pack(dk)
	// dk = dk_PKE(1152) || t(1152) || rho(32) || H(ek)(32) || z(32).
	ek := bytes.Clone(dk[1152:2304])
	hdr := bytes.Clone(dk[2304:2368])
	return kemKeys{hdr: hdr, ek: ek, dk: dk}, nil
}

// kemEKMatchesHeader reports whether ek (t) belongs to the header: the
// hash of t || rho is the header's and t is canonically encoded.
func kemEKMatchesHeader(ek, hdr []byte) bool {
	if len(ek) != kemEKSize || len(hdr) != kemHeaderSize {
		return false
	}
	full := make([]byte, 0, kemEKSize+32)
	full = append(append(full, ek...), hdr[:32]...)
	h := sha3.Sum256(full)
	if subtle.ConstantTimeCompare(h[:], hdr[32:]) != 1 {
		return false
	}
	_, err := mlkem.NewEncapsulationKey768(full)
	return err == nil
}

// kemEncaps1 starts an encapsulation to the key behind hdr, with 32 bytes
// of rand as m. It returns ct1, the encapsulation state and the shared
// secret.
func kemEncaps1(hdr []byte, rand io.Reader) (ct1, es, ss []byte, err error) {
	if len(hdr) != kemHeaderSize {
		return nil, nil, nil, ErrStateDecode
	}
	var m [32]byte
	if _, err := io.ReadFull(rand, m[:]); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	kr := kemG(m[:], hdr[32:])
	ct := kemEncrypt(make([]byte, kemEKSize), hdr[:32], m[:], kr[32:])
	es = make([]byte, kemESSize)
	copy(es, kr[32:])
	for i := esE2Off; i < esMOff; i++ {
		es[i] = esMarker
	}
	copy(es[esMOff:], m[:])
	return ct[:kemCT1Size], es, bytes.Clone(kr[:32]), nil
}

// kemEncaps2 finishes an encapsulation: ct2 for the encapsulation key
// vector ek. hdr may be nil when es is ours; a libcrux state needs it.
func kemEncaps2(ek, es, hdr []byte) ([]byte, error) {
	if len(ek) != kemEKSize || len(es) != kemESSize {
		return nil, ErrStateDecode
	}
	m := es[esMOff:]
	var r []byte
	switch {
	case isOurES(es):
		r = es[:32]
	case len(hdr) == kemHeaderSize:
		r = kemG(m, hdr[32:])[32:]
	default:
		return nil, ErrForeignState
	}
	// v does not depend on rho; a zero one spares carrying it.
	ct := kemEncrypt(ek, make([]byte, 32), m, r)
	return ct[kemCT1Size:], nil
}

func isOurES(es []byte) bool {
	for _, b := range es[esE2Off:esMOff] {
		if b != esMarker {
			return false
		}
	}
	return true
}

// kemDecaps decapsulates ct1 || ct2 with the expanded key dk.
func kemDecaps(dk, ct1, ct2 []byte) ([]byte, error) {
	if len(dk) != kemDKSize || len(ct1) != kemCT1Size || len(ct2) != kemCT2Size {
		return nil, ErrStateDecode
	}
	var sk mlkem768.PrivateKey
	if err := sk.Unpack(dk); err != nil {
		return nil, ErrStateDecode
	}
	ct := make([]byte, 0, mlkem768.CiphertextSize)
	ct = append(append(ct, ct1...), ct2...)
	ss := make([]byte, mlkem768.SharedKeySize)
	sk.DecapsulateTo(ss, ct)
	return ss, nil
}

// kemG is FIPS 203's G: SHA3-512 of m || H(ek).
func kemG(m, h []byte) []byte {
	g := sha3.New512()
	g.Write(m)
	g.Write(h)
	return g.Sum(nil)
}

// kemEncrypt is K-PKE.Encrypt of m with randomness r under the key t || rho.
func kemEncrypt(t, rho, m, r []byte) []byte {
	pub := make([]byte, 0, kyber768.PublicKeySize)
	pub = append(append(pub, t...), rho...)
	var pk kyber768.PublicKey
	pk.Unpack(pub)
	ct := make([]byte, kyber768.CiphertextSize)
	pk.EncryptTo(ct, m, r)
	return ct
}
