// Package testkit starts in-process hushd nodes and speaks to them with raw
// HTTP and WebSockets, for the server's own tests. It makes real keys and
// real signatures (package signal: curve25519, XEdDSA, Kyber1024) so that
// the server checks exactly what it checks in production. Test-only: nothing in the
// server binary imports it.
package testkit

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/devkeys"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/storetest"
)

// Node is a running in-process server.
type Node struct {
	URL     string
	DataDir string
	Cfg     server.Config
	Node    *server.Node
	stop    context.CancelFunc
	done    chan error
}

// Start runs a node on a fresh data directory (or dataDir when set) with
// fixed codes for every TestNumber. With HUSH_TEST_STORE=postgres the node
// runs on a fresh PostgreSQL database instead of SQLite.
func Start(t testing.TB, dataDir string, mutate func(*server.Config)) *Node {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	cfg := server.Defaults()
	cfg.DataDir = dataDir
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = "127.0.0.1:0"
	cfg.Devices.TestNumbers = testNumbers
	if os.Getenv("HUSH_TEST_STORE") == "postgres" {
		cfg.DB = storetest.PostgresURL(t)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	return StartConfig(t, cfg)
}

// Restart stops n and starts a node with the same configuration and store.
func (n *Node) Restart(t testing.TB) *Node {
	t.Helper()
	n.Stop()
	return StartConfig(t, n.Cfg)
}

// StartConfig runs a node with cfg exactly.
func StartConfig(t testing.TB, cfg server.Config) *Node {
	t.Helper()
	return StartLogged(t, cfg, slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// StartLogged runs a node with cfg exactly, logging to h.
func StartLogged(t testing.TB, cfg server.Config, h slog.Handler) *Node {
	t.Helper()
	dataDir := cfg.DataDir
	log := slog.New(h)
	ctx, cancel := context.WithCancel(context.Background())
	n, err := server.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	node := &Node{DataDir: dataDir, Cfg: cfg, Node: n, stop: cancel, done: make(chan error, 1)}
	go func() { node.done <- n.Serve(ctx) }()
	addrFile := filepath.Join(dataDir, server.AddrFile)
	WaitFor(t, "hushd address file", func() bool {
		b, err := os.ReadFile(addrFile)
		if err != nil {
			return false
		}
		node.URL = strings.TrimSpace(string(b))
		return node.URL != ""
	})
	t.Cleanup(node.Stop)
	return node
}

// Stop drains the node and waits for it.
func (n *Node) Stop() {
	if n.stop == nil {
		return
	}
	n.stop()
	n.stop = nil
	<-n.done
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// WaitFor polls cond until it holds, failing the test after a generous
// deadline (a hang, not a speed limit).
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCode is the fixed code of every TestNumber.
const TestCode = "123456"

var testNumbers = map[string]string{}

var numberSeq atomic.Int64

func init() {
	for i := range 2000 {
		testNumbers[fmt.Sprintf("+1555%07d", i)] = TestCode
	}
}

// TestNumber returns a fresh test number with the fixed code TestCode.
func TestNumber() string {
	return fmt.Sprintf("+1555%07d", numberSeq.Add(1)%2000)
}

// Identity is an account's identity key pair.
type Identity struct{ devkeys.Identity }

// NewIdentity makes a fresh identity key pair.
func NewIdentity(t testing.TB) Identity {
	id, err := devkeys.NewIdentity()
	must(t, err)
	return Identity{id}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ECKey returns a fresh serialized curve25519 public key.
func ECKey(t testing.TB) []byte {
	k, err := devkeys.ECKey()
	must(t, err)
	return k
}

// SignedEC returns a signed EC prekey.
func (id Identity) SignedEC(t testing.TB, keyID uint32) api.SignedPreKey {
	k, err := id.Identity.SignedEC(keyID)
	must(t, err)
	return k
}

// SignedPQ returns a signed Kyber1024 prekey.
func (id Identity) SignedPQ(t testing.TB, keyID uint32) api.SignedPreKey {
	k, err := id.Identity.SignedPQ(keyID)
	must(t, err)
	return k
}

// DeviceKeys returns valid keys for a new device.
func (id Identity) DeviceKeys(t testing.TB, reg uint32) api.DeviceKeys {
	k, err := id.Identity.DeviceKeys(reg)
	must(t, err)
	k.Name = "test"
	return k
}

// Device is a registered device with its credential.
type Device struct {
	api.Credentials
	Identity       Identity
	RegistrationID uint32
	Number         string
}

// User returns the Basic-auth user.
func (d *Device) User() string { return fmt.Sprintf("%s.%d", d.AccountID, d.DeviceID) }

// Register registers a fresh test number and returns its primary device.
func (n *Node) Register(t testing.TB) *Device {
	t.Helper()
	return n.RegisterNumber(t, TestNumber(), TestCode)
}

// RegisterNumber registers number with code and returns its primary device.
func (n *Node) RegisterNumber(t testing.TB, number, code string) *Device {
	t.Helper()
	id := NewIdentity(t)
	req := api.Verify{Number: number, Code: code, IdentityKey: id.Public(), DeviceKeys: id.DeviceKeys(t, 1)}
	var creds api.Credentials
	n.MustDo(t, nil, "POST", "/v1/registration/verify", req, http.StatusOK, &creds)
	return &Device{Credentials: creds, Identity: id, RegistrationID: 1, Number: number}
}

// Link adds a device to primary's account with registration id reg.
func (n *Node) Link(t testing.TB, primary *Device, reg uint32) *Device {
	t.Helper()
	var pc api.ProvisioningCode
	n.MustDo(t, primary, "POST", "/v1/devices/provisioning_code", nil, http.StatusOK, &pc)
	var creds api.Credentials
	n.MustDo(t, nil, "POST", "/v1/devices/link", api.Link{AccountID: primary.AccountID, ProvisioningCode: pc.Code,
		DeviceKeys: primary.Identity.DeviceKeys(t, reg)}, http.StatusOK, &creds)
	return &Device{Credentials: creds, Identity: primary.Identity, RegistrationID: reg, Number: primary.Number}
}

// Do sends a request as dev (nil: no credential). body may be nil, a
// []byte sent as is, or a value encoded as JSON. It returns the status and
// the raw answer.
func (n *Node) Do(t testing.TB, dev *Device, method, path string, body any) (int, []byte) {
	t.Helper()
	status, b, err := n.DoErr(dev, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, b
}

// DoErr is Do that returns transport errors (a dead node) instead of
// failing the test.
func (n *Node) DoErr(dev *Device, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, n.URL+path, r)
	if err != nil {
		return 0, nil, err
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if dev != nil {
		req.SetBasicAuth(dev.User(), dev.Password)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// httpClient bounds every request so a hung node fails a test instead of
// stalling it.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// MustDo is Do that fails unless the status is want, decoding the answer
// into out when out is not nil.
func (n *Node) MustDo(t testing.TB, dev *Device, method, path string, body any, want int, out any) {
	t.Helper()
	status, b := n.Do(t, dev, method, path, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// Expect does a request and checks both the status and the error code.
func (n *Node) Expect(t testing.TB, dev *Device, method, path string, body any, status int, code string) api.Error {
	t.Helper()
	got, b := n.Do(t, dev, method, path, body)
	var e api.Error
	_ = json.Unmarshal(b, &e)
	if got != status || e.Code != code {
		t.Fatalf("%s %s: got %d %q, want %d %q (%s)", method, path, got, e.Code, status, code, b)
	}
	return e
}

// Socket is a device's message WebSocket.
type Socket struct {
	C *websocket.Conn
	t testing.TB
}

// Connect opens dev's message socket.
func (n *Node) Connect(t testing.TB, dev *Device) *Socket {
	t.Helper()
	s, resp, err := n.Dial(dev)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial websocket: %v (status %d)", err, status)
	}
	s.t = t
	t.Cleanup(func() { s.C.CloseNow() })
	return s
}

// Dial opens dev's message socket and returns the error, if any.
func (n *Node) Dial(dev *Device) (*Socket, *http.Response, error) {
	h := http.Header{}
	auth := base64.StdEncoding.EncodeToString([]byte(dev.User() + ":" + dev.Password))
	h.Set("Authorization", "Basic "+auth)
	c, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(n.URL, "http")+"/v1/websocket",
		&websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(wire.MaxFrameSize)
	return &Socket{C: c}, resp, nil
}

// Read returns the next frame, failing the test if none comes in 30 s.
func (s *Socket) Read() *wire.Frame {
	s.t.Helper()
	f, err := s.ReadErr(30 * time.Second)
	if err != nil {
		s.t.Fatalf("read frame: %v", err)
	}
	return f
}

// ReadErr returns the next frame or the error that ended the socket.
func (s *Socket) ReadErr(wait time.Duration) (*wire.Frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, b, err := s.C.Read(ctx)
	if err != nil {
		return nil, err
	}
	return wire.Decode(b)
}

// Write sends a frame.
func (s *Socket) Write(f *wire.Frame) {
	s.t.Helper()
	b, err := wire.Encode(f)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.C.Write(context.Background(), websocket.MessageText, b); err != nil {
		s.t.Fatalf("write frame: %v", err)
	}
}

// Ack acknowledges an envelope.
func (s *Socket) Ack(id string) { s.Write(&wire.Frame{Type: wire.TypeAck, ID: id}) }

// TryAck acknowledges an envelope and returns the error, for sockets whose
// node may die.
func (s *Socket) TryAck(id string) error {
	b, err := wire.Encode(&wire.Frame{Type: wire.TypeAck, ID: id})
	if err != nil {
		return err
	}
	return s.C.Write(context.Background(), websocket.MessageText, b)
}

// CloseStatus waits for the socket to end and returns its close code.
func (s *Socket) CloseStatus() websocket.StatusCode {
	for {
		if _, err := s.ReadErr(30 * time.Second); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// Send builds a send from sender to every device in to (the destination's
// devices and the sender's other devices, with their registration ids).
func Send(dest string, content []byte, to ...*Device) api.Send {
	s := api.Send{Destination: dest}
	for _, d := range to {
		s.Messages = append(s.Messages, api.OutgoingMessage{AccountID: d.AccountID, DeviceID: d.DeviceID, RegistrationID: d.RegistrationID, Type: 3, Content: content})
	}
	return s
}

// NewWebPushKey is a fresh P-256 public key, uncompressed, as a Web Push
// subscription's p256dh.
func NewWebPushKey(t testing.TB) []byte {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	must(t, err)
	return k.PublicKey().Bytes()
}

// SyncBuffer is a bytes.Buffer that a process, a command or a node's
// goroutines write while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
