package main

import (
	"context"
	"crypto/ecdh"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
	"github.com/hushmsg/hush/internal/webpush"
)

// runCtx runs the CLI in-process until it ends or ctx does.
func runCtx(ctx context.Context, out, errOut io.Writer, args ...string) int {
	e := &env{stdin: strings.NewReader(""), stdout: out, stderr: errOut, getenv: func(string) string { return "" }}
	return report(errOut, run(ctx, args, e))
}

// pushRecorder stands for a push service: it records what it is posted
// and, with next set, passes it on.
type pushRecorder struct {
	next http.Handler

	mu     sync.Mutex // guards the following fields
	bodies [][]byte
	status []int
}

func (p *pushRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if p.next == nil {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.bodies, p.status = append(p.bodies, b), append(p.status, http.StatusCreated)
		p.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		return
	}
	rec := &statusWriter{ResponseWriter: w}
	p.next.ServeHTTP(rec, r)
	p.mu.Lock()
	p.bodies, p.status = append(p.bodies, nil), append(p.status, rec.code)
	p.mu.Unlock()
}

func (p *pushRecorder) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.status)
}

func (p *pushRecorder) statuses() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.status...)
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// waitOffline waits until the server no longer counts number as online,
// as viewer sees it (number shows its last seen): its socket is gone on
// the server too, so the next message is stored for an absent device.
func (c *cli) waitOffline(viewer, number string) {
	c.t.Helper()
	testkit.WaitFor(c.t, number+" offline", func() bool {
		p := jsonOut[api.Presence](c.t, c.run(viewer, "last-seen", number, "--json"))
		return !p.Online && p.LastSeen > 0
	})
}

// TestPushListenWakesAndDrains runs bob's "push listen" against a real
// server with Web Push to private http endpoints allowed: each message
// alice sends while bob is away wakes bob's listener exactly once, which
// drains and prints it; the connection re-arms the next wake-up. Bob's
// delivery receipts are not urgent: they never wake alice, registered
// with "push register --unifiedpush", whom bob's own message does wake,
// with a wake-up her kept keys open.
func TestPushListenWakesAndDrains(t *testing.T) {
	node := testkit.Start(t, "", func(cfg *server.Config) {
		cfg.Devices.TestNumbers = map[string]string{"+15550000001": "111111", "+15550000002": "222222"}
		cfg.Providers.WebPush.AllowPrivate = true
		cfg.Providers.WebPush.AllowInsecure = true
	})
	c := &cli{t: t, url: node.URL, homes: t.TempDir(), node: node}
	alice, bob := c.register("alice", 1), c.register("bob", 2)
	c.run("bob", "privacy", "last-seen", "everyone")
	pushIdle := func() { testkit.WaitFor(t, "the push service idle", node.Node.Push.Idle) }

	// Alice is woken through a push service of her own.
	aliceUP := &pushRecorder{}
	upSrv := httptest.NewServer(aliceUP)
	defer upSrv.Close()
	r := c.run("alice", "push", "register", "--unifiedpush", upSrv.URL+"/up/alice-s3cret")
	assert(t, strings.Contains(r.stdout, "registered for wake-ups by Web Push (UnifiedPush) at "+upSrv.URL+"/…"), "register: %q", r.stdout)
	r = c.run("alice", "push", "status")
	assert(t, strings.Contains(r.stdout, "woken by Web Push (UnifiedPush) at "+upSrv.URL+"/…"), "status: %q", r.stdout)
	assert(t, !strings.Contains(r.stdout+r.stderr, "alice-s3cret"), "status shows the endpoint's path: %q", r.stdout)

	// Bob's listener is reached through a recording proxy (--url).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	listenAddr := l.Addr().String()
	noErr(t, l.Close())
	bobUP := &pushRecorder{next: httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: listenAddr})}
	proxy := httptest.NewServer(bobUP)
	defer proxy.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runCtx(ctx, &out, &errOut, "--server", c.url, "--home", filepath.Join(c.homes, "bob"),
			"push", "listen", "--listen", listenAddr, "--url", proxy.URL)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waiting := func(n int) func() bool {
		return func() bool { return strings.Count(errOut.String(), "waiting for wake-ups") == n }
	}
	testkit.WaitFor(t, "the listener's first drain", waiting(1))
	assert(t, strings.Contains(errOut.String(), "listening for wake-ups at "+proxy.URL+"/push/…"), "stderr %q", errOut.String())
	c.waitOffline("alice", bob)

	sent := jsonOut[map[string]any](t, c.run("alice", "send", bob, "wake up, bob", "--json"))
	firstID, _ := sent["id"].(string)
	testkit.WaitFor(t, "bob woken and drained", func() bool {
		return strings.Contains(out.String(), "wake up, bob") && waiting(2)()
	})
	pushIdle()
	assert(t, strings.Count(out.String(), "woken: fetching messages") == 1, "stdout %q", out.String())
	assert(t, strings.Index(out.String(), "woken: fetching messages") < strings.Index(out.String(), "wake up, bob"), "stdout %q", out.String())
	assert(t, len(bobUP.statuses()) == 1 && bobUP.statuses()[0] == http.StatusCreated, "bob's push service saw %v", bobUP.statuses())
	// Bob's delivery receipt is stored for alice, and woke nobody.
	assert(t, aliceUP.count() == 0, "bob's receipt woke alice (%d pushes)", aliceUP.count())
	assert(t, !strings.Contains(errOut.String(), "warning"), "stderr %q", errOut.String())

	// The connection re-armed the wake-up: the next message wakes again.
	c.waitOffline("alice", bob)
	c.run("alice", "send", bob, "still there?")
	testkit.WaitFor(t, "bob woken again", func() bool {
		return strings.Contains(out.String(), "still there?") && waiting(3)()
	})
	pushIdle()
	assert(t, strings.Count(out.String(), "woken: fetching messages") == 2, "stdout %q", out.String())
	assert(t, len(bobUP.statuses()) == 2 && aliceUP.count() == 0, "pushes: bob %v, alice %d", bobUP.statuses(), aliceUP.count())

	// Interrupted, the listener ends well and removes its registration.
	cancel()
	assert(t, <-done == exitOK, "listen: stderr %q", errOut.String())
	done <- exitOK // for the cleanup
	assert(t, strings.HasSuffix(errOut.String(), "push registration removed\n"), "stderr %q", errOut.String())
	assert(t, strings.Contains(c.run("bob", "push", "status").stdout, "no push registration"), "bob still registered")

	// An urgent message does wake alice; her kept keys open the wake-up.
	c.run("bob", "send", alice, "your turn")
	testkit.WaitFor(t, "alice woken", func() bool { return aliceUP.count() == 1 })
	pushIdle()
	assert(t, aliceUP.count() == 1, "alice woken %d times", aliceUP.count())
	st, err := store.Open(context.Background(), filepath.Join(c.homes, "alice"))
	noErr(t, err)
	kept, err := st.Push(context.Background())
	noErr(t, st.Close())
	noErr(t, err)
	priv, err := ecdh.P256().NewPrivateKey(kept.PrivateKey)
	noErr(t, err)
	aliceUP.mu.Lock()
	plain, err := webpush.Decrypt(priv, kept.Auth, aliceUP.bodies[0])
	aliceUP.mu.Unlock()
	noErr(t, err)
	assert(t, string(plain) == `{"hush":"wake"}`, "alice's wake-up says %q", plain)

	assert(t, bodies(c.receive("alice")) == "your turn", "alice's mailbox")
	assert(t, c.statusOf("alice", firstID) == bob+"=delivered", "status of alice's first message: %s", c.statusOf("alice", firstID))
}
