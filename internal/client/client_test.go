package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func assert(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

var creds = client.Credentials{AccountID: "0b6f3c1e-2f8e-4a55-9a1e-0c1d2e3f4a5b", DeviceID: 2, Password: "s3cret-password"}

// request is what the fake server saw.
type request struct {
	method, path, user, password string
	hasAuth                      bool
	body                         string
}

// fake is a stand-in HTTP server answering each "METHOD /path" with a
// fixed status and body, recording every request.
type fake struct {
	mu   sync.Mutex
	seen []request
}

func (f *fake) start(t *testing.T, answers map[string]func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, p, ok := r.BasicAuth()
		f.mu.Lock()
		f.seen = append(f.seen, request{r.Method, r.URL.EscapedPath(), u, p, ok, string(b)})
		f.mu.Unlock()
		h, found := answers[r.Method+" "+r.URL.EscapedPath()]
		if !found {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"not_found","message":"no such route"}`)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (f *fake) last(t *testing.T) request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	assert(t, len(f.seen) > 0, "no request reached the server")
	return f.seen[len(f.seen)-1]
}

func reply(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func newClient(t *testing.T, url string, withCreds bool) *client.Client {
	t.Helper()
	cfg := client.Config{BaseURL: url}
	if withCreds {
		cfg.Credentials = &creds
	}
	c, err := client.New(cfg)
	noErr(t, err)
	return c
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := &fake{}
	acct := creds.AccountID
	srv := f.start(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /v1/registration/code":         reply(202, `{"expires_in":600}`),
		"POST /v1/registration/verify":       reply(200, `{"account_id":"`+acct+`","device_id":1,"password":"pw"}`),
		"POST /v1/devices/provisioning_code": reply(200, `{"code":"c1","expires_in":600}`),
		"PUT /v1/provisioning/addr-1":        reply(204, ``),
		"POST /v1/devices/link":              reply(200, `{"account_id":"`+acct+`","device_id":3,"password":"pw3"}`),
		"GET /v1/devices":                    reply(200, `{"devices":[{"device_id":1,"created":5,"last_seen":6}]}`),
		"DELETE /v1/devices/3":               reply(204, ``),
		"PUT /v1/keys":                       reply(204, ``),
		"GET /v1/keys/count":                 reply(200, `{"prekeys":7,"pq_prekeys":8}`),
		"GET /v1/keys/" + acct + "/*":        reply(200, `{"account_id":"`+acct+`","identity_key":"BQ==","devices":[{"device_id":1}]}`),
		"GET /v1/keys/" + acct + "/2":        reply(200, `{"account_id":"`+acct+`","devices":[{"device_id":2}]}`),
		"GET /v1/directory/+15550000001":     reply(200, `{"account_id":"`+acct+`"}`),
		"POST /v1/messages":                  reply(200, `{"id":"e1","server_timestamp":99}`),
		"GET /readyz":                        reply(200, `ok`),
	})
	anon := newClient(t, srv.URL, false)
	dev := newClient(t, srv.URL, true)

	type check struct {
		name, route string
		auth        bool
		call        func() error
	}
	set := func(_ any, err error) error { return err }
	checks := []check{
		{"RequestCode", "POST /v1/registration/code", false, func() error { return set(anon.RequestCode(ctx, "+15550000001")) }},
		{"Verify", "POST /v1/registration/verify", false, func() error { return set(anon.Verify(ctx, &api.Verify{Number: "+1"})) }},
		{"Link", "POST /v1/devices/link", false, func() error { return set(anon.Link(ctx, &api.Link{AccountID: acct})) }},
		{"Readyz", "GET /readyz", false, func() error { return anon.Readyz(ctx) }},
		{"ProvisioningCode", "POST /v1/devices/provisioning_code", true, func() error { return set(dev.ProvisioningCode(ctx)) }},
		{"Provision", "PUT /v1/provisioning/addr-1", true, func() error { return dev.Provision(ctx, "addr-1", []byte{1, 2}) }},
		{"Devices", "GET /v1/devices", true, func() error { return set(dev.Devices(ctx)) }},
		{"RemoveDevice", "DELETE /v1/devices/3", true, func() error { return dev.RemoveDevice(ctx, 3) }},
		{"SetKeys", "PUT /v1/keys", true, func() error { return dev.SetKeys(ctx, &api.SetKeys{}) }},
		{"KeyCount", "GET /v1/keys/count", true, func() error { return set(dev.KeyCount(ctx)) }},
		{"Bundle all", "GET /v1/keys/" + acct + "/*", true, func() error { return set(dev.Bundle(ctx, acct, client.AllDevices)) }},
		{"Bundle one", "GET /v1/keys/" + acct + "/2", true, func() error { return set(dev.Bundle(ctx, acct, 2)) }},
		{"Lookup", "GET /v1/directory/+15550000001", true, func() error { return set(dev.Lookup(ctx, "+15550000001")) }},
		{"Send", "POST /v1/messages", true, func() error { return set(dev.Send(ctx, &api.Send{Destination: acct})) }},
	}
	for _, c := range checks {
		noErr(t, c.call())
		r := f.last(t)
		assert(t, r.method+" "+r.path == c.route, "%s: request %s %s, want %s", c.name, r.method, r.path, c.route)
		assert(t, r.hasAuth == c.auth, "%s: Basic auth sent = %v, want %v", c.name, r.hasAuth, c.auth)
		if c.auth {
			assert(t, r.user == creds.AccountID+".2" && r.password == creds.Password, "%s: user %q", c.name, r.user)
		}
	}
	// Spot-check decoding of typed results and request bodies.
	kc, err := dev.KeyCount(ctx)
	noErr(t, err)
	assert(t, kc.PreKeys == 7 && kc.PQPreKeys == 8, "KeyCount = %+v", kc)
	noErr(t, dev.Provision(ctx, "addr-1", []byte{1, 2}))
	assert(t, f.last(t).body == `{"body":"AQI="}`, "provision body %s", f.last(t).body)

	_, err = anon.KeyCount(ctx)
	assert(t, errors.Is(err, client.ErrNoCredentials), "device route without credentials: %v", err)
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := &fake{}
	srv := f.start(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /v1/messages": reply(409, `{"error":"mismatched_devices","message":"wrong devices",
			"mismatched":[{"account_id":"a","missing_devices":[2],"extra_devices":[3]}]}`),
		"GET /v1/devices":    reply(502, "<html>bad\x1b[31m gateway</html>"),
		"GET /v1/keys/count": reply(429, `{"error":"rate_limited","message":"slow down","retry_after":7}`),
	})
	dev := newClient(t, srv.URL, true)

	_, err := dev.Send(ctx, &api.Send{Destination: "a"})
	var ae *client.APIError
	assert(t, errors.As(err, &ae), "Send error %T %v, want *APIError", err, err)
	assert(t, ae.Status == 409 && ae.Body.Code == api.CodeMismatchedDevices, "APIError %+v", ae)
	assert(t, len(ae.Body.Mismatched) == 1 && ae.Body.Mismatched[0].Missing[0] == 2 && ae.Body.Mismatched[0].Extra[0] == 3, "mismatched %+v", ae.Body.Mismatched)
	assert(t, client.IsCode(err, api.CodeMismatchedDevices), "IsCode")

	_, err = dev.Devices(ctx)
	assert(t, errors.As(err, &ae) && ae.Status == 502 && ae.Body.Code == "", "non-JSON error: %v", err)
	assert(t, !strings.ContainsAny(err.Error(), "\x1b\n"), "control characters in %q", err)

	_, err = dev.KeyCount(ctx)
	assert(t, errors.As(err, &ae) && ae.Body.RetryAfter == 7, "retry_after: %v", err)
	for _, e := range []error{err, ae} {
		assert(t, !strings.Contains(e.Error(), creds.Password), "error shows the password: %v", e)
	}
	assert(t, !strings.Contains(creds.String(), creds.Password), "Credentials.String shows the password")
}

func TestNewRejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x", "http://", "http://u:p@host", "http://host/?q=1"} {
		_, err := client.New(client.Config{BaseURL: u})
		assert(t, err != nil, "New(%q) accepted", u)
		assert(t, !strings.Contains(err.Error(), ":p@"), "error shows user info: %v", err)
	}
}

// wsServer runs fn for every socket accepted at path and returns the
// server's base URL with a path prefix, to check that it is kept.
func wsServer(t *testing.T, path string, fn func(ctx context.Context, c *websocket.Conn, r *http.Request)) string {
	t.Helper()
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/prefix"+path {
			http.Error(w, `{"error":"not_found","message":"wrong path `+r.URL.Path+`"}`, http.StatusNotFound)
			return
		}
		if u, p, ok := r.BasicAuth(); path == "/v1/websocket" && (!ok || u != creds.User() || p != creds.Password) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"unauthorized","message":"wrong credential"}`)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer c.CloseNow()
		fn(r.Context(), c, r)
	}))
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return srv.URL + "/prefix/"
}

