package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	webpushgo "github.com/SherClockHolmes/webpush-go"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

func TestPushRegisterFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want api.PushRegistration
		say  string // a usage error saying this
	}{
		{args: []string{"--unifiedpush", "https://up.example/push/abc"}, want: api.PushRegistration{Kind: "webpush", Endpoint: "https://up.example/push/abc"}},
		{args: []string{"--apns", "0a1b2c3d4e5f6a7b", "--topic", "org.example.hush", "--sandbox"}, want: api.PushRegistration{Kind: "apns", Token: "0a1b2c3d4e5f6a7b", Topic: "org.example.hush", Sandbox: true}},
		{args: []string{"--fcm", "tok:en"}, want: api.PushRegistration{Kind: "fcm", Token: "tok:en"}},
		{args: []string{"--wns", "https://wns.example/?token=x"}, want: api.PushRegistration{Kind: "wns", ChannelURI: "https://wns.example/?token=x"}},
		{args: nil, say: "give one of"},
		{args: []string{"--fcm", "a", "--apns", "b"}, say: "only one of"},
		{args: []string{"--fcm", "a", "--topic", "t"}, say: "with --apns only"},
		{args: []string{"--unifiedpush", "https://u/p", "--sandbox"}, say: "with --apns only"},
		{args: []string{"--unifiedpush", "up.example/push"}, say: "not an absolute http(s) URL"},
		{args: []string{"--unifiedpush", "ftp://up.example/push"}, say: "not an absolute http(s) URL"},
		{args: []string{"--unifiedpush", "https://me:pw@up.example/push"}, say: "without user info"},
		{args: []string{"--wns", "/relative"}, say: "--wns"},
		{args: []string{"--fcm", "a", "extra"}, say: "too many arguments"},
		{args: []string{"--gcm", "a"}, say: "not defined"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			a := &app{env: &env{}, g: globals{home: "unused"}}
			reg, err := a.parseRegister(tc.args)
			if tc.say != "" {
				var ce *codedError
				assert(t, errors.As(err, &ce) && ce.code == exitUsage && strings.Contains(err.Error(), tc.say), "got %v, want a usage error saying %q", err, tc.say)
				return
			}
			noErr(t, err)
			assert(t, reg.Kind == tc.want.Kind && reg.Token == tc.want.Token && reg.Topic == tc.want.Topic && reg.Sandbox == tc.want.Sandbox &&
				reg.Endpoint == tc.want.Endpoint && reg.ChannelURI == tc.want.ChannelURI, "got %+v, want %+v", reg, tc.want)
		})
	}
}

// TestPushUsageWithoutServer checks the usage errors of push, which no
// server is asked about.
func TestPushUsageWithoutServer(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"push"}, exitUsage, "missing subcommand"},
		{[]string{"push", "frob"}, exitUsage, "unknown subcommand"},
		{[]string{"push", "register", "--apns", "x", "--fcm", "y"}, exitUsage, "only one of"},
		{[]string{"push", "status", "x"}, exitUsage, "too many arguments"},
		{[]string{"push", "listen", "--timeout", "-1s"}, exitUsage, "must not be negative"},
		{[]string{"push", "status"}, exitError, "no account"},
		{[]string{"push", "listen"}, exitError, "no account"},
	} {
		r := hush(t, nil, append([]string{"--server", "http://127.0.0.1:1", "--home", filepath.Join(home, "h")}, tc.args...)...)
		assert(t, r.code == tc.code && strings.Contains(r.stderr, tc.say), "%q: exit %d, stderr %q; want %d saying %q", tc.args, r.code, r.stderr, tc.code, tc.say)
	}
}

func TestUrgency(t *testing.T) {
	t.Parallel()
	for kind, urgent := range map[string]bool{kindText: true, kindLocation: true, kindImage: true, kindSenderKey: true, kindReceipt: false, kindTyping: false} {
		u := urgency(&content{Kind: kind})
		assert(t, api.IsUrgent(u) == urgent, "%s: urgent %v, want %v", kind, api.IsUrgent(u), urgent)
		assert(t, urgent == (u == nil), "%s: urgent sends must leave the flag out (older servers)", kind)
	}
}

func TestEndpointShownWithoutPath(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://up.example/push/s3cret?x=s3cret#s3cret": "https://up.example/…",
		"http://127.0.0.1:8/push/s3cret":                 "http://127.0.0.1:8/…",
		"https://me:s3cret@up.example/":                  "https://up.example/…",
		"s3cret":                                         "…",
	} {
		assert(t, endpointOrigin(raw) == want, "endpointOrigin(%q) = %q, want %q", raw, endpointOrigin(raw), want)
	}
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 9}
	for _, tc := range []struct {
		addr       net.Addr
		base, want string
	}{
		{loop, "", "http://127.0.0.1:9"},
		{any4, "https://push.example.org", "https://push.example.org"},
		{any4, "https://push.example.org/", "https://push.example.org"},
		{any4, "", ""},
		{loop, "https://push.example.org/sub", ""},
		{loop, "push.example.org", ""},
	} {
		got, err := listenerBase(tc.addr, tc.base)
		assert(t, got == tc.want && (err == nil) == (tc.want != ""), "listenerBase(%v, %q) = %q, %v; want %q", tc.addr, tc.base, got, err, tc.want)
	}
}

