package envelope

import (
	"errors"
	"sync"
	"time"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/httpx"
)

// Mailbox quotas. The store refuses an envelope whose mailbox is full
// (Quota) and the sender is answered 429 mailbox_full; what the mailbox
// holds is never touched. A node remembers the mailboxes it found full
// for the quota's recount interval and refuses sends to them before
// anything of the send is stored, so a send to a full mailbox stores none
// of its copies; only a send racing the first refusal on a node may have
// stored its copies for other devices.

// errMailboxFull answers a send to a full mailbox.
func errMailboxFull(wait time.Duration) *httpx.Error {
	e := httpx.RateLimited(wait, "envelopes waiting")
	e.Body.Code = api.CodeMailboxFull
	e.Body.Message = "a recipient's mailbox is full; retry later"
	return e
}

// fullSet remembers mailboxes the store found full, until a recount may
// find room.
type fullSet struct {
	mu    sync.Mutex // guards until
	until map[deviceKey]time.Time
}

func newFullSet() *fullSet { return &fullSet{until: map[deviceKey]time.Time{}} }

// add marks k full until then.
func (f *fullSet) add(k deviceKey, then time.Time) {
	f.mu.Lock()
	f.until[k] = then
	f.mu.Unlock()
}

// wait returns how long k is still taken for full (0: not full).
func (f *fullSet) wait(k deviceKey, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.until) == 0 {
		return 0
	}
	t, ok := f.until[k]
	if !ok {
		return 0
	}
	if !now.Before(t) {
		delete(f.until, k)
		return 0
	}
	return t.Sub(now)
}

// quota is the store's quota from the configuration.
func (c Config) quota() Quota {
	return Quota{MaxEnvelopes: c.MailboxMaxEnvelopes, MaxBytes: c.MailboxMaxBytes, Recount: c.MailboxRecount}
}

// recountWait is how long a mailbox found full is refused without asking
// the store: the recount interval, at least a second.
func (c Config) recountWait() time.Duration { return max(c.MailboxRecount, time.Second) }

// checkFull answers 429 mailbox_full when a mailbox among those a send
// names is known to be full.
func (s *Service) checkFull(keys func(yield func(deviceKey) bool)) error {
	now := s.now()
	for k := range keys {
		if w := s.full.wait(k, now); w > 0 {
			return errMailboxFull(w)
		}
	}
	return nil
}

// isMailboxFull reports whether err is errMailboxFull's.
func isMailboxFull(err error) bool {
	var he *httpx.Error
	return errors.As(err, &he) && he.Body.Code == api.CodeMailboxFull
}
