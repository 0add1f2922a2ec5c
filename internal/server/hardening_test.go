package server_test

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// adminGet asks the admin listener for path with the given Host header
// ("" the address itself) and bearer token ("" none).
func adminGet(t *testing.T, n *testkit.Node, c *http.Client, host, token, path string) (int, http.Header, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.DataDir, server.AdminAddrFile))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", strings.TrimSpace(string(b))+path, nil)
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// TestAdminHostAllowList: the admin listener answers for its listen host,
// localhost, IP addresses and the names it is given, and 421 for any
// other Host (a DNS rebinding page's), pprof included.
func TestAdminHostAllowList(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.AdminHosts = []string{"admin.internal.example"}; c.AdminPprof = true })
	for _, c := range []struct {
		host string
		want int
	}{
		{"", http.StatusOK},
		{"localhost:8081", http.StatusOK},
		{"LOCALHOST.", http.StatusOK},
		{"127.0.0.1", http.StatusOK},
		{"[::1]:8081", http.StatusOK},
		{"admin.internal.example:8081", http.StatusOK},
		{"rebind.attacker.example", http.StatusMisdirectedRequest},
		{"rebind.attacker.example:8081", http.StatusMisdirectedRequest},
		{"localhost.attacker.example", http.StatusMisdirectedRequest},
	} {
		for _, path := range []string{"/metrics", "/debug/pprof/cmdline"} {
			status, _, body := adminGet(t, n, nil, c.host, "", path)
			equal(t, "Host "+c.host+" "+path, status, c.want)
			if c.want == http.StatusMisdirectedRequest && !strings.Contains(body, api.CodeMisdirected) {
				t.Errorf("Host %s: body %s, want %s", c.host, body, api.CodeMisdirected)
			}
		}
	}
}

// TestAdminPprof: pprof (which shows the command line) is served without
// a token only with --admin-pprof; otherwise to an operator's token.
func TestAdminPprof(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
		status, _, _ := adminGet(t, n, nil, "", "", path)
		equal(t, "default, no token: "+path, status, http.StatusUnauthorized)
	}
	officer, _, err := n.Node.GDPR.CreateToken(t.Context(), "cli", "officer", gdpr.RoleCompliance)
	if err != nil {
		t.Fatal(err)
	}
	operator, _, err := n.Node.GDPR.CreateToken(t.Context(), "cli", "ops", gdpr.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	status, _, _ := adminGet(t, n, nil, "", officer, "/debug/pprof/cmdline")
	equal(t, "compliance token", status, http.StatusForbidden)
	status, _, _ = adminGet(t, n, nil, "", operator, "/debug/pprof/cmdline")
	equal(t, "operator token", status, http.StatusOK)
	status, _, _ = adminGet(t, n, nil, "", "", "/metrics")
	equal(t, "metrics without a token", status, http.StatusOK)

	open := testkit.Start(t, "", func(c *server.Config) { c.AdminPprof = true })
	status, _, _ = adminGet(t, open, nil, "", "", "/debug/pprof/cmdline")
	equal(t, "--admin-pprof, no token", status, http.StatusOK)
}

// TestAdminTLS: with a certificate the admin listener speaks only TLS.
func TestAdminTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := writeCert(t)
	n := testkit.Start(t, "", func(c *server.Config) { c.AdminTLSCert, c.AdminTLSKey = certFile, keyFile })
	b, err := os.ReadFile(filepath.Join(n.DataDir, server.AdminAddrFile))
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(string(b))
	if !strings.HasPrefix(addr, "https://") {
		t.Fatalf("admin address %s is not https", addr)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	status, h, _ := adminGet(t, n, c, "", "", "/metrics")
	equal(t, "metrics over TLS", status, http.StatusOK)
	equal(t, "HSTS on the admin listener", h.Get("Strict-Transport-Security"), "max-age=31536000")
	if resp, err := http.Get("http://" + strings.TrimPrefix(addr, "https://") + "/metrics"); err == nil {
		resp.Body.Close()
		equal(t, "plain HTTP", resp.StatusCode, http.StatusBadRequest) // Go's TLS server's answer to plain HTTP
	}
}