// encryptFor returns what webpush-go, the library hushd sends with, posts
// for plain to a subscription with keys.
func encryptFor(t *testing.T, keys *pushKeys, plain string) []byte {
	t.Helper()
	bodies := make(chan []byte, 1)
	capture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		w.WriteHeader(http.StatusCreated)
	}))
	defer capture.Close()
	vapidPriv, vapidPub, err := webpushgo.GenerateVAPIDKeys()
	noErr(t, err)
	resp, err := webpushgo.SendNotificationWithContext(context.Background(), []byte(plain), &webpushgo.Subscription{
		Endpoint: capture.URL + "/push/x",
		Keys: webpushgo.Keys{
			P256dh: base64.RawURLEncoding.EncodeToString(keys.priv.PublicKey().Bytes()),
			Auth:   base64.RawURLEncoding.EncodeToString(keys.auth),
		},
	}, &webpushgo.Options{HTTPClient: capture.Client(), Subscriber: "ops@example.org", TTL: 60, VAPIDPublicKey: vapidPub, VAPIDPrivateKey: vapidPriv})
	noErr(t, err)
	resp.Body.Close()
	return <-bodies
}

// TestDistributorRefusesBadPushes posts to a distributor what a push
// service could be sent: only hushd's wake-up, encrypted for its keys at
// its secret path, is taken (201) and wakes; the rest is refused and
// changes nothing.
func TestDistributorRefusesBadPushes(t *testing.T) {
	t.Parallel()
	keys, err := newPushKeys()
	noErr(t, err)
	other, err := newPushKeys()
	noErr(t, err)
	var warn syncBuffer
	d := newDistributor("s3cret", keys, &warn)
	srv := httptest.NewServer(d)
	defer srv.Close()

	wake := encryptFor(t, keys, `{"hush":"wake"}`)
	post := func(path, encoding string, body []byte) *http.Response {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		noErr(t, err)
		req.Header.Set("TTL", "60")
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
		resp, err := srv.Client().Do(req)
		noErr(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	tampered := bytes.Clone(wake)
	tampered[len(tampered)-1] ^= 1
	refused := []struct {
		name, path, encoding string
		body                 []byte
		status               int
	}{
		{"another path", "/push/s3creT", "aes128gcm", wake, http.StatusNotFound},
		{"a prefix of the path", "/push/s3cre", "aes128gcm", wake, http.StatusNotFound},
		{"below the path", "/push/s3cret/x", "aes128gcm", wake, http.StatusNotFound},
		{"garbage", "/push/s3cret", "aes128gcm", []byte("not encrypted at all"), http.StatusBadRequest},
		{"tampered", "/push/s3cret", "aes128gcm", tampered, http.StatusBadRequest},
		{"for other keys", "/push/s3cret", "aes128gcm", encryptFor(t, other, `{"hush":"wake"}`), http.StatusBadRequest},
		{"not a wake-up", "/push/s3cret", "aes128gcm", encryptFor(t, keys, `{"hush":"sleep"}`), http.StatusBadRequest},
		{"more than a wake-up", "/push/s3cret", "aes128gcm", encryptFor(t, keys, `{"hush":"wake","from":"x"}`), http.StatusBadRequest},
		{"not JSON", "/push/s3cret", "aes128gcm", encryptFor(t, keys, `wake`), http.StatusBadRequest},
		{"old encoding", "/push/s3cret", "aesgcm", wake, http.StatusBadRequest},
		{"no encoding", "/push/s3cret", "", wake, http.StatusBadRequest},
		{"too large", "/push/s3cret", "aes128gcm", make([]byte, maxPushMessage+1), http.StatusRequestEntityTooLarge},
	}
	for _, tc := range refused {
		resp := post(tc.path, tc.encoding, tc.body)
		assert(t, resp.StatusCode == tc.status, "%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		assert(t, len(d.wakes) == 0, "%s woke the listener", tc.name)
	}
	resp, err := srv.Client().Get(srv.URL + "/push/s3cret")
	noErr(t, err)
	resp.Body.Close()
	assert(t, resp.StatusCode == http.StatusMethodNotAllowed && len(d.wakes) == 0, "GET: status %d", resp.StatusCode)

	// The wake-up is taken (RFC 8030 §5: 201 and a Location), the same
	// message twice too (a push service may retry): one pending wake.
	for range 2 {
		resp := post("/push/s3cret", "aes128gcm", wake)
		assert(t, resp.StatusCode == http.StatusCreated && strings.HasPrefix(resp.Header.Get("Location"), "/message/"),
			"wake-up: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	assert(t, len(d.wakes) == 1, "%d wakes pending, want 1", len(d.wakes))
	assert(t, strings.Count(warn.String(), "hush: refused a push message") == 9, "refusals reported:\n%s", warn.String())
	assert(t, !strings.Contains(warn.String(), "s3cret"), "a refusal shows the secret path:\n%s", warn.String())
}

func TestPushErrorWording(t *testing.T) {
	t.Parallel()
	refused := func(status int, code, msg string) error {
		return fmt.Errorf("wrapped: %w", &client.APIError{Status: status, Body: api.Error{Code: code, Message: msg}})
	}
	for _, tc := range []struct {
		kind string
		err  error
		say  string
	}{
		{"apns", refused(400, api.CodePushUnavailable, "this server does not send apns pushes"), "this server does not send APNs wake-ups"},
		{"webpush", refused(400, api.CodeInvalidKey, "auth must be 16 bytes"), "refused the subscription keys"},
		{"webpush", refused(400, api.CodeEndpointRefused, "webpush endpoint is not https: push endpoint refused"), "unless hushd runs with --webpush-allow-private"},
		{"webpush", refused(400, api.CodeBadRequest, "webpush endpoint is not https: push endpoint refused"), "unless hushd runs with --webpush-allow-private"}, // older servers
		{"fcm", refused(400, api.CodeBadRequest, "an FCM token is 1 to 4096 printable ASCII characters"), "refused the FCM registration"},
		{"wns", errors.New("dial tcp: connection refused"), "register for WNS wake-ups"},
	} {
		err := pushError(tc.kind, tc.err)
		assert(t, strings.Contains(err.Error(), tc.say), "%s: %q does not say %q", tc.kind, err, tc.say)
		assert(t, errors.Is(err, tc.err), "%s: cause lost", tc.kind)
	}
	// Unauthorized still reads as such once worded.
	err := pushError("fcm", refused(401, api.CodeUnauthorized, "bad credentials"))
	assert(t, strings.Contains(describe(err), "credential is not valid"), "describe: %q", describe(err))
}

// TestPushRefusedByServer runs push commands against a server with
// default settings: no APNs, and Web Push to public https endpoints only.
func TestPushRefusedByServer(t *testing.T) {
	c := newCLI(t)
	c.register("alice", 1)
	r := c.try("alice", nil, "push", "register", "--apns", "0a1b2c3d4e5f6a7b8c9d")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "this server does not send APNs wake-ups") && strings.Contains(r.stderr, "push_unavailable"), "apns: %+v", r)
	r = c.try("alice", nil, "push", "register", "--unifiedpush", "http://127.0.0.1:1/push/s3cret")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "--webpush-allow-private") && !strings.Contains(r.stderr, "s3cret"), "private endpoint: %+v", r)
	r = c.try("alice", nil, "push", "listen")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "--webpush-allow-private"), "listen: %+v", r)
	assert(t, strings.Contains(c.run("alice", "push", "status").stdout, "no push registration"), "a refused registration was kept")
	st, err := store.Open(context.Background(), filepath.Join(c.homes, "alice"))
	noErr(t, err)
	_, err = st.Push(context.Background())
	noErr(t, st.Close())
	assert(t, errors.Is(err, store.ErrNoPush), "the store kept a refused registration: %v", err)

	key := strings.TrimSpace(c.run("alice", "push", "vapid").stdout)
	raw, err := base64.RawURLEncoding.DecodeString(key)
	assert(t, err == nil && len(raw) == 65 && raw[0] == 4, "vapid key %q", key)
	c.run("alice", "push", "register", "--unifiedpush", "https://up.example.org/push/s3cret")
	assert(t, strings.Contains(c.run("alice", "push", "status", "--json").stdout, `"registered":true,"kind":"webpush"`), "status after registering")
	c.run("alice", "push", "unregister")
	c.run("alice", "push", "unregister")
	assert(t, c.run("alice", "push", "status", "--json").stdout == "{\"registered\":false}\n", "status after unregistering")
}

func TestPushKeysHidden(t *testing.T) {
	t.Parallel()
	k, err := newPushKeys()
	noErr(t, err)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("keys", "k", k)
	shown := fmt.Sprintf("%v %+v %#v %s", k, k, k, k) + logged.String()
	assert(t, !strings.Contains(shown, fmt.Sprint(k.auth)) && !strings.Contains(shown, fmt.Sprintf("%x", k.auth)) && strings.Contains(shown, "REDACTED"), "keys show: %s", shown)
}
