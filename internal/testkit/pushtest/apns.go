package pushtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// APNs is a fake of Apple's provider API (HTTP/2 over TLS, token-based
// authentication): one server for production, one for the sandbox.
type APNs struct {
	URL        string         // production host, for APNsConfig.Host
	SandboxURL string         // development host, for APNsConfig.SandboxHost
	RootCAs    *x509.CertPool // trusts both hosts
	KeyPEM     []byte         // the .p8 signing key (PKCS #8, PEM)
	KeyID      string
	TeamID     string
	Topic      string // the app's bundle id; AllowTopic adds others

	pub  *ecdsa.PublicKey
	prod *server
	dev  *server

	knobs
	journal[APNsPush]

	topicsMu sync.Mutex // guards topics
	topics   map[string]bool
}

// APNsPush is one push APNs accepted.
type APNsPush struct {
	Token      string // device token (hex)
	Sandbox    bool   // received on the development host
	Topic      string
	PushType   string
	Priority   string
	CollapseID string
	Expiration string // apns-expiration (UNIX seconds)
	Header     http.Header
	Payload    []byte
}

// StartAPNs starts a fake APNs for the test's lifetime with a fresh P-256
// signing key.
func StartAPNs(t testing.TB) *APNs {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := &APNs{
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		KeyID:  "HUSHKEY001",
		TeamID: "HUSHTEAM01",
		Topic:  "org.hushmsg.hush",
		pub:    &key.PublicKey,
		topics: map[string]bool{},
	}
	f.topics[f.Topic] = true
	f.prod = startTLS(t, f.handler(false), true)
	f.dev = startTLS(t, f.handler(true), true)
	f.URL, f.SandboxURL = f.prod.URL, f.dev.URL
	f.RootCAs = f.prod.rootCAs() // httptest serves one certificate
	return f
}

// AllowTopic lets the team's key push to another topic.
func (f *APNs) AllowTopic(topic string) {
	f.topicsMu.Lock()
	defer f.topicsMu.Unlock()
	f.topics[topic] = true
}

// Gone makes APNs answer 410 Unregistered for token.
func (f *APNs) Gone(token string) { f.markGone(token) }

// Pushes returns the pushes accepted so far, in order.
func (f *APNs) Pushes() []APNsPush { return f.all("") }

// Count returns how many pushes were accepted for token.
func (f *APNs) Count(token string) int { return f.count(token) }

// Wait returns the pushes for token (every push when token is empty) once
// there are at least n.
func (f *APNs) Wait(t testing.TB, token string, n int) []APNsPush {
	t.Helper()
	return f.wait(t, token, n)
}

func (f *APNs) handler(sandbox bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, reason string) {
			body := map[string]any{"reason": reason}
			if status == http.StatusGone {
				body["timestamp"] = time.Now().UnixMilli()
			}
			writeJSON(w, status, body)
		}
		if r.ProtoMajor != 2 {
			fail(http.StatusBadRequest, "BadPath") // APNs speaks only HTTP/2
			return
		}
		token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
		if !ok {
			fail(http.StatusNotFound, "BadPath")
			return
		}
		if r.Method != http.MethodPost {
			fail(http.StatusMethodNotAllowed, "MethodNotAllowed")
			return
		}
		srv := f.prod
		if sandbox {
			srv = f.dev
		}
		mode, gone := f.attempt(token)
		switch mode {
		case Hang:
			srv.hang(r)
			return
		case Unavailable:
			retryAfter(w)
			fail(http.StatusServiceUnavailable, "ServiceUnavailable")
			return
		case Throttle:
			retryAfter(w)
			fail(http.StatusTooManyRequests, "TooManyRequests")
			return
		}
		if reason := f.checkJWT(r); reason != "" {
			fail(http.StatusForbidden, reason)
			return
		}
		if b, err := hex.DecodeString(token); err != nil || len(b) != 32 {
			fail(http.StatusBadRequest, "BadDeviceToken")
			return
		}
		topic := r.Header.Get("apns-topic")
		f.topicsMu.Lock()
		allowed := f.topics[topic]
		f.topicsMu.Unlock()
		if topic == "" {
			fail(http.StatusBadRequest, "MissingTopic")
			return
		}
		if !allowed {
			fail(http.StatusBadRequest, "TopicDisallowed")
			return
		}
		payload, err := io.ReadAll(io.LimitReader(r.Body, 4097))
		if err != nil {
			fail(http.StatusBadRequest, "BadPayload")
			return
		}
		if len(payload) > 4096 {
			fail(http.StatusRequestEntityTooLarge, "PayloadTooLarge")
			return
		}
		if reason := checkAPNsHeaders(r.Header, payload); reason != "" {
			fail(http.StatusBadRequest, reason)
			return
		}
		if gone {
			fail(http.StatusGone, "Unregistered")
			return
		}
		w.Header().Set("apns-id", randomHex(16))
		w.WriteHeader(http.StatusOK)
		f.add(token, APNsPush{
			Token:      token,
			Sandbox:    sandbox,
			Topic:      topic,
			PushType:   r.Header.Get("apns-push-type"),
			Priority:   r.Header.Get("apns-priority"),
			CollapseID: r.Header.Get("apns-collapse-id"),
			Expiration: r.Header.Get("apns-expiration"),
			Header:     r.Header.Clone(),
			Payload:    payload,
		})
	}
}

// checkJWT checks the provider token: an ES256 JWT signed by the team's
// key, kid = KeyID, iss = TeamID, iat within the last hour.
func (f *APNs) checkJWT(r *http.Request) string {
	tok := bearer(r)
	if tok == "" {
		return "MissingProviderToken"
	}
	header, claims, err := verifyES256(tok, f.pub)
	if err != nil || header["kid"] != f.KeyID || claims["iss"] != f.TeamID {
		return "InvalidProviderToken"
	}
	iat, err := numericDate(claims, "iat")
	if err != nil {
		return "InvalidProviderToken"
	}
	if now := time.Now(); iat.Before(now.Add(-time.Hour)) || iat.After(now.Add(time.Minute)) {
		return "ExpiredProviderToken"
	}
	return ""
}

// checkAPNsHeaders applies Apple's rules for the headers and payload: a
// known push type; a background push has priority 5 and
// content-available, and no alert, sound or badge.
func checkAPNsHeaders(h http.Header, payload []byte) string {
	var p struct {
		APS map[string]json.RawMessage `json:"aps"`
	}
	if len(payload) == 0 {
		return "PayloadEmpty"
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.APS == nil {
		return "BadPayload" // not in Apple's list; a fake's own word
	}
	switch pri := h.Get("apns-priority"); pri {
	case "", "1", "5", "10":
	default:
		return "BadPriority"
	}
	if id := h.Get("apns-collapse-id"); len(id) > 64 {
		return "BadCollapseId"
	}
	switch h.Get("apns-push-type") {
	case "alert", "voip", "complication", "fileprovider", "mdm", "location", "liveactivity", "pushtotalk":
	case "background":
		if h.Get("apns-priority") != "5" {
			return "BadPriority"
		}
		if string(p.APS["content-available"]) != "1" {
			return "BadPayload"
		}
		for _, k := range []string{"alert", "sound", "badge"} {
			if _, ok := p.APS[k]; ok {
				return fmt.Sprintf("BadPayload (%s in a background push)", k)
			}
		}
	default:
		return "InvalidPushType"
	}
	return ""
}
