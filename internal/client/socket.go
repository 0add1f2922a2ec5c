package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
)

// MessageSocket is a device's message socket (GET /v1/websocket). A
// goroutine reads every frame as it arrives: send_result frames go to the
// Send call waiting for them, all others queue for Next. The queue is not
// bounded by the client; the server bounds it (at most 256 unacked
// envelopes per connection, plus live ephemeral ones).
//
// Ack, Send and Close may be called concurrently with each other and with
// Next; Next itself must not be called from two goroutines at once.
type MessageSocket struct {
	conn   *websocket.Conn
	nextID atomic.Uint64
	wake   chan struct{} // capacity 1: the queue grew
	done   chan struct{} // closed when the reader has ended

	mu      sync.Mutex // guards the following fields
	queue   []queued
	pending map[string]chan *wire.Frame
	err     error // why the reader ended; set before done is closed
}

type queued struct {
	f   *wire.Frame
	err error
}

// DialMessages opens the device's message socket. A refused upgrade (a
// wrong credential, say) is an *APIError.
func (c *Client) DialMessages(ctx context.Context) (*MessageSocket, error) {
	h := http.Header{}
	if err := c.decorate(h, true); err != nil {
		return nil, err
	}
	conn, err := c.dial(ctx, "/v1/websocket", h)
	if err != nil {
		return nil, err
	}
	s := &MessageSocket{
		conn:    conn,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: make(map[string]chan *wire.Frame),
	}
	go s.readLoop()
	return s, nil
}

// dial opens a WebSocket at path with the header h, on the next node when
// the one in use does not answer.
func (c *Client) dial(ctx context.Context, path string, h http.Header) (*websocket.Conn, error) {
	for tries := 1; ; tries++ {
		at := c.cur.Load()
		conn, err := c.dialOnce(ctx, path, h)
		var ae *APIError
		down := err != nil && (!errors.As(err, &ae) || ae.Status >= 502 && ae.Status <= 504)
		if down && ctx.Err() == nil && tries < len(c.bases) && c.failover(at) {
			continue
		}
		return conn, err
	}
}

