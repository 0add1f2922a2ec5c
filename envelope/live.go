package envelope

import (
	"sync"
	"sync/atomic"
	"time"
)

// Direct delivery. An envelope for a device connected to this node is
// handed to its session at once and held in memory for Config.LiveHold
// before it is inserted. If the device acks it within the hold, it is never
// written to the store at all: no insert, no fetch, no delete. Otherwise it
// is inserted like any other envelope. Either way the sender is answered
// only once every envelope of the send is durable or acked (invariant 2).
//
// States of an outbound envelope:
//
//	queued  ── ack ──▶ done (acked; never stored)
//	   │
//	   └── insert begins ──▶ storing ── commit ──▶ done (stored)
//
// An ack that arrives while its insert runs is applied (as a delete) once
// the insert has committed.

type outState uint8

const (
	outQueued  outState = iota // held, or waiting in the insert queue
	outStoring                 // its insert has begun
	outDone                    // stored, acked, or failed
)

// outbound is one envelope of a send on its way to a device.
type outbound struct {
	env   Stored
	at    time.Time // accepted
	send  *sendWait
	local *conn // the device's connection on this node when it was routed
	// direct: handed to local's session; else, with local set, refused by
	// it and stored first.
	direct bool

	mu       sync.Mutex // guards the following fields
	state    outState
	stored   bool
	refused  bool        // counted in local.direct.behind until it is done
	afterAck func(error) // an ack that arrived while the insert ran
	seq      int64       // its mailbox position once stored; set before finish
	full     bool        // its mailbox had no room; set before finish
}

// finish ends o with the outcome of its insert and reports whether this
// call ended it.
func (o *outbound) finish(err error) bool {
	o.mu.Lock()
	if o.state == outDone {
		o.mu.Unlock()
		return false
	}
	o.state, o.stored = outDone, err == nil
	then, refused := o.afterAck, o.refused
	o.mu.Unlock()
	if refused {
		// Poke before the count drops, so that a session that sees none
		// behind also sees the poke and fetches before it goes direct.
		o.local.poke()
		o.local.direct.behind.Add(-1)
	}
	o.send.resolve(err)
	if then != nil {
		then(err)
	}
	return true
}

// directQueue holds the envelopes handed to one session, in the order
// they were routed. When it is full, it turns to store mode: what it holds
// and everything after goes through the store, in order, until the session
// has caught up with the store again. So a device gets one sender's
// envelopes in the order they were sent, whichever way each went.
type directQueue struct {
	mu        sync.Mutex // guards items and storeMode
	items     []*outbound
	storeMode bool
	behind    atomic.Int32 // refused envelopes not yet stored
}

// front returns the oldest queued envelope, or nil.
func (q *directQueue) front() *outbound {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil
	}
	return q.items[0]
}

// popIf removes o if it is still the oldest queued envelope, and reports
// whether it did. Between front and popIf the queue may have switched to
// store mode (offer found it full) and handed o to the store; then o is
// delivered from there, in order, and popIf leaves the queue alone.
func (q *directQueue) popIf(o *outbound) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 || q.items[0] != o {
		return false
	}
	q.items[0] = nil
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = nil
	}
	return true
}

// undelivered reports whether envelopes wait in the queue, or went to the
// store from it (store mode) and the session has not caught up with them.
func (q *directQueue) undelivered() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) > 0 || q.storeMode
}

// caughtUp is called by the session when a fetch found the store drained:
// with nothing refused still on its way to the store, direct delivery
// resumes.
func (q *directQueue) caughtUp() {
	q.mu.Lock()
	if q.storeMode && q.behind.Load() == 0 {
		q.storeMode = false
	}
	q.mu.Unlock()
}

// sendWait counts a send's envelopes until each is stored or acked.
type sendWait struct {
	// skipFull: a full mailbox is no failure of the send (a group send
	// lists it in its answer instead).
	skipFull bool
	left     atomic.Int32
	err      atomic.Pointer[error] // the first failure
	done     chan struct{}
}

func newSendWait(n int) *sendWait {
	w := &sendWait{done: make(chan struct{})}
	w.left.Store(int32(n))
	return w
}

func (w *sendWait) resolve(err error) {
	if w.skipFull && isMailboxFull(err) {
		err = nil
	}
	if err != nil {
		w.err.CompareAndSwap(nil, &err)
	}
	if w.left.Add(-1) == 0 {
		close(w.done)
	}
}

func (w *sendWait) wait() error {
	<-w.done
	if p := w.err.Load(); p != nil {
		return *p
	}
	return nil
}

// liveSet indexes the envelopes handed to local sessions and not yet
// stored, so that an ack can find them. Every send and every ack goes
// through it, so it is split in liveShards maps, each with its own lock,
// chosen by the last byte of the envelope id (random in a UUIDv7): one map
// behind one lock made sends and acks queue up behind each other, the more
// so the more sockets were busy.
type liveSet struct {
	shards [liveShards]liveShard
}

const liveShards = 32

