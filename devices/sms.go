package devices

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// SMSSender delivers a registration code to a phone number.
type SMSSender interface {
	SendCode(ctx context.Context, number string, code Secret) error
}

// Secret is a code or password: it logs and prints as redacted.
type Secret string

// LogValue keeps secrets out of structured logs.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String keeps secrets out of fmt output.
func (Secret) String() string { return "[redacted]" }

// Reveal returns the secret itself, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

// DevOutbox is the development-only SMS sender of the embedded profile: it
// appends each code to a file (mode 0600) in the data directory instead of
// sending it, and says in the server log where to look, without the code,
// so that secrets stay out of logs.
type DevOutbox struct {
	Path string
	Log  *slog.Logger

	mu sync.Mutex // serializes appends
}

var _ SMSSender = (*DevOutbox)(nil)

// SendCode appends "time number code" to the outbox file.
func (o *DevOutbox) SendCode(ctx context.Context, number string, code Secret) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	f, err := os.OpenFile(o.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open dev sms outbox: %w", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s %s %s\n", time.Now().UTC().Format(time.RFC3339), number, code.Reveal()); err != nil {
		return fmt.Errorf("write dev sms outbox: %w", err)
	}
	o.Log.WarnContext(ctx, "DEVELOPMENT ONLY: registration code not sent by SMS; it is in the dev outbox file",
		"number", maskNumber(number), "outbox", o.Path)
	return nil
}