func (c *Client) dialOnce(ctx context.Context, path string, h http.Header) (*websocket.Conn, error) {
	conn, resp, err := websocket.Dial(ctx, c.endpoint(c.wsScheme(), path), &websocket.DialOptions{
		HTTPClient:      c.http,
		HTTPHeader:      h,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != 0 {
			// The dialer has read (at most 1 KiB of) the body already.
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			return nil, apiError(resp.StatusCode, b)
		}
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	conn.SetReadLimit(wire.MaxFrameSize)
	return conn, nil
}

func (s *MessageSocket) readLoop() {
	for {
		var f *wire.Frame
		var err error
		if rerr := wire.Read(context.Background(), s.conn, func(b []byte) error {
			f, err = wire.Decode(b)
			return nil
		}); rerr != nil {
			s.end(rerr)
			return
		}
		switch {
		case errors.Is(err, wire.ErrUnknownType):
			continue // a newer server's frame; the protocol says to ignore it
		case err != nil:
			s.push(queued{err: fmt.Errorf("message socket: %w", err)})
			continue
		}
		if f.Type == wire.TypeSendResult {
			s.mu.Lock()
			ch, ok := s.pending[f.RequestID]
			delete(s.pending, f.RequestID)
			s.mu.Unlock()
			if ok {
				ch <- f // buffered, one result per request id
				continue
			}
		}
		s.push(queued{f: f})
	}
}

func (s *MessageSocket) push(q queued) {
	s.mu.Lock()
	s.queue = append(s.queue, q)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *MessageSocket) end(err error) {
	s.mu.Lock()
	s.err = fmt.Errorf("message socket: %w", err)
	s.pending = nil
	s.mu.Unlock()
	close(s.done)
}

// Next returns the next frame from the server other than a send_result
// that a Send call is waiting for: an envelope, queue_empty, keys_low, an
// error frame, or an unmatched send_result. A frame the client cannot
// decode is returned as an error and the socket stays open. Frames queued
// before the socket ended are returned first; then Next returns the reason
// it ended (see CloseStatus). When ctx ends, Next returns ctx.Err() and the
// socket stays open.
func (s *MessageSocket) Next(ctx context.Context) (*wire.Frame, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			q := s.queue[0]
			s.queue[0] = queued{}
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return q.f, q.err
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-s.wake:
		case <-s.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Ack tells the server the envelopes ids are safely stored; the server
// deletes them. Several ids go in one frame (at most wire.MaxAckIDs): a
// client that stores a batch of envelopes acks the batch at once.
func (s *MessageSocket) Ack(ctx context.Context, ids ...string) error {
	switch {
	case len(ids) == 0:
		return nil
	case len(ids) == 1:
		return s.write(ctx, &wire.Frame{Type: wire.TypeAck, ID: ids[0]})
	}
	for len(ids) > 0 {
		n := min(len(ids), wire.MaxAckIDs)
		if err := s.write(ctx, &wire.Frame{Type: wire.TypeAck, IDs: ids[:n]}); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// Queued returns how many frames have arrived that Next has not returned
// yet: with none, a client that collects acks sends them.
func (s *MessageSocket) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Send sends like POST /v1/messages over the socket and waits for the
// matching send_result. A failed send is an *APIError with the status and
// body the REST route would have answered.
func (s *MessageSocket) Send(ctx context.Context, m *api.Send) (*api.SendResult, error) {
	return s.request(ctx, &wire.Frame{Type: wire.TypeSend, Send: m})
}

// GroupSend sends like POST /v1/groups/{id}/messages over the socket (g
// names the group) and waits for the matching send_result.
func (s *MessageSocket) GroupSend(ctx context.Context, g *api.GroupSend) (*api.SendResult, error) {
	return s.request(ctx, &wire.Frame{Type: wire.TypeGroupSend, GroupSend: g})
}

// Follow asks for presence frames about these accounts (replacing the
// previous list): one now for each account, then one at each change.
func (s *MessageSocket) Follow(ctx context.Context, accounts []string) error {
	return s.write(ctx, &wire.Frame{Type: wire.TypePresenceFollow, Follow: &api.Follow{Accounts: accounts}})
}

// request writes f with a new request id and waits for its send_result.
func (s *MessageSocket) request(ctx context.Context, f *wire.Frame) (*api.SendResult, error) {
	id := "r" + strconv.FormatUint(s.nextID.Add(1), 10)
	f.RequestID = id
	ch := make(chan *wire.Frame, 1)
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	s.pending[id] = ch
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		delete(s.pending, id) // a nil map after the end: a no-op
		s.mu.Unlock()
	}
	if err := s.write(ctx, f); err != nil {
		forget()
		return nil, err
	}
	select {
	case f := <-ch:
		return sendResult(f)
	case <-s.done:
		select {
		case f := <-ch: // answered just before the end
			return sendResult(f)
		default:
		}
		return nil, s.Err()
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

func sendResult(f *wire.Frame) (*api.SendResult, error) {
	if f.Status >= 200 && f.Status <= 299 && f.Result != nil {
		return f.Result, nil
	}
	e := &APIError{Status: f.Status}
	if f.Error != nil {
		e.Body = *f.Error
	}
	if e.Status == 0 {
		e.Status = http.StatusBadGateway // a malformed result: no status given
	}
	return nil, e
}

func (s *MessageSocket) write(ctx context.Context, f *wire.Frame) error {
	b, err := wire.Encode(f)
	if err != nil {
		return fmt.Errorf("encode %s frame: %w", f.Type, err)
	}
	if err := s.conn.Write(ctx, websocket.MessageText, b); err != nil {
		select {
		case <-s.done:
			return s.Err()
		default:
		}
		return fmt.Errorf("message socket: write %s: %w", f.Type, err)
	}
	return nil
}

// Done is closed when the socket has ended, by either side.
func (s *MessageSocket) Done() <-chan struct{} { return s.done }

// Err returns why the socket ended, or nil while it is open.
func (s *MessageSocket) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close closes the socket normally and waits for the reader to end. Frames
// not yet returned by Next are dropped; envelopes not acked are delivered
// again on the next connection.
func (s *MessageSocket) Close() error {
	select {
	case <-s.done:
		return nil // the peer or the network ended it already
	default:
	}
	err := s.conn.Close(websocket.StatusNormalClosure, "")
	<-s.done
	if err != nil && CloseStatus(err) != int(websocket.StatusNormalClosure) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close message socket: %w", err)
	}
	return nil
}

// CloseStatus returns the WebSocket close code in err (wire.Close* or a
// standard one), or -1 when err holds none.
func CloseStatus(err error) int {
	return int(websocket.CloseStatus(err))
}
