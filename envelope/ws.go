package envelope

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
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

	// A socket's read and write buffers, which it keeps for its lifetime.
	// Larger frames are read and written past them, straight to and from
	// the connection.
	readBuffer  = 512
	writeBuffer = 1024
)

// session is one device's live WebSocket. An idle session holds one
// goroutine, its reader, which takes acks and sends; a deliverer, which
// walks the mailbox by position, runs only while there is something to
// deliver (see kick).
type session struct {
	s      *Service
	ws     *websocket.Conn
	out    *corkConn // under ws: holds the deliverer's runs of frames
	dev    auth.Device
	conn   *conn
	ctx    context.Context    // the session; cancel ends it
	cancel context.CancelFunc // ends the session (not the socket I/O)
	io     context.Context    // socket I/O; outlives cancel until the close handshake
	endIO  context.CancelFunc
	addr   string // the client's, counted in Service.addrs
	// Undo start.
	unwatchDevice, unwatchAccount, stopPinger func()

	readDone chan struct{} // closed when the reader returns

	closeOnce sync.Once
	closeCode websocket.StatusCode
	closeWhy  string

	mu        sync.Mutex             // guards the following fields
	inflight  map[uuid.UUID]position // delivered, not yet deleted
	acking    map[uuid.UUID]struct{} // acked by the device, deletion not yet committed
	following map[string]func()      // followed account -> its unwatch

	// The deliverer's schedule, guarded by dmu: running while a deliverer
	// goroutine exists (or before delivery starts); again when there was
	// news since it last looked; stopped once the session ends.
	dmu        sync.Mutex
	running    bool
	again      bool
	stopped    bool
	delivering sync.WaitGroup

	// Set by the deliverer when what it has to deliver waits for room in
	// the window; acks kick it only then.
	roomWanted atomic.Bool

	// The deliverer's own state; only the running deliverer touches it.
	cursor         int64 // position of the last envelope fetched
	dirty          bool  // the store may hold envelopes not yet delivered
	queueEmptySent bool

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
	if err := s.takeConn(addr); err != nil {
		return err
	}
	up := &upgrader{ResponseWriter: w}
	ws, err := websocket.Accept(up, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.releaseConn(addr)
		s.sessions.Done()
		return nil // Accept answered the client already
	}
	ws.SetReadLimit(wire.MaxFrameSize)
	// The session lives as long as the socket, in its reader's goroutine:
	// the handler returns, and with it the HTTP server's goroutine, its
	// deep stack and the request, which an idle socket would otherwise
	// keep.
	ctx, cancel := context.WithCancel(context.Background())
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	ss := &session{
		s: s, ws: ws, out: up.out, dev: dev, ctx: ctx, cancel: cancel,
		addr:      addr,
		readDone:  make(chan struct{}),
		closeCode: websocket.StatusNormalClosure,
		sendSlots: make(chan struct{}, s.cfg.MaxSendsInFlight),
		inflight:  make(map[uuid.UUID]position),
		acking:    make(map[uuid.UUID]struct{}),
		following: make(map[string]func()),
		running:   true, // until start starts delivery
		dirty:     true, // the store may hold envelopes not yet delivered
	}
	ss.conn = &conn{
		id:    hex.EncodeToString(b),
		key:   deviceKey{dev.AccountID, dev.DeviceID},
		wake:  ss.kick,
		close: ss.close,
	}
	ss.start()
	return nil
}

// upgrader hands coder/websocket, which takes over the connection through
// http.Hijacker, buffers of readBuffer and writeBuffer bytes instead of
// the HTTP server's (4 KiB each), which an idle socket would keep, and a
// corkConn to write to.
type upgrader struct {
	http.ResponseWriter
	out *corkConn
}

func (u *upgrader) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Flush(); err != nil {
		c.Close()
		return nil, nil, err
	}
	// What the client sent after its request, already in the server's
	// buffer, is read first: by the connection itself, whatever its user
	// does with the buffered reader.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		c = &prefixedConn{Conn: c, r: io.MultiReader(bytes.NewReader(bytes.Clone(b)), c)}
	}
	u.out = &corkConn{Conn: c}
	return u.out, bufio.NewReadWriter(bufio.NewReaderSize(u.out, readBuffer), bufio.NewWriterSize(u.out, writeBuffer)), nil
}

