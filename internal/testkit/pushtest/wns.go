package pushtest

import (
	"io"
	"net/http"
	"sync"
	"testing"
)

// WNS is a fake of the Windows Push Notification Services: the access
// token endpoint (OAuth 2.0 client credentials) and channel URIs.
type WNS struct {
	URL          string // server root
	TokenURL     string // for WNSConfig.TokenURL
	PackageSID   string // the client id
	ClientSecret string
	Client       *http.Client // trusts the server's certificate

	srv *server

	knobs
	journal[WNSPush]

	tokMu     sync.Mutex // guards the following fields
	tokens    map[string]bool
	tokenAsks int
	channels  map[string]bool
}

// WNSPush is one notification WNS accepted.
type WNSPush struct {
	Channel string
	Type    string // X-WNS-Type
	Header  http.Header
	Body    []byte
}

// StartWNS starts a fake WNS for the test's lifetime.
func StartWNS(t testing.TB) *WNS {
	t.Helper()
	f := &WNS{
		PackageSID:   "ms-app://s-1-15-2-1000000000-2000000000-3000000000-400000000-500000000-600000000-700000000",
		ClientSecret: "hush-test-" + randomToken(16),
		tokens:       map[string]bool{},
		channels:     map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accesstoken.srf", f.token)
	mux.HandleFunc("POST /w/", f.push)
	f.srv = startTLS(t, mux, false)
	f.URL, f.Client = f.srv.URL, f.srv.Client()
	f.TokenURL = f.URL + "/accesstoken.srf"
	return f
}

// Channel makes a channel URI, as a Windows app gets from
// CreatePushNotificationChannelForApplicationAsync.
func (f *WNS) Channel() string {
	uri := f.URL + "/w/?token=" + randomToken(32)
	f.tokMu.Lock()
	f.channels[uri] = true
	f.tokMu.Unlock()
	return uri
}

// Gone makes WNS answer 410 (channel expired) for channel.
func (f *WNS) Gone(channel string) { f.markGone(channel) }

// ExpireTokens invalidates every access token issued so far: the next
// push with one gets 401.
func (f *WNS) ExpireTokens() {
	f.tokMu.Lock()
	defer f.tokMu.Unlock()
	clear(f.tokens)
}

// TokenRequests counts the access tokens asked for.
func (f *WNS) TokenRequests() int {
	f.tokMu.Lock()
	defer f.tokMu.Unlock()
	return f.tokenAsks
}

// Pushes returns the notifications accepted so far, in order.
func (f *WNS) Pushes() []WNSPush { return f.all("") }

// Count returns how many notifications were accepted for channel.
func (f *WNS) Count(channel string) int { return f.count(channel) }

// Wait returns the notifications for channel (every one when channel is
// empty) once there are at least n.
func (f *WNS) Wait(t testing.TB, channel string, n int) []WNSPush {
	t.Helper()
	return f.wait(t, channel, n)
}

func (f *WNS) token(w http.ResponseWriter, r *http.Request) {
	f.tokMu.Lock()
	f.tokenAsks++
	f.tokMu.Unlock()
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	form := r.PostForm
	switch {
	case form.Get("grant_type") != "client_credentials":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
	case form.Get("client_id") != f.PackageSID || form.Get("client_secret") != f.ClientSecret:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client"})
	case form.Get("scope") != "notify.windows.com":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_scope"})
	default:
		tok := "EgAcAQMAAAA" + randomToken(32)
		f.tokMu.Lock()
		f.tokens[tok] = true
		f.tokMu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": 86400})
	}
}

func (f *WNS) push(w http.ResponseWriter, r *http.Request) {
	channel := f.URL + r.URL.RequestURI()
	mode, gone := f.attempt(channel)
	status := func(code int, wnsStatus string) {
		if wnsStatus != "" {
			w.Header().Set("X-WNS-Status", wnsStatus)
		}
		w.Header().Set("X-WNS-Msg-ID", randomHex(8))
		w.WriteHeader(code)
	}
	switch mode {
	case Hang:
		f.srv.hang(r)
		return
	case Unavailable:
		retryAfter(w)
		status(http.StatusServiceUnavailable, "")
		return
	case Throttle:
		retryAfter(w)
		status(http.StatusNotAcceptable, "") // WNS's throttle answer
		return
	}
	f.tokMu.Lock()
	authorized, known := f.tokens[bearer(r)], f.channels[channel]
	f.tokMu.Unlock()
	if !authorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token",error_description="Token has expired"`)
		status(http.StatusUnauthorized, "")
		return
	}
	if !known {
		status(http.StatusNotFound, "")
		return
	}
	typ := r.Header.Get("X-WNS-Type")
	switch typ {
	case "wns/raw":
		if r.Header.Get("Content-Type") != "application/octet-stream" {
			status(http.StatusBadRequest, "")
			return
		}
	case "wns/toast", "wns/tile", "wns/badge":
	default:
		status(http.StatusBadRequest, "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 5121))
	if err != nil {
		status(http.StatusBadRequest, "")
		return
	}
	if len(body) > 5120 {
		status(http.StatusRequestEntityTooLarge, "")
		return
	}
	if gone {
		status(http.StatusGone, "")
		return
	}
	status(http.StatusOK, "received")
	f.add(channel, WNSPush{Channel: channel, Type: typ, Header: r.Header.Clone(), Body: body})
}
