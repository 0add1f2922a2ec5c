package envelope

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/httpx"
)

const (
	fetchBatch   = 100
	writeTimeout = 30 * time.Second
	storeRetry   = time.Second // pause before fetching again from a store that is away
	ackRetries   = 15          // how many pauses an ack waits out before giving up
	liveQueue    = 16          // live frames (ephemeral, keys_low) waiting for a session to take them
)

// session is one device's live WebSocket: a reader that takes acks and
// sends, and a deliverer that walks the mailbox by position.
type session struct {
	s      *Service
	ws     *websocket.Conn
	dev    auth.Device
	conn   *conn
	cancel context.CancelFunc // ends the session (not the socket I/O)
	io     context.Context    // socket I/O; outlives cancel until the close handshake

	closeOnce sync.Once
	closeCode websocket.StatusCode
	closeWhy  string

	space chan struct{} // an ack freed room in the window; capacity 1

	mu        sync.Mutex // guards the following fields
	inflight  map[uuid.UUID]struct{}
	acking    map[uuid.UUID]struct{} // acked by the device, deletion not yet committed
	following map[string]func()      // followed account -> its unwatch

	// busy is held while a client frame is handled, so that the close
	// handshake waits for in-flight sends to be answered.
	busy      sync.Mutex
	closing   bool           // guarded by busy
	sends     sync.WaitGroup // sends being answered
	sendSlots chan struct{}  // one token per send in flight
}

func (s *Service) handleWebSocket(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	if err := httpx.CheckUpgrade(r); err != nil {
		return err
	}
	addr := httpx.ClientAddr(r)
	if !s.takeConn(addr) {
		return httpx.Errorf(http.StatusTooManyRequests, api.CodeRateLimited, "too many connections from this address")
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.releaseConn(addr)
		return nil // Accept answered the client already
	}
	ws.SetReadLimit(wire.MaxFrameSize)
	// The session lives as long as the socket, in a goroutine of its own:
	// the handler returns, and with it the HTTP server's goroutine, its
	// deep stack and the request, which an idle socket would otherwise
	// keep.
	ctx, cancel := context.WithCancel(context.Background())
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	ss := &session{
		s: s, ws: ws, dev: dev, cancel: cancel,
		closeCode: websocket.StatusNormalClosure,
		space:     make(chan struct{}, 1),
		sendSlots: make(chan struct{}, s.cfg.MaxSendsInFlight),
		inflight:  make(map[uuid.UUID]struct{}),
		acking:    make(map[uuid.UUID]struct{}),
		following: make(map[string]func()),
	}
	ss.conn = &conn{
		direct: directQueue{ready: make(chan struct{}, 1)},
		id:     hex.EncodeToString(b),
		key:    deviceKey{dev.AccountID, dev.DeviceID},
		notify: make(chan struct{}, 1),
		live:   make(chan []byte, liveQueue),
		close:  ss.close,
	}
	s.sessions.Add(1)
	go func() {
		defer s.sessions.Done()
		defer s.releaseConn(addr)
		defer cancel()
		ss.run(ctx)
	}()
	return nil
}

// takeConn counts a socket from addr unless addr has its maximum.
func (s *Service) takeConn(addr string) bool {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	if s.cfg.MaxConnsPerAddr > 0 && s.addrs[addr] >= s.cfg.MaxConnsPerAddr {
		s.m.RateLimited.WithLabelValues("connections_per_address").Inc()
		return false
	}
	s.addrs[addr]++
	return true
}

func (s *Service) releaseConn(addr string) {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	if s.addrs[addr]--; s.addrs[addr] <= 0 {
		delete(s.addrs, addr)
	}
}

// close asks the session to end with code; it never blocks, so the hub may
// call it from a bus callback.
func (ss *session) close(code int, why string) {
	ss.closeOnce.Do(func() {
		ss.closeCode, ss.closeWhy = websocket.StatusCode(code), why
	})
	ss.cancel()
}