// corkConn is a socket's connection whose writes can be held back and sent
// together. coder/websocket flushes every frame to the connection; while
// the deliverer writes a run of frames (a page of the mailbox), the socket
// is corked, the flushes land in a buffer, and the run goes out in one
// system call when it is uncorked, or whenever corkLimit bytes are held.
// Frames other goroutines write meanwhile (answers to sends, pings) go
// out with the run. The deliverer uncorks before anything that may wait.
//
// It also times writes out. Each write must end within writeTimeout: the
// connection's write deadline, refreshed when a write finds it less than
// deadlineSlack from now. A deadline costs a timer update, where a context
// with a timeout per write (coder/websocket's way) costs a timer, two
// contexts and a callback.
type corkConn struct {
	net.Conn
	mu       sync.Mutex // guards the following, and orders writes
	corked   bool
	held     *[]byte   // from corkBuffers while corked
	deadline time.Time // the write deadline set, zero if none
}

// deadlineSlack is how much of writeTimeout a write may find already used:
// each write gets between writeTimeout-deadlineSlack and writeTimeout.
const deadlineSlack = writeTimeout / 4

const corkLimit = 64 << 10

var corkBuffers = sync.Pool{New: func() any { b := make([]byte, 0, corkLimit); return &b }}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		if now := time.Now(); c.deadline.Sub(now) < writeTimeout-deadlineSlack {
			c.setDeadline(now.Add(writeTimeout))
		}
		return c.send(p)
	}
	*c.held = append(*c.held, p...)
	if len(*c.held) >= corkLimit {
		if err := c.sendHeld(writeTimeout); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// cork holds writes until uncork.
func (c *corkConn) cork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		c.corked, c.held = true, corkBuffers.Get().(*[]byte)
	}
}

// uncork sends what is held, within writeTimeout, and lets writes through.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return nil
	}
	err := c.sendHeld(writeTimeout)
	c.corked = false
	if cap(*c.held) <= 2*corkLimit { // not one grown by a large frame
		corkBuffers.Put(c.held)
	}
	c.held = nil
	return err
}

