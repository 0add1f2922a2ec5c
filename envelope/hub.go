package envelope

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/bus"
)

type deviceKey struct {
	account string
	device  uint32
}

// conn is the hub's view of one live WebSocket.
type conn struct {
	id     string
	key    deviceKey
	poked  atomic.Bool // the mailbox has news
	direct directQueue // envelopes handed over directly (see live.go)
	wake   func()      // tells the session there is news; never blocks
	close  func(code int, reason string)

	liveMu sync.Mutex
	live   [][]byte // encoded frames to write as they are (ephemeral, keys_low); at most liveQueue
}

// poke marks the mailbox as changed without blocking.
func (c *conn) poke() {
	c.poked.Store(true)
	c.wake()
}

// offer queues a live frame, dropping it when the client is far behind:
// live frames are best-effort by definition.
func (c *conn) offer(frame []byte) {
	c.liveMu.Lock()
	ok := len(c.live) < liveQueue
	if ok {
		c.live = append(c.live, frame)
	}
	c.liveMu.Unlock()
	if ok {
		c.wake()
	}
}

// takeLive returns the oldest queued live frame, or nil.
func (c *conn) takeLive() []byte {
	c.liveMu.Lock()
	defer c.liveMu.Unlock()
	if len(c.live) == 0 {
		return nil
	}
	f := c.live[0]
	c.live[0] = nil
	c.live = c.live[1:]
	if len(c.live) == 0 {
		c.live = nil
	}
	return f
}

// hub tracks this node's live connections and routes bus events to them.
// Every send and every answer looks a device up, so lookups share a read
// lock, and connections are indexed by account, so that an event for a
// whole account looks at that account's connections only.
type hub struct {
	mu        sync.RWMutex                  // guards the following fields
	conns     map[string][]*conn            // account -> its devices' connections (a few: a slice costs less than a map)
	n         int                           // connections in conns
	followers map[string]map[*conn]struct{} // account -> connections following its presence
}

func newHub() *hub {
	return &hub{conns: make(map[string][]*conn), followers: make(map[string]map[*conn]struct{})}
}

func (h *hub) follow(account string, c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.followers[account] == nil {
		h.followers[account] = make(map[*conn]struct{})
	}
	h.followers[account][c] = struct{}{}
}

func (h *hub) unfollow(account string, c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.followers[account], c)
	if len(h.followers[account]) == 0 {
		delete(h.followers, account)
	}
}

// offerPresence hands a presence frame to the connections following its
// account.
func (h *hub) offerPresence(e bus.Event) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.followers[e.Account] {
		c.offer(e.Payload)
	}
	return len(h.followers[e.Account]) > 0
}

// add registers c, displacing the device's older connection on this node.
func (h *hub) add(c *conn) {
	h.mu.Lock()
	devs := h.conns[c.key.account]
	var old *conn
	if i := indexOf(devs, c.key.device); i >= 0 {
		old, devs[i] = devs[i], c
	} else {
		h.conns[c.key.account] = append(devs, c)
		h.n++
	}
	h.mu.Unlock()
	if old != nil {
		old.close(wire.CloseDisplaced, "another connection of this device took over")
	}
}

// remove unregisters c unless a newer connection replaced it.
func (h *hub) remove(c *conn) {
	h.mu.Lock()
	devs := h.conns[c.key.account]
	if i := indexOf(devs, c.key.device); i >= 0 && devs[i] == c {
		h.n--
		if len(devs) == 1 {
			delete(h.conns, c.key.account)
		} else {
			devs[i] = devs[len(devs)-1]
			devs[len(devs)-1] = nil
			h.conns[c.key.account] = devs[:len(devs)-1]
		}
	}
	h.mu.Unlock()
}

func (h *hub) get(k deviceKey) *conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	devs := h.conns[k.account]
	if i := indexOf(devs, k.device); i >= 0 {
		return devs[i]
	}
	return nil
}

// indexOf returns the index of device's connection in devs, or -1.
func indexOf(devs []*conn, device uint32) int {
	for i, c := range devs {
		if c.key.device == device {
			return i
		}
	}
	return -1
}

// matching returns the connections of e's device, or of every device of
// e's account when e.Device is 0.
func (h *hub) matching(e bus.Event) []*conn {
	if e.Device != 0 {
		if c := h.get(deviceKey{e.Account, e.Device}); c != nil {
			return []*conn{c}
		}
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Clone(h.conns[e.Account])
}

// onEvent routes a bus event; it never blocks. It reports whether a
// connection here took it.
func (h *hub) onEvent(e bus.Event) bool {
	switch e.Kind {
	case bus.Provision:
		return false
	case bus.PresenceChanged:
		return h.offerPresence(e)
	case bus.Resync:
		h.mu.RLock()
		defer h.mu.RUnlock()
		for _, devs := range h.conns {
			for _, c := range devs {
				c.poke()
			}
		}
		return true
	}
	conns := h.matching(e)
	if e.Kind == bus.Online {
		return len(conns) > 0
	}
	for _, c := range conns {
		switch e.Kind {
		case bus.Mailbox:
			c.poke()
		case bus.Ephemeral, bus.KeysLow:
			c.offer(e.Payload)
		case bus.Connected:
			if c.id != e.Conn {
				c.close(wire.CloseDisplaced, "another connection of this device took over")
			}
		case bus.Removed:
			c.close(wire.CloseDeviceRemoved, "device removed")
		}
	}
	return len(conns) > 0
}

// closeAll closes every connection, for shutdown.
func (h *hub) closeAll(code int, reason string) {
	h.mu.RLock()
	all := make([]*conn, 0, h.n)
	for _, devs := range h.conns {
		all = append(all, devs...)
	}
	h.mu.RUnlock()
	for _, c := range all {
		c.close(code, reason)
	}
}

// count returns the number of live connections.
func (h *hub) count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.n
}