// TestSecurityHeaders: every answer says nosniff; /v1 answers (which
// carry credentials and personal data) are not to be cached; HSTS comes
// over TLS only.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	dev := n.Register(t)
	check := func(what string, h http.Header, cache, hsts string) {
		t.Helper()
		equal(t, what+": nosniff", h.Get("X-Content-Type-Options"), "nosniff")
		equal(t, what+": Cache-Control", h.Get("Cache-Control"), cache)
		equal(t, what+": HSTS", h.Get("Strict-Transport-Security"), hsts)
	}
	get := func(n *testkit.Node, c *http.Client, dev *testkit.Device, path string) http.Header {
		t.Helper()
		req, _ := http.NewRequest("GET", n.URL+path, nil)
		if dev != nil {
			req.SetBasicAuth(dev.User(), dev.Password)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	check("devices", get(n, http.DefaultClient, dev, "/v1/devices"), "no-store", "")
	check("an error", get(n, http.DefaultClient, nil, "/v1/devices"), "no-store", "")
	check("unknown route", get(n, http.DefaultClient, nil, "/v1/nothing"), "no-store", "")
	check("health", get(n, http.DefaultClient, nil, "/healthz"), "", "")

	certFile, keyFile, pool := writeCert(t)
	tn := testkit.Start(t, "", func(c *server.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	check("an answer over TLS", get(tn, c, nil, "/v1/devices"), "no-store", "max-age=31536000")
	check("health over TLS", get(tn, c, nil, "/healthz"), "", "max-age=31536000")
}

// TestTLSHandshakeErrorLogsNoAddress: net/http's log line for a failed
// handshake names no client address.
func TestTLSHandshakeErrorLogsNoAddress(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := writeCert(t)
	var logs testkit.SyncBuffer
	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	n := testkit.StartLogged(t, cfg, slog.NewTextHandler(&logs, nil))
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.URL, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	local := conn.LocalAddr().String()
	_, _ = conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) // not a TLS hello
	_, _ = io.ReadAll(conn)
	conn.Close()
	testkit.WaitFor(t, "the handshake error logged", func() bool { return strings.Contains(logs.String(), "TLS handshake error") })
	_, port, _ := net.SplitHostPort(local)
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "TLS handshake error") && (strings.Contains(line, "127.0.0.1") || strings.Contains(line, port)) {
			t.Fatalf("log names the client address %s: %s", local, line)
		}
	}
}

// dialProvisioning opens a provisioning socket from the local address
// from (a loopback address) and returns it with the HTTP status.
func dialProvisioning(t *testing.T, n *testkit.Node, from string) (*websocket.Conn, int) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	c, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(n.URL, "http")+"/v1/provisioning", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, http.StatusSwitchingProtocols
}

// TestProvisioningSocketLimits: provisioning sockets are bounded per
// client address (429) and per node (503), and a closed one frees its
// place.
func TestProvisioningSocketLimits(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) {
		c.Devices.MaxProvisioningPerAddr, c.Devices.MaxProvisioningSockets = 2, 3
	})
	a1, _ := dialProvisioning(t, n, "127.0.0.1")
	dialProvisioning(t, n, "127.0.0.1")
	_, status := dialProvisioning(t, n, "127.0.0.1")
	equal(t, "third from one address", status, http.StatusTooManyRequests)
	_, status = dialProvisioning(t, n, "127.0.0.2")
	equal(t, "first from another address", status, http.StatusSwitchingProtocols)
	_, status = dialProvisioning(t, n, "127.0.0.3")
	equal(t, "past the node's total", status, http.StatusServiceUnavailable)

	a1.Close(websocket.StatusNormalClosure, "")
	testkit.WaitFor(t, "a place freed", func() bool {
		c, status := dialProvisioning(t, n, "127.0.0.3")
		if c != nil {
			c.CloseNow()
		}
		return status == http.StatusSwitchingProtocols
	})
}