func writeFrame(ctx context.Context, t *testing.T, c *websocket.Conn, f *wire.Frame) {
	b, err := wire.Encode(f)
	if err != nil {
		t.Errorf("encode: %v", err)
		return
	}
	_ = c.Write(ctx, websocket.MessageText, b)
}

func readFrame(ctx context.Context, c *websocket.Conn) (*wire.Frame, error) {
	_, b, err := c.Read(ctx)
	if err != nil {
		return nil, err
	}
	return wire.Decode(b)
}

// TestMessageSocket drives a socket against a scripted server: envelopes
// arrive before, between and after send results; each send gets its own
// result by request id; acks reach the server; the server's close code is
// reported.
func TestMessageSocket(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	acks := make(chan string, 10)
	base := wsServer(t, "/v1/websocket", func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		writeFrame(ctx, t, c, &wire.Frame{Type: wire.TypeEnvelope, Envelope: &wire.Envelope{ID: "e1", Type: 3, Content: []byte{1}}})
		writeFrame(ctx, t, c, &wire.Frame{Type: "future_frame"})
		writeFrame(ctx, t, c, &wire.Frame{Type: wire.TypeQueueEmpty})
		var sends []*wire.Frame
		for len(sends) < 2 {
			f, err := readFrame(ctx, c)
			if err != nil {
				t.Errorf("server read: %v", err)
				return
			}
			switch f.Type {
			case wire.TypeAck:
				acks <- f.ID
			case wire.TypeSend:
				sends = append(sends, f)
			}
		}
		// Answer in reverse order, with an envelope in between: "b" is
		// refused, "a" accepted.
		answer := func(f *wire.Frame) {
			if f.Send.Destination == "b" {
				writeFrame(ctx, t, c, &wire.Frame{Type: wire.TypeSendResult, RequestID: f.RequestID, Status: 410,
					Error: &api.Error{Code: api.CodeStaleDevices, Stale: []api.StaleDevices{{AccountID: "b", Stale: []uint32{4}}}}})
				return
			}
			writeFrame(ctx, t, c, &wire.Frame{Type: wire.TypeSendResult, RequestID: f.RequestID, Status: 200,
				Result: &api.SendResult{ID: "sent-" + f.Send.Destination, ServerTimestamp: 5}})
		}
		answer(sends[1])
		writeFrame(ctx, t, c, &wire.Frame{Type: wire.TypeEnvelope, Envelope: &wire.Envelope{ID: "e2", Type: 2, Content: []byte{2}}})
		answer(sends[0])
		if f, err := readFrame(ctx, c); err == nil && f.Type == wire.TypeAck {
			acks <- f.ID
		}
		c.Close(wire.CloseDeviceRemoved, "device removed")
	})
	s, err := newClient(t, base, true).DialMessages(ctx)
	noErr(t, err)
	defer s.Close()

	f, err := s.Next(ctx)
	noErr(t, err)
	assert(t, f.Type == wire.TypeEnvelope && f.Envelope.ID == "e1", "first frame %+v", f)
	f, err = s.Next(ctx)
	noErr(t, err)
	assert(t, f.Type == wire.TypeQueueEmpty, "unknown frame not skipped: %+v", f)
	noErr(t, s.Ack(ctx, "e1"))
	assert(t, <-acks == "e1", "ack did not reach the server")

	type result struct {
		res *api.SendResult
		err error
	}
	results := make([]chan result, 2)
	for i, dest := range []string{"a", "b"} {
		results[i] = make(chan result, 1)
		go func() {
			r, err := s.Send(ctx, &api.Send{Destination: dest})
			results[i] <- result{r, err}
		}()
	}
	r0, r1 := <-results[0], <-results[1]
	noErr(t, r0.err)
	assert(t, r0.res.ID == "sent-a", "send a got %+v", r0.res)
	var ae *client.APIError
	assert(t, errors.As(r1.err, &ae) && ae.Status == 410 && ae.Body.Stale[0].Stale[0] == 4, "send b: %v", r1.err)

	f, err = s.Next(ctx)
	noErr(t, err)
	assert(t, f.Type == wire.TypeEnvelope && f.Envelope.ID == "e2", "envelope between results: %+v", f)
	noErr(t, s.Ack(ctx, "e2"))
	assert(t, <-acks == "e2", "second ack did not reach the server")

	_, err = s.Next(ctx)
	assert(t, client.CloseStatus(err) == wire.CloseDeviceRemoved, "end of socket: %v (code %d)", err, client.CloseStatus(err))
	_, err = s.Send(ctx, &api.Send{Destination: "a"})
	assert(t, client.CloseStatus(err) == wire.CloseDeviceRemoved, "send after the end: %v", err)
	<-s.Done()
}