// Close sends what is held, if it can at once, then closes the connection:
// coder/websocket closes it right after writing its reply to the client's
// close frame, which may be held with what came before it. A write in
// progress holds mu, and a close is what ends a write that timed out, so
// Close does not wait for mu.
func (c *corkConn) Close() error {
	if c.mu.TryLock() {
		if c.corked {
			_ = c.sendHeld(time.Second)
		}
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

// sendHeld writes what is held within timeout; on failure it closes the
// connection.
func (c *corkConn) sendHeld(timeout time.Duration) error {
	if len(*c.held) == 0 {
		return nil
	}
	c.setDeadline(time.Now().Add(timeout))
	_, err := c.send(*c.held)
	*c.held = (*c.held)[:0]
	return err
}

// send writes p to the connection, and closes it if the write fails: part
// of a frame may have gone out, and nothing after it can.
func (c *corkConn) send(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.Conn.Close()
	}
	return n, err
}

func (c *corkConn) setDeadline(t time.Time) {
	c.deadline = t
	_ = c.Conn.SetWriteDeadline(t)
}

// prefixedConn is a connection whose first bytes were read already.
type prefixedConn struct {
	net.Conn
	r io.Reader // those bytes, then Conn
}

func (c *prefixedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// takeConn counts a socket from addr, and its session in sessions, unless
// addr has its maximum or the service is shutting down.
func (s *Service) takeConn(addr string) error {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	if s.down {
		return httpx.Errorf(http.StatusServiceUnavailable, api.CodeUnavailable, "server shutting down")
	}
	if s.cfg.MaxConnsPerAddr > 0 && s.addrs[addr] >= s.cfg.MaxConnsPerAddr {
		s.m.RateLimited.WithLabelValues("connections_per_address").Inc()
		return httpx.Errorf(http.StatusTooManyRequests, api.CodeRateLimited, "too many connections from this address")
	}
	s.addrs[addr]++
	s.sessions.Add(1)
	return nil
}

func (s *Service) isDown() bool {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.down
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

// start sets the session up in the calling goroutine (the HTTP server's,
// which ends when the handler returns) and leaves the socket to a
// goroutine of its own, the reader, whose stack stays small; shutdown
// tears the session down once it ends.
func (ss *session) start() {
	s, ctx := ss.s, ss.ctx
	if s.presence != nil {
		s.presence.Connected(ctx, ss.dev.AccountID)
	}
	// Watch before announcing, so that no event for this device is missed.
	ss.unwatchDevice = s.bus.Watch(bus.DeviceTopic(ss.dev.AccountID, ss.dev.DeviceID))
	ss.unwatchAccount = s.bus.Watch(bus.AccountTopic(ss.dev.AccountID))
	s.hub.add(ss.conn)
	if s.isDown() {
		ss.close(wire.CloseShuttingDown, "server shutting down") // closeAll may have missed it
	}
	s.m.Connections.Inc()
	if err := s.bus.Publish(ctx, bus.Event{Kind: bus.Connected, Account: ss.dev.AccountID, Device: ss.dev.DeviceID, Conn: ss.conn.id}); err != nil {
		s.log.WarnContext(ctx, "publish connect", "err", err)
	}
	if s.waker != nil {
		s.waker.Connected(ctx, ss.dev.AccountID, ss.dev.DeviceID)
	}
	// Socket I/O runs on io, which close() does not cancel: cancelling a
	// read or write would drop the connection without our close code.
	ss.io, ss.endIO = context.WithCancel(context.WithoutCancel(ctx))
	greeted := true
	if s.greet != nil {
		for _, f := range s.greet(ctx, ss.dev) {
			if ss.write(f) != nil {
				greeted = false
				break
			}
		}
	}
	if greeted {
		ss.startDelivery()
		ss.stopPinger = ss.pinger(ctx)
		go ss.readLoop()
	} else {
		ss.cancel()
		close(ss.readDone)
	}
	// Once the session ends, for whatever reason, shutdown closes the
	// socket and tears the session down, in a goroutine of its own.
	context.AfterFunc(ctx, ss.shutdown)
}

// shutdown ends the session: it lets the frame being handled and the
// sends in flight be answered, stops delivery, closes the socket with the
// session's close code, waits for the reader to return and undoes start.
func (ss *session) shutdown() {
	s, ctx := ss.s, ss.ctx
	ss.closeOnce.Do(func() {}) // freeze the close code
	ss.busy.Lock()
	ss.closing = true
	ss.busy.Unlock()
	ss.sends.Wait()
	ss.dmu.Lock()
	ss.stopped = true
	ss.dmu.Unlock()
	ss.delivering.Wait()
	_ = ss.ws.Close(ss.closeCode, ss.closeWhy)
	ss.endIO()
	_ = ss.out.Conn.Close() // ends a read or write still in progress (see rw)
	<-ss.readDone
	if ss.stopPinger != nil {
		ss.stopPinger()
	}
	// In the reverse order of start.
	s.m.Connections.Dec()
	s.hub.remove(ss.conn)
	// The session has left the hub. Envelopes it was handed and never
	// acked, or never even delivered (still in its direct queue, or
	// refused by it and stored, or stored with news it had not fetched
	// yet), wait in the mailbox or will once their hold ends; a send
	// stored while the session was still in the hub told nobody, taking
	// the session for the one to tell. So the device's other connection,
	// if any (on any node), is poked, and the device woken. The
	// deliverer has stopped: its state is read safely here.
	if ss.unacked() > 0 || ss.conn.direct.undelivered() || ss.dirty || ss.conn.poked.Load() {
		if err := s.bus.Publish(context.WithoutCancel(ctx), bus.Event{Kind: bus.Mailbox, Account: ss.dev.AccountID, Device: ss.dev.DeviceID}); err != nil {
			s.log.WarnContext(ctx, "publish mailbox event", "err", err)
		}
		if s.waker != nil {
			s.waker.Queued(ss.dev.AccountID, ss.dev.DeviceID)
		}
	}
	ss.unwatchAccount()
	ss.unwatchDevice()
	ss.unfollowAll()
	if s.presence != nil {
		// Last: once this node no longer answers for the device, the
		// presence asks the others.
		s.presence.Disconnected(context.WithoutCancel(ctx), ss.dev.AccountID)
	}
	s.releaseConn(ss.addr)
	s.sessions.Done()
}

// rw is the context of each read and write on a session's socket: one
// that is never done, for which coder/websocket sets up no timer and no
// callback per frame. Writes time out by the connection's write deadline
// instead (corkConn), and shutdown closes the connection, which ends a
// read or write still in progress.
var rw = context.Background()

func (ss *session) write(b []byte) error {
	return ss.wrote(ss.ws.Write(rw, websocket.MessageText, b))
}

// wrote takes the outcome of a write to the socket: one that timed out
// ends the session as too slow.
func (ss *session) wrote(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		ss.close(wire.CloseTooSlow, "client too slow")
	}
	return err
}

func (ss *session) writeFrame(f *wire.Frame) error {
	b, err := wire.Encode(f)
	if err != nil {
		return err
	}
	return ss.write(b)
}

// position is what a session knows of where an envelope it delivered sits
// in the mailbox (see Acked).
type position struct{ seq, after int64 }

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

// startDelivery starts the first deliverer: the session's greeting has
// gone out, and news that came before it is taken now.
func (ss *session) startDelivery() {
	ss.dmu.Lock()
	defer ss.dmu.Unlock()
	if ss.stopped {
		return
	}
	ss.delivering.Add(1)
	go ss.deliverer()
}

// kick tells the session there may be something to deliver (news in the
// mailbox, an envelope or live frame handed over, room in the window). It
// never blocks: it starts a deliverer unless one is running, which then
// takes another look before it ends. So an idle session holds no
// deliverer goroutine.
func (ss *session) kick() {
	ss.dmu.Lock()
	defer ss.dmu.Unlock()
	if ss.running || ss.stopped {
		ss.again = true
		return
	}
	ss.running = true
	ss.delivering.Add(1)
	go ss.deliverer()
}

// deliverer delivers until there is nothing left to do, looking again
// while kicks come in; it ends the session when delivery fails.
func (ss *session) deliverer() {
	defer ss.delivering.Done()
	for {
		ss.dmu.Lock()
		ss.again = false
		ss.dmu.Unlock()
		ok := ss.deliverAll()
		ss.dmu.Lock()
		if ok && ss.again {
			ss.dmu.Unlock()
			continue
		}
		ss.running = false
		ss.stopped = ss.stopped || !ok
		ss.dmu.Unlock()
		if !ok {
			ss.cancel()
		}
		return
	}
}

// deliverAll sends the mailbox in order, keeping at most Window unacked,
// then "queue_empty", then whatever came since: envelopes handed over
// directly while the mailbox is caught up, else what a poke says is in the
// store, and live frames. It returns true when it would have to wait for
// news, false when the session is over.
func (ss *session) deliverAll() (ok bool) {
	s, ctx := ss.s, ss.ctx
	q := &ss.conn.direct
	// Frames written in one pass go out together; the socket is uncorked
	// before the store is asked for more, and at the end.
	ss.out.cork()
	defer func() {
		if err := ss.out.uncork(); err != nil {
			ss.wrote(err)
			ok = false
		}
	}()
	for {
		if ctx.Err() != nil {
			return false
		}
		if ss.conn.poked.Swap(false) {
			ss.dirty = true
		}
		inflight := ss.inflightLen()
		room := s.cfg.Window - inflight
		// Refill the window in large steps: a fetch per freed slot would
		// cost a store round trip per envelope.
		if ss.dirty && room > 0 && (inflight == 0 || room >= min(fetchBatch, s.cfg.Window/2)) {
			limit := min(room, fetchBatch)
			if err := ss.out.uncork(); err != nil {
				ss.wrote(err)
				return false
			}
			start := time.Now()
			batch, err := s.store.Fetch(ctx, ss.dev.AccountID, ss.dev.DeviceID, ss.cursor, limit)
			s.m.Since("fetch", start)
			if errors.Is(err, httpx.ErrUnavailable) {
				// The store is away: keep the socket, retry after a pause.
				s.log.WarnContext(ctx, "fetch mailbox: store unavailable; retrying", "err", err)
				select {
				case <-ctx.Done():
					return false
				case <-time.After(storeRetry):
				}
				continue
			}
			if err != nil {
				if ctx.Err() == nil {
					s.log.ErrorContext(ctx, "fetch mailbox", "account", ss.dev.AccountID, "device", ss.dev.DeviceID, "err", err)
					ss.close(int(websocket.StatusInternalError), "mailbox unavailable; reconnect")
				}
				return false
			}
			ss.out.cork()
			for i := range batch {
				e := &batch[i]
				ss.cursor = e.Seq
				if err := ss.deliver(e, time.UnixMilli(e.ServerTimestamp)); err != nil {
					return false
				}
			}
			if len(batch) == limit {
				continue
			}
			ss.dirty = false
			q.caughtUp()
			if !ss.queueEmptySent {
				if err := ss.writeFrame(&wire.Frame{Type: wire.TypeQueueEmpty}); err != nil {
					return false
				}
				ss.queueEmptySent = true
			}
			continue
		}
		// Envelopes handed over directly go out once the store is caught
		// up; a poke that came first names older envelopes, fetched first.
		if !ss.dirty && room > 0 {
			if o := q.front(); o != nil {
				if ss.conn.poked.Swap(false) {
					ss.dirty = true
					continue
				}
				if !q.popIf(o) {
					continue // the store has it now
				}
				if err := ss.deliver(&o.env, o.at); err != nil {
					return false
				}
				continue
			}
		}
		if f := ss.conn.takeLive(); f != nil {
			if err := ss.write(f); err != nil {
				return false
			}
			continue
		}
		// Nothing more can go out now. What is still waiting (the store
		// not yet caught up, or envelopes handed over) waits for room in
		// the window, and only then do acks need to kick: a kick per ack
		// would start a deliverer per ack that finds nothing to do. The
		// flag is set before the window is looked at again, and an ack
		// frees room before it reads the flag, so either that ack kicks
		// or this look sees the room it freed.
		if ss.dirty || q.front() != nil {
			ss.roomWanted.Store(true)
			if ss.inflightLen() < inflight {
				continue
			}
			return true
		}
		ss.roomWanted.Store(false)
		return true
	}
}

// deliver writes one envelope unless it is already in flight (an envelope
// handed over directly may also have been stored by now).
func (ss *session) deliver(e *Stored, sent time.Time) error {
	ss.mu.Lock()
	_, dup := ss.inflight[e.ID]
	if !dup {
		// One handed over directly has no position yet; the one it gets
		// is past what this session has fetched.
		ss.inflight[e.ID] = position{seq: e.Seq, after: ss.cursor}
	}
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
	defer close(ss.readDone)
	defer ss.cancel()
	raw := ss.out.Conn
	for {
		_, r, err := ss.ws.Reader(rw)
		if err != nil {
			return
		}
		// Waiting for a message is up to the pinger; once its first
		// frame is in, the rest must come within MessageTimeout, so
		// that continuation frames trickled in cannot hold the socket
		// and its growing buffer forever. coder/websocket bounds a
		// message's size (SetReadLimit) but not its time, save by the
		// context given to Reader, which would bound the wait before
		// the message too, and costs a timer and a callback per
		// frame; a read deadline on the connection costs neither.
		_ = raw.SetReadDeadline(time.Now().Add(ss.s.cfg.MessageTimeout))
		err = wire.ReadBody(r, func(b []byte) error {
			_ = raw.SetReadDeadline(time.Time{})
			ss.busy.Lock()
			defer ss.busy.Unlock()
			if ss.closing {
				return errClosing
			}
			return ss.handle(b)
		})
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				ss.close(wire.CloseMessageTimeout, "message not completed in time")
			}
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
		// Each id on its own: a bad one does not stop the others.
		ids, bad := f.AckIDs(), 0
		for _, id := range ids {
			if ss.ack(id) != nil {
				bad++
			}
		}
		switch {
		case bad == 0:
			return nil
		case len(ids) == 1:
			return ss.writeFrame(errorFrame(api.CodeBadRequest, errBadAckID.Error()))
		default:
			return ss.writeFrame(errorFrame(api.CodeBadRequest, fmt.Sprintf("ack: %d of %d ids are not envelope ids", bad, len(ids))))
		}
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

var (
	errBadAckID = errors.New("ack: id is not an envelope id")
	errClosing  = errors.New("session closing")
)

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
	pos := ss.inflight[u] // none for an envelope not delivered here: anywhere in the mailbox
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
		if was && ss.roomWanted.Load() {
			ss.kick() // room in the window, which the deliverer waits for
		}
	}
	if !ss.s.ackLive(k, done) {
		ss.s.acks.Submit([]Acked{{AckKey: k, Seq: pos.seq, After: pos.after}}, done)
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
