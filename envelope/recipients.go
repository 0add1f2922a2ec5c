package envelope

import (
	"context"
	"sync"
	"sync/atomic"
)

// recipientCache keeps accounts' device lists, which every send checks,
// so that a send costs no store reads. Entries are dropped when the
// devices package announces a change (bus.DevicesChanged, heard by every
// node) and all at once when the bus may have lost events (bus.Resync).
//
// A list read from the store is kept only if no change was announced while
// it was read (the generation counter), so a stale list is never cached
// after its invalidation has passed.
type recipientCache struct {
	mu  sync.RWMutex
	m   map[string][]Recipient
	max int
	gen atomic.Uint64
}

func newRecipientCache(max int) *recipientCache {
	return &recipientCache{m: make(map[string][]Recipient), max: max}
}

func (c *recipientCache) get(ctx context.Context, store Store, account string) ([]Recipient, error) {
	c.mu.RLock()
	rs, ok := c.m[account]
	c.mu.RUnlock()
	if ok {
		return rs, nil
	}
	gen := c.gen.Load()
	rs, err := store.Recipients(ctx, account)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen.Load() == gen {
		if len(c.m) >= c.max {
			clear(c.m) // crude, but bounded; refills at one read per account
		}
		c.m[account] = rs
	}
	c.mu.Unlock()
	return rs, nil
}

// drop forgets account ("" forgets every account).
func (c *recipientCache) drop(account string) {
	c.mu.Lock()
	c.gen.Add(1)
	if account == "" {
		clear(c.m)
	} else {
		delete(c.m, account)
	}
	c.mu.Unlock()
}
