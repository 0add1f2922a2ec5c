package envelope

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/metrics"
)

// gateStore is a Store in memory whose inserts can be held at a gate, to
// stage the races of direct delivery.
type gateStore struct {
	mu      sync.Mutex
	seq     int64
	rows    []Stored
	gate    chan struct{} // while non-nil, Insert waits for it to close
	ackGate chan struct{} // while non-nil, Ack waits for it to close
	acks    []Acked
	insert  int // envelopes inserted
	waiting int // inserts waiting at the gate
	fetches int
}

func (g *gateStore) Recipients(context.Context, string) ([]Recipient, error) {
	return []Recipient{{DeviceID: 1, RegistrationID: 1}}, nil
}

func (g *gateStore) Insert(_ context.Context, envs []Stored, _ Quota) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		g.mu.Lock()
		g.waiting++
		g.mu.Unlock()
		<-gate
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range envs {
		g.seq++
		envs[i].Seq = g.seq
		g.rows = append(g.rows, envs[i])
		g.insert++
	}
	return nil
}

func (g *gateStore) Fetch(_ context.Context, acct string, dev uint32, after int64, limit int) ([]Stored, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fetches++
	var out []Stored
	for _, e := range g.rows {
		if e.AccountID == acct && e.DeviceID == dev && e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (g *gateStore) Ack(_ context.Context, acks []Acked) error {
	g.mu.Lock()
	gate := g.ackGate
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.acks = append(g.acks, acks...)
	// Like a store that finds envelopes by position: one outside its
	// ack's range stays.
	g.rows = slices.DeleteFunc(g.rows, func(e Stored) bool {
		return slices.ContainsFunc(acks, func(a Acked) bool {
			lo, hi := a.Range()
			return a.AckKey == keyOf(&e) && lo <= e.Seq && e.Seq <= hi
		})
	})
	return nil
}

func (g *gateStore) Count(context.Context) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return int64(len(g.rows)), nil
}

func (g *gateStore) DeleteExpired(context.Context, time.Time, int) (int, error) { return 0, nil }

func (g *gateStore) read(f func(*gateStore) int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return f(g)
}

// openGate lets waiting and future inserts through.
func (g *gateStore) openGate() {
	g.mu.Lock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.mu.Unlock()
}

type rig struct {
	t     *testing.T
	s     *Service
	store *gateStore
	bus   *bus.Local
	srv   *httptest.Server
}

func newRig(t *testing.T, mutate func(*Config)) *rig {
	cfg := Defaults()
	mutate(&cfg)
	st := &gateStore{}
	b := bus.NewLocal()
	s := New(cfg, st, b, slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.New(), nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(auth.With(r.Context(), auth.Device{AccountID: r.URL.Query().Get("account"), DeviceID: 1}))
		_ = s.handleWebSocket(w, r)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		s.Shutdown(context.Background())
		srv.Close()
		s.Close()
	})
	return &rig{t: t, s: s, store: st, bus: b, srv: srv}
}

const account = "6c1f1a43-3c6e-4a0c-9a53-6f0d2a1b2c3d"

// connect opens account's socket and reads up to queue_empty.
func (r *rig) connect() *websocket.Conn {
	r.t.Helper()
	c, _, err := websocket.Dial(r.t.Context(), "ws"+strings.TrimPrefix(r.srv.URL, "http")+"?account="+account, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.CloseNow() })
	if f := r.read(c); f.Type != wire.TypeQueueEmpty {
		r.t.Fatalf("first frame %s, want queue_empty", f.Type)
	}
	return c
}

func (r *rig) read(c *websocket.Conn) *wire.Frame {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	f, err := wire.Decode(b)
	if err != nil {
		r.t.Fatal(err)
	}
	return f
}

// send sends content to account's device 1 from another account and
// returns a channel that gets the answer.
func (r *rig) send(content string) <-chan error {
	done := make(chan error, 1)
	sender := auth.Device{AccountID: "0d9c7a51-1111-4a0c-9a53-6f0d2a1b2c3d", DeviceID: 1}
	a, err := r.s.accept(r.t.Context(), sender, &api.Send{Destination: account, Messages: []api.OutgoingMessage{
		{DeviceID: 1, RegistrationID: 1, Type: 1, Content: []byte(content)}}})
	if err != nil {
		r.t.Fatal(err)
	}
	go func() { _, err := a.answer(context.Background()); done <- err }()
	return done
}

