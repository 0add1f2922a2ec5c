package devices_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/internal/testkit/smstest"
)

const (
	secret    = "0123456789abcdef0123456789abcdef-webhook"
	sid       = "AC0123456789abcdef0123456789abcdef"
	token     = "twilio-auth-token-0123456789"
	service   = "MG0123456789abcdef0123456789abcdef"
	from      = "+15005550006"
	number    = "+14155552671"
	theCode   = "402913"
	fastRetry = time.Millisecond
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sender builds a sender from cfg with fast retries, its metrics and its
// log.
func sender(t *testing.T, cfg devices.SMSConfig) (devices.SMSSender, *prometheus.CounterVec, *syncBuf) {
	t.Helper()
	base := devices.SMSDefaults()
	cfg.Timeout = cmp.Or(cfg.Timeout, base.Timeout)
	cfg.Attempts, cfg.Backoff, cfg.MaxBackoff = 3, fastRetry, 2*fastRetry
	if cfg.Twilio.BaseURL == "" {
		cfg.Twilio.BaseURL = base.Twilio.BaseURL
	}
	logs := &syncBuf{}
	m := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sms"}, []string{"sender", "outcome"})
	s, desc, err := devices.NewSMSSender(cfg, slog.New(slog.NewTextHandler(logs, nil)), m)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{secret, token, "in-the-query"} {
		if strings.Contains(desc, bad) {
			t.Fatalf("description %q holds a secret", desc)
		}
	}
	return s, m, logs
}

func message() devices.CodeMessage {
	return devices.CodeMessage{ID: "msg-1", Number: number, Code: theCode, Expires: time.Now().Add(10 * time.Minute)}
}

func count(m *prometheus.CounterVec, kind, outcome string) int {
	var d dto.Metric
	if err := m.WithLabelValues(kind, outcome).Write(&d); err != nil {
		panic(err)
	}
	return int(d.GetCounter().GetValue())
}

// noSecrets fails if the code or a credential shows in an error or log.
func noSecrets(t *testing.T, err error, logs *syncBuf) {
	t.Helper()
	for _, s := range []string{theCode, secret, token, "in-the-query"} {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("error %q holds a secret", err)
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("log holds a secret: %s", logs.String())
		}
	}
	if strings.Contains(logs.String(), number) {
		t.Errorf("log holds the whole number: %s", logs.String())
	}
}

func TestWebhookSender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fail      []int
		secret    string
		wantErr   error
		requests  int
		delivered int
		outcomes  map[string]int
	}{
		{"delivered", nil, secret, nil, 1, 1, map[string]int{"sent": 1}},
		{"5xx and 429 retried", []int{503, 429}, secret, nil, 3, 1, map[string]int{"retried": 2, "sent": 1}},
		{"4xx not retried", []int{400}, secret, devices.ErrSMSRejected, 1, 0, map[string]int{"rejected": 1}},
		{"gives up after the attempts", []int{500, 502, 504}, secret, devices.ErrSMSUnavailable, 3, 0, map[string]int{"retried": 2, "failed": 1}},
		{"wrong secret refused by the receiver", nil, strings.Repeat("x", 32), devices.ErrSMSRejected, 1, 0, map[string]int{"rejected": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hook := smstest.NewWebhook(t, secret)
			hook.FailNext(tt.fail...)
			s, m, logs := sender(t, devices.SMSConfig{Kind: devices.SMSWebhook, Webhook: devices.WebhookConfig{URL: hook.URL, Secret: devices.Secret(tt.secret)}})
			err := s.SendCode(t.Context(), message())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := hook.Requests(); got != tt.requests {
				t.Errorf("requests = %d, want %d", got, tt.requests)
			}
			if got := hook.Delivered(number); got != tt.delivered {
				t.Errorf("delivered = %d, want %d", got, tt.delivered)
			}
			if tt.delivered > 0 && hook.Code(t, number) != theCode {
				t.Errorf("code = %s", hook.Code(t, number))
			}
			if tt.secret == secret && len(hook.Problems()) > 0 {
				t.Errorf("receiver refused: %v", hook.Problems())
			}
			for _, o := range []string{"sent", "retried", "rejected", "failed"} {
				if got := count(m, "webhook", o); got != tt.outcomes[o] {
					t.Errorf("metric %s = %d, want %d", o, got, tt.outcomes[o])
				}
			}
			noSecrets(t, err, logs)
		})
	}
}

func TestTwilioSender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      devices.TwilioConfig
		fail     []int
		wantErr  error
		errHas   string
		requests int
	}{
		{"from a number", devices.TwilioConfig{AccountSID: sid, AuthToken: token, From: from}, nil, nil, "", 1},
		{"through a messaging service", devices.TwilioConfig{AccountSID: sid, AuthToken: token, MessagingServiceSID: service}, nil, nil, "", 1},
		{"429 retried", devices.TwilioConfig{AccountSID: sid, AuthToken: token, From: from}, []int{429}, nil, "", 2},
		{"wrong token", devices.TwilioConfig{AccountSID: sid, AuthToken: "wrong", From: from}, nil, devices.ErrSMSRejected, "", 1},
		{"unknown sender", devices.TwilioConfig{AccountSID: sid, AuthToken: token, From: "+15005550001"}, nil, devices.ErrSMSRejected, "", 1},
		{"500s", devices.TwilioConfig{AccountSID: sid, AuthToken: token, From: from}, []int{500, 500, 500}, devices.ErrSMSUnavailable, "status 500", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := smstest.NewTwilio(t, sid, token, from, service)
			api.FailNext(tt.fail...)
			tt.cfg.BaseURL = api.URL
			s, m, logs := sender(t, devices.SMSConfig{Kind: devices.SMSTwilio, Twilio: tt.cfg})
			err := s.SendCode(t.Context(), message())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("err = %v, want it to say %q", err, tt.errHas)
			}
			if got := api.Requests(); got != tt.requests {
				t.Errorf("requests = %d, want %d", got, tt.requests)
			}
			if tt.wantErr == nil {
				if api.Code(t, number) != theCode {
					t.Errorf("code = %s", api.Code(t, number))
				}
				if count(m, "twilio", "sent") != 1 {
					t.Error("sent not counted")
				}
			}
			if tt.cfg.AuthToken == "wrong" && !strings.Contains(logs.String(), "twilio error 20003") {
				t.Errorf("rejection reason not logged: %s", logs.String())
			}
			noSecrets(t, err, logs)
		})
	}
}