func TestNextHonoursContextAndKeepsTheSocket(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	release := make(chan struct{})
	base := wsServer(t, "/v1/websocket", func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		<-release
		writeFrame(ctx, t, c, &wire.Frame{Type: wire.TypeQueueEmpty})
		_, _ = readFrame(ctx, c) // until the client closes
	})
	s, err := newClient(t, base, true).DialMessages(ctx)
	noErr(t, err)
	short, stop := context.WithCancel(ctx)
	stop()
	_, err = s.Next(short)
	assert(t, errors.Is(err, context.Canceled), "Next with a cancelled context: %v", err)
	close(release)
	f, err := s.Next(ctx)
	noErr(t, err)
	assert(t, f.Type == wire.TypeQueueEmpty, "frame after a cancelled Next: %+v", f)
	noErr(t, s.Close())
	_, err = s.Next(ctx)
	assert(t, err != nil, "Next after Close returned no error")
}

func TestDialRefused(t *testing.T) {
	t.Parallel()
	base := wsServer(t, "/v1/websocket", func(context.Context, *websocket.Conn, *http.Request) {})
	bad := creds
	bad.Password = "wrong-password"
	c, err := client.New(client.Config{BaseURL: base, Credentials: &bad})
	noErr(t, err)
	_, err = c.DialMessages(context.Background())
	var ae *client.APIError
	assert(t, errors.As(err, &ae) && ae.Status == 401 && ae.Body.Code == api.CodeUnauthorized, "dial with a wrong password: %v", err)
	assert(t, !strings.Contains(err.Error(), "wrong-password"), "error shows the password: %v", err)
	_, err = newClient(t, base, false).DialMessages(context.Background())
	assert(t, errors.Is(err, client.ErrNoCredentials), "dial without credentials: %v", err)
}

