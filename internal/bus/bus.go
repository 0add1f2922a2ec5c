// Package bus carries events about devices between the parts of a node and,
// over NATS, between nodes: "new envelopes in this mailbox", "this
// ephemeral envelope for this device", "this device connected elsewhere",
// "this device was removed", "this device's prekeys run low", "this
// provisioning message for that address".
//
// Events are hints and live deliveries, never the record: a lost event
// delays a delivery until the next poll or connect (mailboxes are read from
// the store), it never loses an envelope. A node receives only the events of
// topics it watches (the devices connected to it), so the traffic each node
// sees grows with its own connections, not with the whole system. Local is
// the in-process bus of the embedded profile; NATS the networked one.
package bus

import (
	"context"
	"strconv"
	"sync"
)

// Kind says what an Event means.
type Kind uint8

const (
	// Mailbox: the device has new stored envelopes.
	Mailbox Kind = iota + 1
	// Ephemeral: deliver Payload (an encoded frame) if the device is online.
	Ephemeral
	// Connected: the device opened connection Conn; others must close.
	Connected
	// Removed: the device (every device when Device is 0) is gone.
	Removed
	// KeysLow: the device should upload more prekeys (Payload: the frame).
	KeysLow
	// Provision: Payload is a provisioning message for address Conn.
	Provision
	// Resync: events may have been lost (the bus reconnected); every
	// mailbox on this node should be read again. Only dispatched locally.
	Resync
	// DevicesChanged: the account's set of devices changed (a device was
	// added or removed, or the account registered again). Every node
	// hears it, on DevicesTopic, to drop what it cached.
	DevicesChanged
	// Online asks (with Deliver) whether a device of the account is
	// connected to some node.
	Online
	// PresenceChanged: Payload is a presence frame about the account, for
	// the connections following it, on PresenceTopic.
	PresenceChanged
)

// DevicesTopic carries DevicesChanged events to every node.
const DevicesTopic = "devices"

// Event is about one device, every device of an account (Device 0), or a
// provisioning address (Kind Provision, address in Conn).
type Event struct {
	Kind    Kind   `json:"k"`
	Account string `json:"a,omitempty"`
	Device  uint32 `json:"d,omitempty"`
	Conn    string `json:"c,omitempty"`
	Payload []byte `json:"p,omitempty"`
}

// Topic is the routing key of e.
func (e Event) Topic() string {
	switch {
	case e.Kind == Provision:
		return ProvisionTopic(e.Conn)
	case e.Kind == DevicesChanged:
		return DevicesTopic
	case e.Kind == PresenceChanged:
		return PresenceTopic(e.Account)
	case e.Device == 0:
		return AccountTopic(e.Account)
	}
	return DeviceTopic(e.Account, e.Device)
}

// DeviceTopic carries the events of one device.
func DeviceTopic(account string, device uint32) string {
	return "d." + account + "." + strconv.FormatUint(uint64(device), 10)
}

// AccountTopic carries the events of every device of an account.
func AccountTopic(account string) string { return "a." + account }

// PresenceTopic carries an account's presence changes to the nodes whose
// connections follow it.
func PresenceTopic(account string) string { return "s." + account }

// ProvisionTopic carries provisioning messages for one address.
func ProvisionTopic(address string) string { return "p." + address }

// Handler takes an event and reports whether it had a taker here (a
// connection, a waiting provisioning socket). It must not block.
type Handler func(Event) bool

// Bus routes events to the handlers of every node that watches their topic.
type Bus interface {
	// Publish hands e to this node's handlers and to every other node
	// that watches e.Topic().
	Publish(ctx context.Context, e Event) error
	// Deliver is Publish for an event that needs exactly one taker; it
	// reports whether some node took it.
	Deliver(ctx context.Context, e Event) (bool, error)
	// Subscribe adds a handler for this node's events until the returned
	// func is called.
	Subscribe(h Handler) (unsubscribe func())
	// Watch asks for other nodes' events on topic until the returned func
	// is called. Watches nest.
	Watch(topic string) (unwatch func())
}

// handlers is the local dispatch every Bus shares.
type handlers struct {
	mu   sync.RWMutex // guards the following fields
	subs map[int]Handler
	next int
}

func (h *handlers) subscribe(fn Handler) func() {
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[int]Handler)
	}
	id := h.next
	h.next++
	h.subs[id] = fn
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.subs, id)
		h.mu.Unlock()
	}
}

func (h *handlers) dispatch(e Event) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	taken := false
	for _, fn := range h.subs {
		if fn(e) {
			taken = true
		}
	}
	return taken
}

// Local is the in-process Bus.
type Local struct{ h handlers }

var _ Bus = (*Local)(nil)

// NewLocal returns an empty in-process bus.
func NewLocal() *Local { return &Local{} }

// Publish hands e to every handler before it returns.
func (l *Local) Publish(_ context.Context, e Event) error {
	l.h.dispatch(e)
	return nil
}

// Deliver hands e to every handler and reports whether one took it.
func (l *Local) Deliver(_ context.Context, e Event) (bool, error) { return l.h.dispatch(e), nil }

// Subscribe registers a handler.
func (l *Local) Subscribe(fn Handler) func() { return l.h.subscribe(fn) }

// Watch is a no-op: one node sees every event.
func (l *Local) Watch(string) func() { return func() {} }