func (ss *session) run(ctx context.Context) {
	s := ss.s
	if s.presence != nil {
		// Deferred first, so it runs last: once this node no longer
		// answers for the device, the presence asks the others.
		s.presence.Connected(ctx, ss.dev.AccountID)
		defer s.presence.Disconnected(context.WithoutCancel(ctx), ss.dev.AccountID)
	}
	defer ss.unfollowAll()
	// Watch before announcing, so that no event for this device is missed.
	defer s.bus.Watch(bus.DeviceTopic(ss.dev.AccountID, ss.dev.DeviceID))()
	defer s.bus.Watch(bus.AccountTopic(ss.dev.AccountID))()
	// Runs after the session left the hub: envelopes it was handed and
	// never acked wait in the mailbox, so the device is woken for them.
	defer func() {
		if s.waker != nil && ss.unacked() > 0 {
			s.waker.Queued(ss.dev.AccountID, ss.dev.DeviceID)
		}
	}()
	s.hub.add(ss.conn)
	defer s.hub.remove(ss.conn)
	s.m.Connections.Inc()
	defer s.m.Connections.Dec()
	if err := s.bus.Publish(ctx, bus.Event{Kind: bus.Connected, Account: ss.dev.AccountID, Device: ss.dev.DeviceID, Conn: ss.conn.id}); err != nil {
		s.log.WarnContext(ctx, "publish connect", "err", err)
	}
	if s.waker != nil {
		s.waker.Connected(ctx, ss.dev.AccountID, ss.dev.DeviceID)
	}
	// Socket I/O runs on io, which close() does not cancel: cancelling a
	// read or write would drop the connection without our close code.
	io, endIO := context.WithCancel(context.WithoutCancel(ctx))
	defer endIO()
	ss.io = io
	if s.greet != nil {
		for _, f := range s.greet(ctx, ss.dev) {
			if ss.write(f) != nil {
				return
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ss.readLoop() }()
	stopPinger := ss.pinger(ctx)
	defer stopPinger()
	ss.deliverLoop(ctx)
	ss.cancel()
	ss.closeOnce.Do(func() {}) // freeze the close code
	ss.busy.Lock()
	ss.closing = true
	ss.busy.Unlock()
	ss.sends.Wait()
	_ = ss.ws.Close(ss.closeCode, ss.closeWhy)
	endIO()
	wg.Wait()
}

func (ss *session) write(b []byte) error {
	ctx, cancel := context.WithTimeout(ss.io, writeTimeout)
	defer cancel()
	if err := ss.ws.Write(ctx, websocket.MessageText, b); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			ss.close(wire.CloseTooSlow, "client too slow")
		}
		return err
	}
	return nil
}

func (ss *session) writeFrame(f *wire.Frame) error {
	b, err := wire.Encode(f)
	if err != nil {
		return err
	}
	return ss.write(b)
}

func (ss *session) inflightLen() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.inflight)
}

// unacked counts envelopes written to the device that it has not acked.
func (ss *session) unacked() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for id := range ss.inflight {
		if _, ok := ss.acking[id]; !ok {
			n++
		}
	}
	return n
}