func TestProvisioningSocket(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := wsServer(t, "/v1/provisioning", func(ctx context.Context, c *websocket.Conn, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok {
			t.Errorf("provisioning socket sent credentials")
		}
		writeFrame(ctx, t, c, &wire.Frame{Type: wire.TypeProvisioningAddress, Address: "addr-9"})
		writeFrame(ctx, t, c, &wire.Frame{Type: wire.TypeProvisioningMessage, Body: []byte("sealed")})
		c.Close(websocket.StatusNormalClosure, "provisioned")
	})
	p, err := newClient(t, base, true).DialProvisioning(ctx)
	noErr(t, err)
	defer p.Close()
	assert(t, p.Address == "addr-9", "address %q", p.Address)
	body, err := p.Wait(ctx)
	noErr(t, err)
	assert(t, string(body) == "sealed", "body %q", body)
}

func TestProvisioningSocketClosedEarly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := wsServer(t, "/v1/provisioning", func(ctx context.Context, c *websocket.Conn, _ *http.Request) {
		writeFrame(ctx, t, c, &wire.Frame{Type: wire.TypeProvisioningAddress, Address: "addr-9"})
		c.Close(websocket.StatusNormalClosure, "provisioning address expired")
	})
	p, err := newClient(t, base, false).DialProvisioning(ctx)
	noErr(t, err)
	defer p.Close()
	_, err = p.Wait(ctx)
	assert(t, errors.Is(err, client.ErrProvisioningClosed), "Wait on a closed socket: %v", err)
}

func TestSchemes(t *testing.T) {
	t.Parallel()
	c := newClient(t, "https://hush.example/base/", false)
	assert(t, c.BaseURL() == "https://hush.example/base", "BaseURL %q", c.BaseURL())
	// The ws scheme of an http base is exercised by every socket test
	// above; wss needs TLS, covered by TestTLSSocket.
}

func TestTLSSocket(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		writeFrame(r.Context(), t, c, &wire.Frame{Type: wire.TypeProvisioningAddress, Address: "tls"})
		_, _ = readFrame(r.Context(), c)
	}))
	defer srv.Close()
	c, err := client.New(client.Config{BaseURL: srv.URL, HTTPClient: srv.Client()})
	noErr(t, err)
	p, err := c.DialProvisioning(ctx)
	noErr(t, err)
	assert(t, p.Address == "tls", "address over wss: %q", p.Address)
	noErr(t, p.Close())
}
