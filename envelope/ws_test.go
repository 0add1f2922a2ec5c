package envelope

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/bus"
)

// Frames a client sends in the same packet as its upgrade request are in
// the HTTP server's buffer when the socket takes over the connection with
// buffers of its own: they are read first, not lost.
func TestFramesSentWithTheUpgradeRequest(t *testing.T) {
	r := newRig(t, func(*Config) {})
	c, err := net.Dial("tcp", r.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	req := "GET /?account=" + account + " HTTP/1.1\r\nHost: hush\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	// Two acks of ids that are not envelope ids: each is answered with
	// an error frame.
	ack, _ := wire.Encode(&wire.Frame{Type: wire.TypeAck, ID: "not-an-id"})
	frame := append([]byte{0x81, 0x80 | byte(len(ack)), 0, 0, 0, 0}, ack...) // masked with a zero key
	if _, err := c.Write(append(append([]byte(req), frame...), frame...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	errors := 0
	for errors < 2 {
		f := readServerFrame(t, br)
		switch f.Type {
		case wire.TypeQueueEmpty:
		case wire.TypeError:
			if !strings.Contains(f.Error.Message, "not an envelope id") {
				t.Fatalf("error frame %q", f.Error.Message)
			}
			errors++
		default:
			t.Fatalf("frame %s", f.Type)
		}
	}
}

// readServerFrame reads the next unfragmented text frame (unmasked, as a
// server sends them), skipping pings.
func readServerFrame(t *testing.T, br *bufio.Reader) *wire.Frame {
	t.Helper()
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatal(err)
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			_, _ = io.ReadFull(br, b[:])
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			_, _ = io.ReadFull(br, b[:])
			n = binary.BigEndian.Uint64(b[:])
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		switch h[0] {
		case 0x89: // ping
			continue
		case 0x81:
		default:
			t.Fatalf("frame header %#x", h[0])
		}
		f, err := wire.Decode(p)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
}

// A backlog of several mailbox pages reaches the device whole and in order
// (its frames written in corked runs), and one ack frame naming all of
// them, with a bad id among them, deletes every good one by its position
// and reports the bad one.
func TestBacklogAckedInOneFrame(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Window = 1000 }) // all of it in flight at once
	const n = 250
	envs := make([]Stored, n)
	for i := range envs {
		envs[i] = Stored{AccountID: account, DeviceID: 1, ID: newEnvelopeID(), Type: 1, Content: []byte(strconv.Itoa(i))}
	}
	if err := r.store.Insert(t.Context(), envs, Quota{}); err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(r.srv.URL, "http")+"?account="+account, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ids := []string{"not-an-id"}
	for i := range n {
		f := r.read(c)
		if f.Type != wire.TypeEnvelope || string(f.Envelope.Content) != strconv.Itoa(i) {
			t.Fatalf("frame %d: %s %q", i, f.Type, f.Envelope.Content)
		}
		ids = append(ids, f.Envelope.ID)
	}
	if f := r.read(c); f.Type != wire.TypeQueueEmpty {
		t.Fatalf("after the backlog: %s", f.Type)
	}
	b, _ := wire.Encode(&wire.Frame{Type: wire.TypeAck, IDs: ids})
	if err := c.Write(t.Context(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	if f := r.read(c); f.Type != wire.TypeError || f.Error.Message != "ack: 1 of 251 ids are not envelope ids" {
		t.Fatalf("answer to the ack: %s %+v", f.Type, f.Error)
	}
	waitFor(t, "the backlog deleted", func() bool { return r.store.read(func(g *gateStore) int { return len(g.rows) }) == 0 })
}

// An envelope handed over directly and stored before its ack has no
// position the session knows; its ack finds it past the session's cursor.
func TestAckOfDirectEnvelopeStoredFirst(t *testing.T) {
	r := newRig(t, func(c *Config) { c.LiveHold = time.Millisecond })
	c := r.connect()
	answered := r.send("A")
	f := r.read(c)
	if err := <-answered; err != nil { // answered once stored
		t.Fatal(err)
	}
	if n := r.store.read(func(g *gateStore) int { return len(g.rows) }); n != 1 {
		t.Fatalf("%d envelopes stored, want 1", n)
	}
	r.ack(c, f)
	waitFor(t, "the envelope deleted", func() bool { return r.store.read(func(g *gateStore) int { return len(g.rows) }) == 0 })
}

type wakes struct {
	mu sync.Mutex
	n  int
}

func (w *wakes) Queued(string, uint32)                     { w.mu.Lock(); w.n++; w.mu.Unlock() }
func (w *wakes) Connected(context.Context, string, uint32) {}
func (w *wakes) count() int                                { w.mu.Lock(); defer w.mu.Unlock(); return w.n }

// A session that ends with envelopes it never delivered pokes the device's
// other connections and wakes the device, though nothing it delivered is
// unacked: a send stored while the session was still in the hub told
// nobody about them. They were either still in its direct queue (its
// window was full), or refused by the full queue and stored.
func TestSessionEndingWithUndeliveredEnvelopesWakes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		queue int
		sends []string
	}{
		{"in the direct queue", 16, []string{"B"}},
		{"refused by the direct queue", 1, []string{"B", "C"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.Window, c.DirectQueue, c.LiveHold = 1, tc.queue, time.Millisecond })
			w := &wakes{}
			r.s.SetWaker(w)
			pokes := make(chan struct{}, 10)
			r.bus.Subscribe(func(e bus.Event) bool {
				if e.Kind == bus.Mailbox && e.Account == account {
					pokes <- struct{}{}
				}
				return false
			})
			c := r.connect()
			if err := <-r.send("A"); err != nil { // delivered, then stored
				t.Fatal(err)
			}
			fa := r.read(c)
			gate := make(chan struct{})
			r.store.mu.Lock()
			r.store.ackGate = gate // A's ack waits: acked, not yet deleted
			r.store.mu.Unlock()
			defer close(gate)
			r.ack(c, fa)
			waitFor(t, "the ack at the store", func() bool {
				buf := make([]byte, 1<<20)
				return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*gateStore).Ack")
			})
			// The window is full until A's ack commits: what follows is
			// handed over and waits, or is refused and stored. Each is
			// stored while the session is still in the hub, so its send
			// takes it for the session's and tells nobody.
			var answers []<-chan error
			for _, m := range tc.sends {
				answers = append(answers, r.send(m))
			}
			for _, a := range answers {
				if err := <-a; err != nil {
					t.Fatal(err)
				}
			}
			if w.count() != 0 || len(pokes) != 0 {
				t.Fatalf("woken %d times, poked %d times while the session was up", w.count(), len(pokes))
			}
			c.CloseNow()
			waitFor(t, "the session gone", func() bool { return r.s.hub.get(deviceKey{account, 1}) == nil })
			waitFor(t, "a wake-up", func() bool { return w.count() > 0 })
			select {
			case <-pokes:
			case <-time.After(10 * time.Second):
				t.Fatal("no mailbox event")
			}
		})
	}
}

// What a corked connection holds goes out before it closes (the reply to
// a client's close frame is written and the connection closed at once).
func TestCorkedConnFlushesOnClose(t *testing.T) {
	server, client := net.Pipe()
	c := &corkConn{Conn: server}
	c.cork()
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(client); got <- b }()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; string(b) != "held" {
		t.Fatalf("the peer read %q", b)
	}
	if err := c.uncork(); err != nil { // nothing left to send
		t.Fatal(err)
	}
}
