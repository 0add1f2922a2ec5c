package signal

import (
	"crypto/sha512"
	"crypto/subtle"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Safety numbers as libsignal's fingerprint.rs (NumericFingerprint): each
// side's identity key is hashed with its stable identifier over
// iterations of SHA-512; the displayable form is 60 digits, the
// scannable form a CombinedFingerprints protobuf for a QR code.

// Fingerprint versions and the iteration count the apps use.
const (
	FingerprintVersion    = 2 // service ids as identifiers
	FingerprintIterations = 5200
)

// Fingerprint is the safety number of a pair of identities.
type Fingerprint struct {
	// Display is the 60-digit number both sides see alike.
	Display string
	// Scannable is the serialized CombinedFingerprints for a QR code.
	Scannable []byte
}

// NewFingerprint computes the fingerprint of the local and the remote
// identity. With version 2 the identifiers are the users' service ids in
// binary (16-byte UUIDs for ACIs).
func NewFingerprint(version, iterations uint32, localID []byte, localKey IdentityKey, remoteID []byte, remoteKey IdentityKey) (*Fingerprint, error) {
	if iterations <= 1 || iterations > 1_000_000 {
		return nil, fmt.Errorf("%w: %d fingerprint iterations", ErrInvalidArgument, iterations)
	}
	local := fingerprintHash(iterations, localID, localKey)
	remote := fingerprintHash(iterations, remoteID, remoteKey)
	l, r := displayDigits(local), displayDigits(remote)
	display := r + l
	if l < r {
		display = l + r
	}
	return &Fingerprint{Display: display, Scannable: combinedFingerprints(version, local[:32], remote[:32])}, nil
}

func fingerprintHash(iterations uint32, id []byte, key IdentityKey) []byte {
	k := key.Bytes()
	h := sha512.New()
	h.Write([]byte{0, 0})
	h.Write(k)
	h.Write(id)
	h.Write(k)
	buf := h.Sum(nil)
	for i := uint32(1); i < iterations; i++ {
		h.Reset()
		h.Write(buf)
		h.Write(k)
		buf = h.Sum(buf[:0])
	}
	return buf
}

// displayDigits turns the first 30 bytes into six 5-digit groups.
func displayDigits(hash []byte) string {
	out := make([]byte, 0, 30)
	for i := range 6 {
		var x uint64
		for _, c := range hash[i*5 : i*5+5] {
			x = x<<8 | uint64(c)
		}
		out = fmt.Appendf(out, "%05d", x%100_000)
	}
	return string(out)
}

func combinedFingerprints(version uint32, local, remote []byte) []byte {
	var b []byte
	b = appendVarintField(b, 1, uint64(version))
	b = appendBytesField(b, 2, appendBytesField(nil, 1, local))
	b = appendBytesField(b, 3, appendBytesField(nil, 1, remote))
	return b
}

type scannable struct {
	version         uint32
	local, remote   []byte
	hasLocal, hasRm bool
}

func parseScannable(b []byte) (scannable, error) {
	var s scannable
	var inner error
	content := func(b []byte) ([]byte, bool) {
		var c []byte
		var has bool
		if err := decodeFields(b, func(f pbField) (protowire.Type, bool) {
			if f.num == 1 {
				c, has = f.b, f.typ == bytesT
				return bytesT, true
			}
			return 0, false
		}); err != nil && inner == nil {
			inner = err
		}
		return c, has
	}
	err := decodeFields(b, func(f pbField) (protowire.Type, bool) {
		switch f.num {
		case 1:
			s.version = uint32(f.v)
			return varintT, true
		case 2:
			s.local, s.hasLocal = content(f.b)
			return bytesT, true
		case 3:
			s.remote, s.hasRm = content(f.b)
			return bytesT, true
		}
		return 0, false
	})
	if err == nil {
		err = inner
	}
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrInvalidFingerprint, err)
	}
	return s, nil
}

// MatchesScannable reports whether theirs, scanned from the other
// device, is this fingerprint seen from the other side. A scannable
// fingerprint of another version is ErrInvalidFingerprint.
func (f *Fingerprint) MatchesScannable(theirs []byte) (bool, error) {
	ours, err := parseScannable(f.Scannable)
	if err != nil {
		return false, err
	}
	t, err := parseScannable(theirs)
	if err != nil {
		return false, err
	}
	if t.version != ours.version {
		return false, fmt.Errorf("%w: version %d, ours %d", ErrInvalidFingerprint, t.version, ours.version)
	}
	if !t.hasLocal || !t.hasRm {
		return false, fmt.Errorf("%w: missing fingerprint", ErrInvalidFingerprint)
	}
	same1 := subtle.ConstantTimeCompare(t.local, ours.remote)
	same2 := subtle.ConstantTimeCompare(t.remote, ours.local)
	return same1&same2 == 1, nil
}
