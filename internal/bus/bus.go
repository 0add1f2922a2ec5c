// Package bus carries events about devices between the parts of a node and,
// with a networked implementation, between nodes: "new envelopes in this
// mailbox", "this ephemeral envelope for this device", "this device connected
// elsewhere", "this device was removed", "this device's prekeys run low".
//
// Events are hints and live deliveries, never the record: a lost event
// delays a delivery until the next connect (mailboxes are read from the
// store), it never loses an envelope. Local is the in-process bus of the
// embedded profile.
package bus

import (
	"context"
	"sync"
)

// Kind says what an Event means.
type Kind uint8

const (
	// Mailbox: the device has new stored envelopes.
	Mailbox Kind = iota + 1
	// Ephemeral: deliver Payload (an encoded envelope) if the device is online.
	Ephemeral
	// Connected: the device opened connection Conn; others must close.
	Connected
	// Removed: the device is gone; close its connections.
	Removed
	// KeysLow: the device should upload more prekeys (Payload: counts frame).
	KeysLow
)

// Event is about one device. Device 0 means every device of the account.
type Event struct {
	Kind    Kind
	Account string
	Device  uint32
	Conn    string
	Payload []byte
}

// Bus publishes events to every subscriber on every node.
type Bus interface {
	Publish(ctx context.Context, e Event) error
	// Subscribe calls fn for every event until the returned func is called.
	// fn must not block.
	Subscribe(fn func(Event)) (unsubscribe func())
}

// Local is the in-process Bus.
type Local struct {
	mu   sync.RWMutex // guards the following fields
	subs map[int]func(Event)
	next int
}

var _ Bus = (*Local)(nil)

// NewLocal returns an empty in-process bus.
func NewLocal() *Local { return &Local{subs: make(map[int]func(Event))} }

// Publish hands e to every subscriber before it returns.
func (l *Local) Publish(_ context.Context, e Event) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, fn := range l.subs {
		fn(e)
	}
	return nil
}

// Subscribe registers fn.
func (l *Local) Subscribe(fn func(Event)) func() {
	l.mu.Lock()
	id := l.next
	l.next++
	l.subs[id] = fn
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.subs, id)
		l.mu.Unlock()
	}
}
