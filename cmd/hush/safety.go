package main

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/signal"
)

// safetyNumber returns the 60-digit safety number of two accounts, the
// same on both sides: libsignal's numeric fingerprint, version 2, over
// each account's id (its ACI as 16 bytes) and identity key, with the
// apps' iteration count.
func safetyNumber(localID string, localKey signal.IdentityKey, remoteID string, remoteKey signal.IdentityKey) (string, error) {
	l, err := uuid.Parse(localID)
	if err != nil {
		return "", fmt.Errorf("safety number: account id %q: %w", localID, err)
	}
	r, err := uuid.Parse(remoteID)
	if err != nil {
		return "", fmt.Errorf("safety number: account id %q: %w", remoteID, err)
	}
	fp, err := signal.NewFingerprint(signal.FingerprintVersion, signal.FingerprintIterations, l[:], localKey, r[:], remoteKey)
	if err != nil {
		return "", fmt.Errorf("safety number: %w", err)
	}
	return fp.Display, nil
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
