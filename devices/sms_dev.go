package devices

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// DevOutbox is the development-only SMS sender of the embedded profile:
// instead of sending a code it writes "EXPIRES NUMBER CODE" to a file
// (mode 0600) in the data directory, one line per number with a pending
// code, and says in the server log where to look, without the code. A
// line goes when its code is used (Forget) or expires (Expire), so the
// file holds only codes that still work.
type DevOutbox struct {
	Path string
	Log  *slog.Logger

	mu sync.Mutex // serializes rewrites of the file
}

var (
	_ SMSSender  = (*DevOutbox)(nil)
	_ codeKeeper = (*DevOutbox)(nil)
)

// SendCode puts m's line in the outbox, replacing the number's older one.
func (o *DevOutbox) SendCode(ctx context.Context, m CodeMessage) error {
	line := fmt.Sprintf("%s %s %s", m.Expires.UTC().Format(time.RFC3339), m.Number, m.Code.Reveal())
	if err := o.rewrite(func(l outboxLine) bool { return l.number != m.Number }, line); err != nil {
		return fmt.Errorf("dev sms outbox: %w", err)
	}
	o.Log.WarnContext(ctx, "DEVELOPMENT ONLY: registration code not sent by SMS; it is in the dev outbox file",
		"number", maskNumber(m.Number), "outbox", o.Path)
	return nil
}

// Forget removes number's line.
func (o *DevOutbox) Forget(number string) error {
	return o.rewrite(func(l outboxLine) bool { return l.number != number }, "")
}

// Expire removes the lines of codes that expired before now.
func (o *DevOutbox) Expire(now time.Time) error {
	return o.rewrite(func(l outboxLine) bool { return !l.expires.Before(now) }, "")
}

type outboxLine struct {
	text    string
	number  string
	expires time.Time
}

// rewrite keeps the lines keep accepts, adds add (unless ""), and
// replaces the file; a file left with no lines is removed.
func (o *DevOutbox) rewrite(keep func(outboxLine) bool, add string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	old, err := os.ReadFile(o.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var out bytes.Buffer
	changed := add != ""
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			changed = true // not ours: drop it
			continue
		}
		exp, _ := time.Parse(time.RFC3339, f[0])
		if !keep(outboxLine{text: sc.Text(), number: f[1], expires: exp}) {
			changed = true
			continue
		}
		out.WriteString(sc.Text() + "\n")
	}
	if add != "" {
		out.WriteString(add + "\n")
	}
	switch {
	case !changed:
		return nil
	case out.Len() == 0:
		if err := os.Remove(o.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	tmp := o.Path + ".tmp"
	if err := os.WriteFile(tmp, out.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, o.Path)
}
