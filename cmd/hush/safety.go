package main

import (
	"crypto/sha512"
	"strings"

	"go.mau.fi/libsignal/fingerprint"
)

const (
	// fingerprintIterations is Signal's count for safety numbers.
	fingerprintIterations = 5200
	fingerprintVersion    = 0
	fingerprintBytes      = 30 // six 5-byte chunks of five digits each
)

// safetyNumber returns the 60-digit safety number of two accounts, the
// same on both sides: each half is derived from one account's id (its
// stable identifier) and serialized identity key, and libsignal's display
// orders the halves.
func safetyNumber(localID string, localKey []byte, remoteID string, remoteKey []byte) string {
	return fingerprint.NewDisplay(
		fingerprintHalf(localID, localKey),
		fingerprintHalf(remoteID, remoteKey),
	).DisplayText()
}

// fingerprintHalf is Signal's numeric fingerprint of one identity:
// SHA-512 over version || key || id, then iterated over the hash and key.
func fingerprintHalf(id string, key []byte) []byte {
	h := sha512.New()
	h.Write([]byte{0, fingerprintVersion})
	h.Write(key)
	h.Write([]byte(id))
	sum := h.Sum(nil)
	for range fingerprintIterations {
		h.Reset()
		h.Write(sum)
		h.Write(key)
		sum = h.Sum(sum[:0])
	}
	return sum[:fingerprintBytes]
}

// groupDigits splits a safety number into groups of five.
func groupDigits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 5 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+5, len(s))])
	}
	return b.String()
}
