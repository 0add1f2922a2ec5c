package pushtest

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hushmsg/hush/internal/webpush"
)

// WebPush is a fake push service (RFC 8030) that checks VAPID (RFC 8292)
// and decrypts every message (RFC 8291) with the subscription's keys.
type WebPush struct {
	URL     string // origin of the push resources, https://127.0.0.1:port
	Client  *http.Client
	RootCAs *x509.CertPool

	srv *server

	knobs
	journal[WebPushMessage]

	subsMu    sync.Mutex // guards the following fields
	subs      map[string]*subscription
	serverKey string
}

type subscription struct {
	priv *ecdh.PrivateKey
	auth []byte
}

// WebPushMessage is one message the push service accepted.
type WebPushMessage struct {
	Endpoint string
	Payload  []byte // decrypted
	TTL      string
	Urgency  string
	Topic    string
	VAPIDKey string // k= of the Authorization header (base64url)
	Subject  string // sub claim of the VAPID JWT
	Size     int    // octets on the wire
}

// StartWebPush starts a fake push service for the test's lifetime.
func StartWebPush(t testing.TB) *WebPush {
	t.Helper()
	f := &WebPush{subs: map[string]*subscription{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /push/{id}", f.push)
	f.srv = startTLS(t, mux, true)
	f.URL, f.Client, f.RootCAs = f.srv.URL, f.srv.Client(), f.srv.rootCAs()
	return f
}

// Subscribe creates a subscription as a user agent would and returns its
// push resource and its keys: the P-256 public key (65 octets,
// uncompressed) and the 16-octet authentication secret.
func (f *WebPush) Subscribe() (endpoint string, p256dh, auth []byte) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	auth = make([]byte, 16)
	_, _ = rand.Read(auth)
	endpoint = f.URL + "/push/" + randomToken(24)
	f.subsMu.Lock()
	f.subs[endpoint] = &subscription{priv: priv, auth: auth}
	f.subsMu.Unlock()
	return endpoint, priv.PublicKey().Bytes(), auth
}

// RequireServerKey makes the service refuse (403) messages whose VAPID key
// is not key (base64url), as for subscriptions made with an
// applicationServerKey.
func (f *WebPush) RequireServerKey(key string) {
	f.subsMu.Lock()
	defer f.subsMu.Unlock()
	f.serverKey = key
}

// Gone makes the service answer 410 for endpoint.
func (f *WebPush) Gone(endpoint string) { f.markGone(endpoint) }

// Messages returns the messages accepted so far, in order.
func (f *WebPush) Messages() []WebPushMessage { return f.all("") }

// Count returns how many messages were accepted for endpoint.
func (f *WebPush) Count(endpoint string) int { return f.count(endpoint) }

// Wait returns the messages for endpoint (every message when endpoint is
// empty) once there are at least n.
func (f *WebPush) Wait(t testing.TB, endpoint string, n int) []WebPushMessage {
	t.Helper()
	return f.wait(t, endpoint, n)
}

func (f *WebPush) push(w http.ResponseWriter, r *http.Request) {
	defer f.enter()()
	endpoint := f.URL + "/push/" + r.PathValue("id")
	mode, gone := f.attempt(endpoint)
	switch mode {
	case Hang:
		f.srv.hang(r)
		return
	case Unavailable:
		retryAfter(w)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	case Throttle:
		retryAfter(w)
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	f.subsMu.Lock()
	sub := f.subs[endpoint]
	serverKey := f.serverKey
	f.subsMu.Unlock()
	if sub == nil {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	if gone {
		http.Error(w, "subscription expired", http.StatusGone)
		return
	}
	key, subject, err := f.checkVAPID(r.Header.Get("Authorization"))
	if err != nil {
		http.Error(w, "vapid: "+err.Error(), http.StatusUnauthorized)
		return
	}
	if serverKey != "" && key != serverKey {
		http.Error(w, "vapid: not the subscription's application server key", http.StatusForbidden)
		return
	}
	// RFC 8030 §5.2: TTL is required.
	if _, err := strconv.ParseUint(r.Header.Get("TTL"), 10, 32); err != nil {
		http.Error(w, "TTL header required", http.StatusBadRequest)
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		http.Error(w, "Content-Encoding "+ce+", want aes128gcm", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4097))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if len(body) > 4096 { // RFC 8030 §7.2
		http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		return
	}
	plain, err := Decrypt(body, sub.priv, sub.auth)
	if err != nil {
		http.Error(w, "decrypt: "+err.Error(), http.StatusBadRequest)
		return
	}
	// RFC 8030 §5: 201 Created with the push message's location.
	w.Header().Set("Location", f.URL+"/message/"+randomToken(12))
	w.WriteHeader(http.StatusCreated)
	f.add(endpoint, WebPushMessage{
		Endpoint: endpoint,
		Payload:  plain,
		TTL:      r.Header.Get("TTL"),
		Urgency:  r.Header.Get("Urgency"),
		Topic:    r.Header.Get("Topic"),
		VAPIDKey: key,
		Subject:  subject,
		Size:     len(body),
	})
}

// checkVAPID checks "Authorization: vapid t=<JWT>, k=<key>" (RFC 8292 §3):
// an ES256 JWT signed by k, aud = this origin, exp in the future and at
// most 24 hours ahead, sub a mailto: or https: URI. It returns k and sub.
func (f *WebPush) checkVAPID(h string) (key, sub string, err error) {
	scheme, params, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "vapid") {
		return "", "", errors.New("no vapid Authorization")
	}
	var t string
	for _, p := range strings.Split(params, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "t":
			t = value
		case "k":
			key = value
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil {
		return "", "", errors.New("k is not base64url")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return "", "", fmt.Errorf("k: %w", err)
	}
	_, claims, err := verifyES256(t, pub)
	if err != nil {
		return "", "", err
	}
	if claims["aud"] != f.URL {
		return "", "", fmt.Errorf("aud %v, want %s", claims["aud"], f.URL)
	}
	exp, err := numericDate(claims, "exp")
	if err != nil {
		return "", "", err
	}
	if now := time.Now(); !exp.After(now) || exp.After(now.Add(24*time.Hour)) {
		return "", "", errors.New("exp not within 24 hours")
	}
	sub, _ = claims["sub"].(string)
	if !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:") {
		return "", "", fmt.Errorf("sub %q is not a mailto: or https: URI", sub)
	}
	return key, sub, nil
}

// Decrypt opens a Web Push message as a user agent does (RFC 8291 over
// RFC 8188's aes128gcm, one record); see webpush.Decrypt.
func Decrypt(body []byte, ua *ecdh.PrivateKey, authSecret []byte) ([]byte, error) {
	return webpush.Decrypt(ua, authSecret, body)
}
