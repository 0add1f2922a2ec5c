package store

import (
	"fmt"
	"log/slog"
)

const redacted = "REDACTED"

// Secret is a string that prints and logs as redacted; Reveal returns it.
type Secret string

// Reveal returns the secret itself, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// String hides the secret.
func (s Secret) String() string { return redacted }

// GoString hides the secret from %#v.
func (s Secret) GoString() string { return redacted }

// LogValue hides the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// SecretBytes is key material that prints and logs as redacted.
type SecretBytes []byte

// String hides the bytes (fmt uses it for %s, %v, %x and %q).
func (b SecretBytes) String() string { return redacted }

// GoString hides the bytes from %#v.
func (b SecretBytes) GoString() string { return redacted }

// LogValue hides the bytes.
func (b SecretBytes) LogValue() slog.Value { return slog.StringValue(redacted) }

var (
	_ fmt.Stringer   = Secret("")
	_ slog.LogValuer = Secret("")
	_ fmt.Stringer   = SecretBytes(nil)
	_ slog.LogValuer = SecretBytes(nil)
)