type liveShard struct {
	mu sync.Mutex
	m  map[AckKey]*outbound
}

func newLiveSet() *liveSet {
	l := &liveSet{}
	for i := range l.shards {
		l.shards[i].m = make(map[AckKey]*outbound)
	}
	return l
}

func (l *liveSet) shard(k AckKey) *liveShard { return &l.shards[int(k.ID[15])%liveShards] }

func keyOf(e *Stored) AckKey { return AckKey{AccountID: e.AccountID, DeviceID: e.DeviceID, ID: e.ID} }

func (l *liveSet) add(o *outbound) {
	k := keyOf(&o.env)
	sh := l.shard(k)
	sh.mu.Lock()
	sh.m[k] = o
	sh.mu.Unlock()
}

func (l *liveSet) remove(o *outbound) {
	k := keyOf(&o.env)
	sh := l.shard(k)
	sh.mu.Lock()
	if sh.m[k] == o {
		delete(sh.m, k)
	}
	sh.mu.Unlock()
}

func (l *liveSet) get(k AckKey) *outbound {
	sh := l.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[k]
}

// all returns every envelope in the set (held, or being inserted).
func (l *liveSet) all() []*outbound {
	var out []*outbound
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for _, o := range sh.m {
			out = append(out, o)
		}
		sh.mu.Unlock()
	}
	return out
}

// route sends each envelope on its way: straight to a session on this node
// that takes it (and into the store after the hold), or into the store now.
func (s *Service) route(outs []*outbound) {
	var now, held []*outbound
	for _, o := range outs {
		var c *conn
		if s.cfg.LiveHold > 0 {
			c = s.hub.get(deviceKey{o.env.AccountID, o.env.DeviceID})
		}
		switch {
		case c == nil:
			now = append(now, o)
		case s.offer(c, o):
			held = append(held, o)
		}
	}
	if len(now) > 0 {
		s.inserts.Submit(now, finishAll(now))
	}
	if len(held) > 0 {
		time.AfterFunc(s.cfg.LiveHold, func() { s.storeHeld(held) })
	}
}

// offer queues o for c's session and reports true, or, when the queue is
// full or in store mode, submits it (after whatever the queue held) to the
// store and reports false.
func (s *Service) offer(c *conn, o *outbound) bool {
	o.local = c
	q := &c.direct
	q.mu.Lock()
	if !q.storeMode && len(q.items) < s.cfg.DirectQueue {
		o.direct = true
		s.live.add(o) // before the session can see it, so its ack finds it
		q.items = append(q.items, o)
		q.mu.Unlock()
		c.wake()
		return true
	}
	defer q.mu.Unlock()
	var batch []*outbound
	if !q.storeMode {
		// The session is far behind: what it holds goes to the store
		// first, then o, so that the store keeps their order.
		q.storeMode = true
		s.m.DirectOverflow.Inc()
		for _, p := range q.items {
			p.mu.Lock()
			if p.state == outQueued {
				p.refused = true
				batch = append(batch, p)
			}
			p.mu.Unlock()
		}
		q.items = nil
	}
	o.refused = true
	batch = append(batch, o)
	q.behind.Add(int32(len(batch)))
	// Submitted under the lock: a later refusal must not overtake it.
	s.inserts.Submit(batch, finishAll(batch))
	return false
}

// storeHeld inserts the held envelopes that were not acked in time.
func (s *Service) storeHeld(held []*outbound) {
	var left []*outbound
	for _, o := range held {
		o.mu.Lock()
		if o.state == outQueued {
			left = append(left, o)
		}
		o.mu.Unlock()
	}
	if len(left) > 0 {
		s.m.HoldExpired.Add(float64(len(left)))
		s.inserts.Submit(left, finishAll(left))
	}
}

// finishAll ends what its batch never took up (a batcher that had
// stopped); the batch ends the rest itself.
func finishAll(outs []*outbound) func(error) {
	return func(err error) {
		for _, o := range outs {
			o.mu.Lock()
			queued := o.state == outQueued
			o.mu.Unlock()
			if queued {
				o.finish(err)
			}
		}
	}
}

// ackLive applies an ack to an envelope that is still held or being
// inserted, and reports whether it did; then is called once the ack is
// settled. A false answer leaves the ack to the store.
func (s *Service) ackLive(k AckKey, then func(error)) bool {
	o := s.live.get(k)
	if o == nil {
		return false
	}
	o.mu.Lock()
	switch o.state {
	case outQueued:
		o.state = outDone
		o.mu.Unlock()
		s.live.remove(o)
		s.m.AckedLive.Inc()
		s.m.Acked.Inc()
		o.send.resolve(nil)
		then(nil)
		return true
	case outStoring:
		// Delete it once it exists; if its insert fails there is nothing
		// to delete.
		o.afterAck = func(err error) {
			if err != nil {
				then(nil)
				return
			}
			s.acks.Submit([]Acked{{AckKey: k, Seq: o.seq}}, then)
		}
		o.mu.Unlock()
		return true
	default:
		o.mu.Unlock()
		return false
	}
}