// A gateway that does not answer, or cannot be reached, is retried and
// then given up on.
func TestSMSSenderNetworkFailures(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, url := range []string{hang.URL, closed.URL} {
		cfg := devices.SMSConfig{Kind: devices.SMSWebhook, Webhook: devices.WebhookConfig{URL: url + "/?token=in-the-query", Secret: secret},
			Timeout: 50 * time.Millisecond}
		s, m, logs := sender(t, cfg)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		err := s.SendCode(ctx, message())
		cancel()
		if !errors.Is(err, devices.ErrSMSUnavailable) {
			t.Fatalf("%s: err = %v, want ErrSMSUnavailable", url, err)
		}
		if count(m, "webhook", "failed") != 1 || count(m, "webhook", "retried") != 2 {
			t.Errorf("%s: metrics failed %d retried %d", url, count(m, "webhook", "failed"), count(m, "webhook", "retried"))
		}
		noSecrets(t, err, logs)
	}
}

func TestSMSConfigErrors(t *testing.T) {
	t.Parallel()
	tw := devices.TwilioConfig{AccountSID: sid, AuthToken: token, From: from}
	tests := []struct {
		name string
		cfg  devices.SMSConfig
		want string
	}{
		{"unknown kind", devices.SMSConfig{Kind: "carrier-pigeon"}, "is not webhook"},
		{"webhook without URL", devices.SMSConfig{Kind: devices.SMSWebhook, Webhook: devices.WebhookConfig{Secret: secret}}, "--sms-webhook-url"},
		{"webhook over plain http", devices.SMSConfig{Kind: devices.SMSWebhook, Webhook: devices.WebhookConfig{URL: "http://sms.example.org/hook", Secret: secret}}, "https"},
		{"short secret", devices.SMSConfig{Kind: devices.SMSWebhook, Webhook: devices.WebhookConfig{URL: "https://sms.example.org/hook", Secret: "short"}}, "at least 32"},
		{"bad account sid", devices.SMSConfig{Kind: devices.SMSTwilio, Twilio: devices.TwilioConfig{AccountSID: "nope", AuthToken: token, From: from}}, "--twilio-account-sid"},
		{"no token", devices.SMSConfig{Kind: devices.SMSTwilio, Twilio: devices.TwilioConfig{AccountSID: sid, From: from}}, "--twilio-auth-token"},
		{"no sender", devices.SMSConfig{Kind: devices.SMSTwilio, Twilio: devices.TwilioConfig{AccountSID: sid, AuthToken: token}}, "one of --twilio-from"},
		{"two senders", devices.SMSConfig{Kind: devices.SMSTwilio, Twilio: devices.TwilioConfig{AccountSID: sid, AuthToken: token, From: from, MessagingServiceSID: service}}, "one of --twilio-from"},
		{"bad base URL", devices.SMSConfig{Kind: devices.SMSTwilio, Twilio: func() devices.TwilioConfig { c := tw; c.BaseURL = "ftp://x"; return c }()}, "--twilio-base-url"},
	}
	for _, tt := range tests {
		_, _, err := devices.NewSMSSender(tt.cfg, slog.New(slog.DiscardHandler), nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to say %q", tt.name, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), token)) {
			t.Errorf("%s: error holds a secret: %v", tt.name, err)
		}
	}
}

// The development outbox holds one line per pending code: a new code
// replaces the number's line, a used one and an expired one go.
func TestDevOutbox(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "outbox.txt")
	logs := &syncBuf{}
	o := &devices.DevOutbox{Path: path, Log: slog.New(slog.NewTextHandler(logs, nil))}
	now := time.Now()
	lines := func() []string {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	send := func(n, code string, exp time.Time) {
		t.Helper()
		if err := o.SendCode(t.Context(), devices.CodeMessage{ID: n, Number: n, Code: devices.Secret(code), Expires: exp}); err != nil {
			t.Fatal(err)
		}
	}
	send("+14155550001", "111111", now.Add(time.Minute))
	send("+14155550002", "222222", now.Add(-time.Minute))
	send("+14155550001", "333333", now.Add(time.Minute))
	if got := lines(); len(got) != 2 || !strings.HasSuffix(got[1], "+14155550001 333333") {
		t.Fatalf("outbox = %q", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("outbox mode: %v %v", fi.Mode(), err)
	}
	if err := o.Expire(now); err != nil {
		t.Fatal(err)
	}
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "+14155550001") {
		t.Fatalf("outbox after expiry = %q", got)
	}
	if err := o.Forget("+14155550001"); err != nil {
		t.Fatal(err)
	}
	if got := lines(); got != nil {
		t.Fatalf("outbox after the last code was used = %q", got)
	}
	for _, c := range []string{"111111", "333333"} {
		if strings.Contains(logs.String(), c) {
			t.Errorf("log holds a code: %s", logs.String())
		}
	}
}