// TestProvisioningSocketTTL: a provisioning socket nobody sends to is
// closed after --provisioning-socket-ttl, apart from the code TTL.
func TestProvisioningSocketTTL(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Devices.ProvisioningSocketTTL = 100 * time.Millisecond })
	c, _ := dialProvisioning(t, n, "127.0.0.1")
	_, b, err := c.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "provisioning_address") {
		t.Fatalf("first frame %s", b)
	}
	_, _, err = c.Read(t.Context())
	equal(t, "close status", websocket.CloseStatus(err), websocket.StatusNormalClosure)
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("closed with %v, want the address expired", err)
	}
}

// rawSocket is a device WebSocket spoken by hand, to send frames the
// WebSocket library would not: a message in fragments, each written when
// the test says.
type rawSocket struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, n *testkit.Node, dev *testkit.Device) *rawSocket {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(n.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(c, "GET /v1/websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nAuthorization: Basic %s\r\n\r\n",
		key, base64.StdEncoding.EncodeToString([]byte(dev.User()+":"+dev.Password)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a guard against a hung test
	return &rawSocket{Conn: c, br: br}
}

// frame writes one masked client frame.
func (s *rawSocket) frame(fin bool, opcode byte, payload []byte) error {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	if len(payload) > 125 {
		panic("short frames only")
	}
	mask := [4]byte{1, 2, 3, 4}
	out := append([]byte{b0, 0x80 | byte(len(payload))}, mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i%4])
	}
	_, err := s.Write(out)
	return err
}

// next reads the next server frame (short ones only: the tests read
// control frames and small JSON frames).
func (s *rawSocket) next() (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(s.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(s.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(s.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(s.br, payload)
	return h[0] & 0x0f, payload, err
}

// until reads frames until one of type typ (a JSON frame) or a close,
// whose code it returns.
func (s *rawSocket) until(t *testing.T, typ string) (closeCode int) {
	t.Helper()
	for {
		op, p, err := s.next()
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		switch {
		case op == 0x8 && len(p) >= 2:
			return int(binary.BigEndian.Uint16(p))
		case op == 0x8:
			return 1005
		case op == 0x1 && strings.Contains(string(p), `"type":"`+typ+`"`):
			return 0
		}
	}
}

// TestWebSocketMessageTimeout: a message begun must end within
// --ws-message-timeout: one trickled in continuation frames is closed
// with 4004, while waiting between messages, however long, is not
// bounded by it, and a fragmented message that ends in time is served.
func TestWebSocketMessageTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	n := testkit.Start(t, "", func(c *server.Config) { c.Envelope.MessageTimeout = timeout })
	dev := n.Register(t)
	follow := []byte(`{"type":"presence_follow","follow":{"accounts":["` + dev.AccountID + `"]}}`)

	s := dialRaw(t, n, dev)
	equal(t, "queue empty first", s.until(t, "queue_empty"), 0)
	// Idle for longer than the message timeout: waiting is not bounded.
	time.Sleep(2 * timeout)
	if err := s.frame(false, 0x1, follow[:10]); err != nil {
		t.Fatal(err)
	}
	if err := s.frame(true, 0x0, follow[10:]); err != nil {
		t.Fatal(err)
	}
	equal(t, "answer to a fragmented message", s.until(t, "presence"), 0)

	// A message trickled one byte per frame never ends: closed.
	trickle := dialRaw(t, n, dev)
	if err := trickle.frame(false, 0x1, []byte(`{"type":`)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(timeout / 10)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if trickle.frame(false, 0x0, []byte(" ")) != nil {
					return
				}
			}
		}
	}()
	equal(t, "close code of a trickled message", trickle.until(t, "no such frame"), wire.CloseMessageTimeout)
}

// TestNoAccountEnumeration: someone without the right to know cannot
// tell an existing account id from an unknown one, by linking to it (a
// device without the account's identity key) or by its last seen (an
// account that does not show it).
func TestNoAccountEnumeration(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Devices.MaxDevices = 2 })
	alice, mallory := n.Register(t), n.Register(t)
	full := n.Register(t)
	n.Link(t, full, 2) // at its maximum of devices
	unknown := "9b2f0c6e-0000-4000-8000-000000000000"
	outsider := testkit.NewIdentity(t)

	answer := func(dev *testkit.Device, method, path string, body any, id string) string {
		t.Helper()
		status, b := n.Do(t, dev, method, path, body)
		return fmt.Sprint(status, " ", strings.ReplaceAll(string(b), id, "ID"))
	}
	link := func(id, code string) string {
		return answer(nil, "POST", "/v1/devices/link", api.Link{AccountID: id, ProvisioningCode: code, DeviceKeys: outsider.DeviceKeys(t, 7)}, id)
	}
	for _, code := range []string{"", "guess", strings.Repeat("A", 43)} {
		want := link(unknown, code)
		for name, id := range map[string]string{"existing": alice.AccountID, "full": full.AccountID} {
			equal(t, "link to an "+name+" account with code "+code, link(id, code), want)
		}
	}
	lastSeen := func(id string) string {
		return answer(mallory, "GET", "/v1/accounts/"+id+"/last_seen", nil, id)
	}
	equal(t, "last seen of an existing account", lastSeen(alice.AccountID), lastSeen(unknown))
}

