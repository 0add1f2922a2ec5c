package pushtest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mode is how a fake answers the pushes it receives.
type Mode int

// The modes. Gone registrations are answered as gone in every mode but
// Hang.
const (
	Deliver     Mode = iota // accept and record
	Unavailable             // 503, with Retry-After: RetryAfter
	Throttle                // 429 (WNS: 406), with Retry-After: RetryAfter
	Hang                    // no answer until the client gives up or the fake stops
)

// RetryAfter is the Retry-After the fakes send with Unavailable and
// Throttle.
const RetryAfter = 120 * time.Second

// WaitTimeout bounds Wait: a guard against a hung test, not a measure of
// speed.
var WaitTimeout = 30 * time.Second

// knobs are the settings shared by every fake.
type knobs struct {
	mu       sync.Mutex // guards the following fields
	mode     Mode
	gone     map[string]bool
	attempts int
	inflight int // requests being answered (the Web Push fake's)
	most     int // the most inflight has been
}

// MaxInFlight returns the most push requests the fake was answering at
// once (kept by the Web Push fake, whose hanging requests it counts).
func (k *knobs) MaxInFlight() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.most
}

// enter counts a request being answered until the returned func is called.
func (k *knobs) enter() func() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.inflight++
	k.most = max(k.most, k.inflight)
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.inflight--
	}
}

// SetMode sets how pushes are answered from now on.
func (k *knobs) SetMode(m Mode) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.mode = m
}

// Attempts counts the push requests received, answered or not (token
// requests are not counted).
func (k *knobs) Attempts() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.attempts
}

func (k *knobs) markGone(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gone == nil {
		k.gone = map[string]bool{}
	}
	k.gone[key] = true
}

// attempt counts a push request and returns the mode and whether key is
// gone.
func (k *knobs) attempt(key string) (Mode, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.attempts++
	return k.mode, k.gone[key]
}

// journal records what a fake accepted and wakes waiters.
type journal[T any] struct {
	mu      sync.Mutex // guards the following fields
	entries []entry[T]
	changed chan struct{} // closed and replaced on each add
}

type entry[T any] struct {
	key string
	v   T
}

func (j *journal[T]) add(key string, v T) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, entry[T]{key, v})
	if j.changed != nil {
		close(j.changed)
		j.changed = nil
	}
}

// matchingLocked returns the entries for key, or every entry when key is
// empty.
func (j *journal[T]) matchingLocked(key string) []T {
	var out []T
	for _, e := range j.entries {
		if key == "" || e.key == key {
			out = append(out, e.v)
		}
	}
	return out
}

func (j *journal[T]) all(key string) []T {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.matchingLocked(key)
}

func (j *journal[T]) count(key string) int {
	return len(j.all(key))
}

// wait returns the entries for key (every entry when key is empty) once
// there are at least n, failing t after WaitTimeout.
func (j *journal[T]) wait(t testing.TB, key string, n int) []T {
	t.Helper()
	timer := time.NewTimer(WaitTimeout)
	defer timer.Stop()
	for {
		j.mu.Lock()
		got := j.matchingLocked(key)
		if len(got) >= n {
			j.mu.Unlock()
			return got
		}
		if j.changed == nil {
			j.changed = make(chan struct{})
		}
		ch := j.changed
		j.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("pushtest: %d pushes after %v, want %d", len(got), WaitTimeout, n)
			return nil
		}
	}
}

// server is an httptest server over TLS whose hanging handlers end when
// the test ends.
type server struct {
	*httptest.Server
	closing chan struct{}
}

// startTLS starts h over TLS (HTTP/2 when http2) for t's lifetime.
func startTLS(t testing.TB, h http.Handler, http2 bool) *server {
	t.Helper()
	s := &server{closing: make(chan struct{})}
	s.Server = httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = http2
	s.StartTLS()
	// Cleanups run last-in first-out: hanging handlers return before
	// Close waits for them.
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.closing) })
	return s
}

// hang blocks until the request is abandoned or the fake stops.
func (s *server) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.closing:
	}
}

// rootCAs is a pool trusting s's certificate.
func (s *server) rootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return pool
}

func retryAfter(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfter/time.Second)))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomToken returns n random bytes in base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// bearer returns the credentials of an "Authorization: Bearer x" header
// (the scheme is case-insensitive, RFC 6750 §2.1 and RFC 9110 §11.1).
func bearer(r *http.Request) string {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(cred)
}

// jwtParts decodes a compact JWS (RFC 7515 §7.1) into its header and
// claims and returns the signing input and signature.
func jwtParts(token string) (header, claims map[string]any, signed, sig []byte, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, nil, nil, errors.New("not a compact JWS")
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("header: %w", err)
	}
	c, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("claims: %w", err)
	}
	sig, err = base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("signature: %w", err)
	}
	if err := json.Unmarshal(h, &header); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("header: %w", err)
	}
	if err := json.Unmarshal(c, &claims); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("claims: %w", err)
	}
	return header, claims, []byte(parts[0] + "." + parts[1]), sig, nil
}

// verifyES256 checks an ES256 JWT (RFC 7518 §3.4: the signature is R||S,
// 32 octets each) against pub and returns its header and claims.
func verifyES256(token string, pub *ecdsa.PublicKey) (header, claims map[string]any, err error) {
	header, claims, signed, sig, err := jwtParts(token)
	if err != nil {
		return nil, nil, err
	}
	if header["alg"] != "ES256" {
		return nil, nil, fmt.Errorf("alg %v, want ES256", header["alg"])
	}
	if len(sig) != 64 {
		return nil, nil, errors.New("ES256 signature is not 64 octets")
	}
	digest := sha256.Sum256(signed)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return nil, nil, errors.New("bad signature")
	}
	return header, claims, nil
}

// numericDate reads a NumericDate claim (RFC 7519 §2).
func numericDate(claims map[string]any, name string) (time.Time, error) {
	f, ok := claims[name].(float64)
	if !ok {
		return time.Time{}, fmt.Errorf("claim %q missing", name)
	}
	return time.Unix(int64(f), 0), nil
}
