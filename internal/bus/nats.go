package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	nc  *nats.Conn
	log *slog.Logger
	h   handlers

	mu      sync.Mutex // guards the following fields
	watched map[string]*watch
}

type watch struct {
	sub  *nats.Subscription
	refs int
}

var _ Bus = (*NATS)(nil)

// DialNATS connects to the NATS server(s) at url. It keeps reconnecting
// for as long as the node runs.
func DialNATS(url string, log *slog.Logger) (*NATS, error) {
	b := &NATS{log: log, watched: make(map[string]*watch)}
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
	)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	b.nc = nc
	return b, nil
}

// Close drains subscriptions and closes the connection.
func (b *NATS) Close() {
	_ = b.nc.Drain()
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
		sub, err := b.nc.Subscribe(subjectPrefix+topic, b.receive)
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