// TestDataFilesPrivate: the data directory is 0700 and its files 0600,
// the SQLite database and its -wal and -shm included; looser ones found
// at start are tightened, and the log says so without naming them.
func TestDataFilesPrivate(t *testing.T) {
	t.Parallel()
	var logs testkit.SyncBuffer
	cfg := server.Defaults() // SQLite in the data directory, whatever HUSH_TEST_STORE says
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	if err := os.Mkdir(cfg.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.DataDir, 0o755); err != nil { // past the umask
		t.Fatal(err)
	}
	wantPrivate := func(what string) {
		t.Helper()
		entries, err := os.ReadDir(cfg.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := os.Stat(cfg.DataDir)
		equal(t, what+": data directory mode", info.Mode().Perm(), os.FileMode(0o700))
		seen := map[string]bool{}
		for _, e := range entries {
			info, _ := e.Info()
			seen[e.Name()] = true
			if info.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: %s is %v", what, e.Name(), info.Mode().Perm())
			}
		}
		for _, name := range []string{server.DBFile, server.DBFile + "-wal", server.DBFile + "-shm", server.VAPIDFile, server.AddrFile} {
			if !seen[name] {
				t.Errorf("%s: no %s to check", what, name)
			}
		}
	}
	n := testkit.StartLogged(t, cfg, slog.NewTextHandler(&logs, nil))
	wantPrivate("created")
	if !strings.Contains(logs.String(), "made private") {
		t.Errorf("the tightening of the directory was not logged")
	}
	n.Stop()

	// As an older version left them.
	for _, name := range []string{server.DBFile, server.VAPIDFile} {
		if err := os.Chmod(filepath.Join(cfg.DataDir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(cfg.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs2 testkit.SyncBuffer
	testkit.StartLogged(t, cfg, slog.NewTextHandler(&logs2, nil))
	wantPrivate("tightened")
	out := logs2.String()
	if !strings.Contains(out, "entries=3") {
		t.Errorf("log does not count 3 entries tightened:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "made private") && (strings.Contains(line, cfg.DataDir) || strings.Contains(line, server.DBFile)) {
			t.Errorf("log line names a path: %s", line)
		}
	}
}
