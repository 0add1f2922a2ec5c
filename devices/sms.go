package devices

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SMSSender delivers a registration code to a phone number. An error
// wraps ErrSMSRejected or ErrSMSUnavailable and never holds the code.
type SMSSender interface {
	SendCode(ctx context.Context, m CodeMessage) error
}

// CodeMessage is one registration code to deliver.
type CodeMessage struct {
	// ID is unique per code and the same across retries, so that a
	// gateway can drop a duplicate.
	ID      string
	Number  string
	Code    Secret
	Expires time.Time
}

// Text is the SMS text of the message.
func (m CodeMessage) Text() string {
	return fmt.Sprintf("Your Hush code: %s. Do not share it with anyone.", m.Code.Reveal())
}

// LogValue keeps the code and most of the number out of logs.
func (m CodeMessage) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", m.ID), slog.String("number", maskNumber(m.Number)))
}

// Secret is a code or password: it logs and prints as redacted.
type Secret string

// LogValue keeps secrets out of structured logs.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String keeps secrets out of fmt output.
func (Secret) String() string { return "[redacted]" }

// Reveal returns the secret itself, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

// codeKeeper is a sender that keeps what it sent (the development outbox):
// it is told when a code is used, and drops codes that expired.
type codeKeeper interface {
	Forget(number string) error
	Expire(now time.Time) error
}

// SMS sender kinds (--sms).
const (
	SMSDev     = "dev"     // the development outbox file
	SMSWebhook = "webhook" // a signed HTTPS POST to the operator's gateway
	SMSTwilio  = "twilio"  // Twilio's Messages API
	SMSNone    = "none"    // no SMS: only test numbers register
)

// SMSConfig chooses and tunes the SMS sender.
type SMSConfig struct {
	// Kind is SMSDev, SMSWebhook, SMSTwilio or SMSNone.
	Kind    string
	Webhook WebhookConfig
	Twilio  TwilioConfig
	// Timeout bounds one HTTP attempt; Attempts bounds the attempts of
	// one message (the first included); Backoff is the wait before the
	// second attempt, doubled before each further one (a Retry-After up
	// to MaxBackoff is honoured instead).
	Timeout    time.Duration
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// OutboxPath is the development outbox file.
	OutboxPath string
}

// SMSDefaults returns the documented defaults.
func SMSDefaults() SMSConfig {
	return SMSConfig{
		Timeout: 10 * time.Second, Attempts: 3, Backoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second,
		Twilio: TwilioConfig{BaseURL: TwilioAPI},
	}
}

// Validate reports what is wrong with cfg, as NewSMSSender would.
func (cfg SMSConfig) Validate() error {
	_, _, err := NewSMSSender(cfg, slog.New(slog.DiscardHandler), nil)
	return err
}

// NewSMSSender builds the sender cfg names, and a description of it for
// the log that holds no secret. sent counts messages by sender and
// outcome (sent, retried, rejected, failed).
func NewSMSSender(cfg SMSConfig, log *slog.Logger, sent *prometheus.CounterVec) (SMSSender, string, error) {
	h := httpSender{timeout: cfg.Timeout, attempts: max(cfg.Attempts, 1), backoff: cfg.Backoff, maxBackoff: cfg.MaxBackoff, log: log}
	client := &http.Client{Timeout: cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	switch cfg.Kind {
	case SMSDev:
		if cfg.OutboxPath == "" {
			return nil, "", errors.New("sms dev: no outbox path")
		}
		return &DevOutbox{Path: cfg.OutboxPath, Log: log}, "dev outbox " + cfg.OutboxPath + " (DEVELOPMENT ONLY: codes are written to a file, not sent)", nil
	case SMSNone:
		return NoSMS{}, "none (only test numbers can register)", nil
	case SMSWebhook:
		w, err := newWebhook(cfg.Webhook, h, client, sent)
		if err != nil {
			return nil, "", err
		}
		return w, "webhook " + safeURL(w.url), nil
	case SMSTwilio:
		t, err := newTwilio(cfg.Twilio, h, client, sent)
		if err != nil {
			return nil, "", err
		}
		return t, "twilio " + safeURL(t.endpoint), nil
	}
	return nil, "", fmt.Errorf("--sms: %q is not webhook, twilio, dev or none", cfg.Kind)
}

// safeURL is u without user info and query, for logs.
func safeURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.Fragment = nil, "", ""
	return c.String()
}

// checkURL accepts an absolute http(s) URL; plain http only to loopback.
func checkURL(flag, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%s must be an https:// URL", flag)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%s must be https:// (plain http only to loopback, for tests)", flag)
	}
	return u, nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

// NoSMS is the sender of a server that sends no SMS: only its test
// numbers can register.
type NoSMS struct{}

// SendCode refuses every number.
func (NoSMS) SendCode(context.Context, CodeMessage) error { return errNoSMS }
