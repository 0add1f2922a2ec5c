package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// subjectPrefix namespaces Hush's subjects on a shared NATS.
const subjectPrefix = "hush."

// deliverTimeout bounds how long Deliver waits for another node's answer.
const deliverTimeout = 2 * time.Second

// NATS is the Bus between nodes. Each node subscribes only to the subjects
// of the topics it watches; its own publications are not echoed back to it
// (they are dispatched locally instead).
type NATS struct {
	nc     *nats.Conn
	log    *slog.Logger
	h      handlers
	msgs   chan *nats.Msg // every watched subject's messages, for dispatch
	closed chan struct{}  // closed when the connection has closed for good
	// dropped is set when NATS dropped messages past msgs; the dispatcher
	// resyncs once it has drained msgs.
	dropped atomic.Bool

	mu      sync.Mutex // guards the following fields
	watched map[string]*watch
}

type watch struct {
	sub  *nats.Subscription
	refs int
}

var _ Bus = (*NATS)(nil)

// natsBuffer is how many messages wait for dispatch. A node watches two
// subjects per connected device; their messages share this one buffer and
// one goroutine, not a goroutine per subscription (which nats.go gives a
// callback subscription), so an idle device costs the node no goroutine
// here. Past the buffer NATS drops messages; the node then resyncs, as
// after a reconnect.
const natsBuffer = 1 << 16

// DialNATS connects to the NATS server(s) at url. It keeps reconnecting
// for as long as the node runs.
func DialNATS(url string, log *slog.Logger) (*NATS, error) {
	b := &NATS{log: log, watched: make(map[string]*watch), msgs: make(chan *nats.Msg, natsBuffer), closed: make(chan struct{})}
	nc, err := nats.Connect(url,
		nats.Name("hushd"),
		nats.NoEcho(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			log.Info("nats reconnected")
			b.h.dispatch(Event{Kind: Resync})
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				// Reported once per subscription until it gets a message
				// again, so one overflow reports on many subscriptions,
				// and a subscription's later drops in the same overflow
				// not at all: one resync after the buffer drains covers
				// them all.
				if !b.dropped.Swap(true) {
					log.Warn("nats: events dropped; resyncing once the backlog is dispatched", "err", err)
				}
				select {
				case b.msgs <- nil: // wake the dispatcher, should it be idle by now
				default:
				}
				return
			}
			log.Warn("nats", "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	b.nc = nc
	go b.dispatchLoop()
	return b, nil
}

// dispatchLoop hands each watched subject's messages to the local
// handlers, in the order they came, until the connection closes; once the
// buffer is empty after a drop it tells them to resync.
func (b *NATS) dispatchLoop() {
	for {
		select {
		case m := <-b.msgs:
			if m != nil {
				b.receive(m)
			}
			if len(b.msgs) == 0 && b.dropped.Swap(false) {
				b.h.dispatch(Event{Kind: Resync})
			}
		case <-b.closed:
			return
		}
	}
}

// Close drains subscriptions, closes the connection and waits (a few
// seconds at most) for it to close.
func (b *NATS) Close() {
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
	}
	select {
	case <-b.closed:
	case <-time.After(5 * time.Second):
		b.nc.Close()
	}
}

// Publish dispatches e here and sends it to the nodes watching its topic.
func (b *NATS) Publish(_ context.Context, e Event) error {
	b.h.dispatch(e)
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.nc.Publish(subjectPrefix+e.Topic(), data)
}

// Deliver offers e here first, then asks the other nodes; one that took it
// answers.
func (b *NATS) Deliver(ctx context.Context, e Event) (bool, error) {
	if b.h.dispatch(e) {
		return true, nil
	}
	data, err := json.Marshal(e)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, deliverTimeout)
	defer cancel()
	msg, err := b.nc.RequestWithContext(ctx, subjectPrefix+e.Topic(), data)
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded):
		return false, nil
	case err != nil:
		return false, err
	}
	return string(msg.Data) == "taken", nil
}

// Subscribe registers a local handler.
func (b *NATS) Subscribe(fn Handler) func() { return b.h.subscribe(fn) }

// Watch subscribes to topic's subject while any watcher holds it.
func (b *NATS) Watch(topic string) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.watched[topic]
	if w == nil {
		sub, err := b.nc.ChanSubscribe(subjectPrefix+topic, b.msgs)
		if err != nil {
			// The connection is closed: nothing to watch; events will be
			// picked up from the store on the next poll.
			b.log.Warn("nats subscribe", "err", err)
			return func() {}
		}
		w = &watch{sub: sub}
		b.watched[topic] = w
	}
	w.refs++
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if w.refs--; w.refs == 0 {
				_ = w.sub.Unsubscribe()
				delete(b.watched, topic)
			}
		})
	}
}

func (b *NATS) receive(m *nats.Msg) {
	var e Event
	if err := json.Unmarshal(m.Data, &e); err != nil {
		b.log.Warn("nats: undecodable event", "subject", m.Subject, "err", err)
		return
	}
	taken := b.h.dispatch(e)
	if m.Reply != "" && taken {
		_ = m.Respond([]byte("taken"))
	}
}