func (r *rig) ack(c *websocket.Conn, f *wire.Frame) {
	r.t.Helper()
	b, _ := wire.Encode(&wire.Frame{Type: wire.TypeAck, ID: f.Envelope.ID})
	if err := c.Write(r.t.Context(), websocket.MessageText, b); err != nil {
		r.t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// A session that falls behind its direct queue switches to the store, and
// must not go direct again while what it refused is still on its way to
// the store: the order of one sender's envelopes survives.
func TestStoreModeKeepsOrderWhileInsertsAreSlow(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Window, c.DirectQueue, c.LiveHold = 1, 1, time.Hour })
	c := r.connect()
	t.Cleanup(r.store.openGate)
	answeredA := r.send("A") // direct, delivered: the window is full
	fa := r.read(c)
	if string(fa.Envelope.Content) != "A" {
		t.Fatalf("got %q, want A", fa.Envelope.Content)
	}
	r.store.mu.Lock()
	r.store.gate = make(chan struct{})
	r.store.mu.Unlock()
	r.send("B") // waits in the direct queue
	r.send("C") // the queue is full: B and C go to the store
	waitFor(t, "B and C at the insert gate", func() bool { return r.store.read(func(g *gateStore) int { return g.waiting }) == 1 })
	r.ack(c, fa) // room for one
	if err := <-answeredA; err != nil {
		t.Fatal(err)
	}
	// A fetch now finds the store empty; the session must stay in store
	// mode, since B and C are not committed yet.
	fetches := r.store.read(func(g *gateStore) int { return g.fetches })
	_ = r.bus.Publish(t.Context(), bus.Event{Kind: bus.Mailbox, Account: account, Device: 1})
	waitFor(t, "the poke's fetch", func() bool { return r.store.read(func(g *gateStore) int { return g.fetches }) > fetches })
	time.Sleep(50 * time.Millisecond) // for the session to act on what it found
	r.send("D")                       // must not overtake B and C
	time.Sleep(50 * time.Millisecond)
	r.store.openGate()
	var got []string
	for len(got) < 3 {
		f := r.read(c)
		got = append(got, string(f.Envelope.Content))
		r.ack(c, f)
	}
	if !slices.Equal(got, []string{"B", "C", "D"}) {
		t.Fatalf("delivered %q, want B C D", got)
	}
}

// An idle session holds no deliverer goroutine; what arrives (an envelope
// handed over directly, a live frame, room in the window) starts one,
// which ends once it has delivered.
func TestDelivererRunsOnlyWhileThereIsWork(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Window = 1 })
	delivering := func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "envelope.(*session).deliverer")
	}
	idle := func() { waitFor(t, "no deliverer", func() bool { return !delivering() }) }
	c := r.connect()
	idle()
	answeredA := r.send("A")
	fa := r.read(c)
	if string(fa.Envelope.Content) != "A" {
		t.Fatalf("got %q, want A", fa.Envelope.Content)
	}
	r.send("B") // waits for room in the window
	idle()
	r.ack(c, fa) // room: B goes out
	if err := <-answeredA; err != nil {
		t.Fatal(err)
	}
	fb := r.read(c)
	if string(fb.Envelope.Content) != "B" {
		t.Fatalf("got %q, want B", fb.Envelope.Content)
	}
	idle()
	live, _ := wire.Encode(&wire.Frame{Type: wire.TypeQueueEmpty})
	_ = r.bus.Publish(t.Context(), bus.Event{Kind: bus.Ephemeral, Account: account, Device: 1, Payload: live})
	if f := r.read(c); f.Type != wire.TypeQueueEmpty {
		t.Fatalf("got %s, want the live frame", f.Type)
	}
	idle()
}

// The deliverer takes the queue's front in two steps (front, then popIf,
// with the poke check between). If offer switches the queue to store mode
// in between, the front went to the store: popIf must leave the queue
// alone (it used to index an emptied slice and crash the process).
func TestPopIfAfterStoreMode(t *testing.T) {
	var q directQueue
	a, b := &outbound{}, &outbound{}
	q.items = []*outbound{a}
	if q.front() != a {
		t.Fatal("front is not the queued envelope")
	}
	q.mu.Lock() // what offer does when it finds the queue full
	q.storeMode, q.items = true, nil
	q.mu.Unlock()
	if q.popIf(a) {
		t.Fatal("popped an envelope the store has taken over")
	}
	q.items = []*outbound{b}
	if q.popIf(a) {
		t.Fatal("popped another envelope than the front")
	}
	if !q.popIf(b) || q.front() != nil {
		t.Fatal("the front was not popped")
	}
}