// deliverLoop sends the mailbox in order, keeping at most Window unacked,
// then "queue_empty", then whatever arrives: envelopes handed over directly
// while the mailbox is caught up, else what a poke says is in the store.
func (ss *session) deliverLoop(ctx context.Context) {
	s := ss.s
	var cursor int64
	queueEmptySent := false
	dirty := true // the store may hold envelopes not yet delivered
	q := &ss.conn.direct
	for {
		inflight := ss.inflightLen()
		room := s.cfg.Window - inflight
		// Refill the window in large steps: a fetch per freed slot would
		// cost a store round trip per envelope.
		if dirty && room > 0 && (inflight == 0 || room >= min(fetchBatch, s.cfg.Window/2)) {
			limit := min(room, fetchBatch)
			start := time.Now()
			batch, err := s.store.Fetch(ctx, ss.dev.AccountID, ss.dev.DeviceID, cursor, limit)
			s.m.Since("fetch", start)
			if errors.Is(err, httpx.ErrUnavailable) {
				// The store is away: keep the socket, retry after a pause.
				s.log.WarnContext(ctx, "fetch mailbox: store unavailable; retrying", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(storeRetry):
				}
				continue
			}
			if err != nil {
				if ctx.Err() == nil {
					s.log.ErrorContext(ctx, "fetch mailbox", "account", ss.dev.AccountID, "device", ss.dev.DeviceID, "err", err)
					ss.close(int(websocket.StatusInternalError), "mailbox unavailable; reconnect")
				}
				return
			}
			for i := range batch {
				e := &batch[i]
				cursor = e.Seq
				if err := ss.deliver(e, time.UnixMilli(e.ServerTimestamp)); err != nil {
					return
				}
			}
			if len(batch) == limit {
				continue
			}
			dirty = false
			q.caughtUp()
			if !queueEmptySent {
				if err := ss.writeFrame(&wire.Frame{Type: wire.TypeQueueEmpty}); err != nil {
					return
				}
				queueEmptySent = true
			}
			continue
		}
		// Envelopes handed over directly go out once the store is caught
		// up; a poke that came first names older envelopes, fetched first.
		if !dirty && room > 0 {
			if o := q.front(); o != nil {
				select {
				case <-ss.conn.notify:
					dirty = true
					continue
				default:
				}
				q.pop()
				if err := ss.deliver(&o.env, o.at); err != nil {
					return
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ss.conn.notify:
			dirty = true
		case <-ss.space:
		case <-q.ready:
		case f := <-ss.conn.live:
			if err := ss.write(f); err != nil {
				return
			}
		}
	}
}

// deliver writes one envelope unless it is already in flight (an envelope
// handed over directly may also have been stored by now).
func (ss *session) deliver(e *Stored, sent time.Time) error {
	ss.mu.Lock()
	_, dup := ss.inflight[e.ID]
	ss.inflight[e.ID] = struct{}{}
	ss.mu.Unlock()
	if dup {
		return nil
	}
	if err := ss.writeFrame(&wire.Frame{Type: wire.TypeEnvelope, Envelope: toWire(e)}); err != nil {
		return err
	}
	ss.s.m.Delivered.Inc()
	ss.s.m.DeliverLatency.Observe(time.Since(sent).Seconds())
	return nil
}

func toWire(e *Stored) *wire.Envelope {
	return &wire.Envelope{
		ID: e.ID.String(), SourceAccount: e.SourceAccount, SourceDevice: e.SourceDevice,
		Type: e.Type, Content: e.Content, ServerTimestamp: e.ServerTimestamp, Group: e.Group,
	}
}

// readLoop takes the client's frames until the socket ends.
func (ss *session) readLoop() {
	defer ss.cancel()
	for {
		_, b, err := ss.ws.Read(ss.io)
		if err != nil {
			return
		}
		ss.busy.Lock()
		if ss.closing {
			ss.busy.Unlock()
			return
		}
		err = ss.handle(b)
		ss.busy.Unlock()
		if err != nil {
			return
		}
	}
}

// handle takes one client frame; it returns an error only when the socket
// is gone.
func (ss *session) handle(b []byte) error {
	f, err := wire.Decode(b)
	if err != nil {
		return ss.writeFrame(errorFrame(api.CodeBadRequest, err.Error()))
	}
	switch f.Type {
	case wire.TypeAck:
		if err := ss.ack(f.ID); err != nil {
			return ss.writeFrame(errorFrame(api.CodeBadRequest, err.Error()))
		}
		return nil
	case wire.TypeSend:
		return ss.send(f, func() (*accepted, error) { return ss.s.accept(ss.io, ss.dev, f.Send) })
	case wire.TypeGroupSend:
		return ss.send(f, func() (*accepted, error) { return ss.s.acceptGroup(ss.io, ss.dev, f.GroupSend) })
	case wire.TypePresenceFollow:
		return ss.follow(f.Follow)
	default:
		return ss.writeFrame(errorFrame(api.CodeBadRequest, "frame type "+f.Type+" is not sent by clients"))
	}
}

func errorFrame(code, msg string) *wire.Frame {
	return &wire.Frame{Type: wire.TypeError, Error: &api.Error{Code: code, Message: msg}}
}

var errBadAckID = errors.New("ack: id is not an envelope id")

// ack queues the deletion of an envelope; the delivery window frees up once
// it is committed. A failed deletion is logged and the envelope delivered
// again on the next connection (at-least-once).
func (ss *session) ack(id string) error {
	u, err := uuid.Parse(id)
	if err != nil {
		return errBadAckID
	}
	k := AckKey{AccountID: ss.dev.AccountID, DeviceID: ss.dev.DeviceID, ID: u}
	ss.mu.Lock()
	ss.acking[u] = struct{}{}
	ss.mu.Unlock()
	done := func(err error) {
		ss.mu.Lock()
		delete(ss.acking, u)
		if err != nil {
			ss.mu.Unlock()
			return
		}
		_, was := ss.inflight[u]
		delete(ss.inflight, u)
		ss.mu.Unlock()
		if was {
			select {
			case ss.space <- struct{}{}:
			default:
			}
		}
	}
	if !ss.s.ackLive(k, done) {
		ss.s.acks.submit([]AckKey{k}, done)
	}
	return nil
}

// send accepts a client's send frame in the reader, so that a device's
// sends keep their order, and answers it from a goroutine once it is durable
// or acked; past MaxSendsInFlight unanswered sends the reader waits. It
// returns an error only when the socket is gone.
func (ss *session) send(f *wire.Frame, accept func() (*accepted, error)) error {
	a, err := accept()
	if err != nil {
		return ss.answer(f, nil, err)
	}
	ss.sendSlots <- struct{}{}
	ss.sends.Add(1)
	go func() {
		defer ss.sends.Done()
		defer func() { <-ss.sendSlots }()
		res, err := a.answer(ss.io)
		_ = ss.answer(f, res, err) // a failed write ends the reader too
	}()
	return nil
}

func (ss *session) answer(f *wire.Frame, res *api.SendResult, err error) error {
	out := &wire.Frame{Type: wire.TypeSendResult, RequestID: f.RequestID, Status: http.StatusOK, Result: res}
	if err != nil {
		var he *httpx.Error
		if !errors.As(err, &he) {
			ss.s.log.ErrorContext(ss.io, "send over websocket", "err", err)
			he = httpx.Errorf(http.StatusInternalServerError, api.CodeInternal, "internal error")
		}
		out.Status, out.Result, out.Error = he.Status, nil, &he.Body
	}
	return ss.writeFrame(out)
}

// pinger pings the peer every PingInterval from a timer, so that an idle
// session holds no goroutine for it, and drops a peer that stops answering.
// stop ends it.
func (ss *session) pinger(ctx context.Context) (stop func()) {
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	t = time.AfterFunc(ss.s.cfg.PingInterval, func() {
		pctx, cancel := context.WithTimeout(ss.io, ss.s.cfg.PingInterval)
		err := ss.ws.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				ss.close(int(websocket.StatusGoingAway), "no pong")
			}
			return
		}
		mu.Lock()
		if !stopped {
			t.Reset(ss.s.cfg.PingInterval)
		}
		mu.Unlock()
	})
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}
