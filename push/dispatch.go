package push

import (
	"container/heap"
	"net/url"
	"sync"
	"time"
)

// A job is one wake-up of one device, from the envelope that asked for it
// to its last attempt. Once claimed it carries the registration, so that
// a retry neither claims again nor reads the store.
type job struct {
	key       deviceKey
	claimed   bool
	kind      string
	data      []byte // the stored registration, to remove it if gone
	reg       Registration
	host      string
	tries     int // attempts made
	backoff   time.Duration
	claimedAt time.Time

	// Set by hosts: the job counts as in flight to its host (it came
	// from its host's line), and it is the half-open breaker's probe.
	admitted, probe bool

	due   time.Time // in the delay queue: when it is ready again
	index int       // in the delay queue's heap
}

// hostOf names where a registration's wake-ups go, for per-host limits:
// the push resource's host for Web Push and WNS (each endpoint a client
// gives may be anywhere), else the provider, which has one service.
func hostOf(r Registration) string {
	raw := ""
	switch r.Kind {
	case KindWebPush:
		raw = r.Endpoint
	case KindWNS:
		raw = r.ChannelURI
	default:
		return r.Kind
	}
	u, err := url.Parse(raw)
	if err != nil {
		return r.Kind
	}
	return r.Kind + " " + u.Host
}

// delayQueue holds jobs until they are due (retries, and jobs waiting out
// an open breaker): a heap by due time, watched by one goroutine. No
// worker ever sleeps on a job.
type delayQueue struct {
	mu    sync.Mutex // guards jobs
	jobs  jobHeap
	wake  chan struct{} // capacity 1: the earliest due time changed
	ready chan<- *job
}

func newDelayQueue(ready chan<- *job) *delayQueue {
	return &delayQueue{wake: make(chan struct{}, 1), ready: ready}
}

// add holds j until at.
func (q *delayQueue) add(j *job, at time.Time) {
	j.due = at
	q.mu.Lock()
	heap.Push(&q.jobs, j)
	first := q.jobs[0] == j
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// Len is the number of jobs held.
func (q *delayQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.jobs)
}

// run hands jobs to ready as they fall due, until done is closed; it
// returns the jobs still held.
func (q *delayQueue) run(done <-chan struct{}) []*job {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		q.mu.Lock()
		now := time.Now()
		var due []*job
		for len(q.jobs) > 0 && !q.jobs[0].due.After(now) {
			due = append(due, heap.Pop(&q.jobs).(*job))
		}
		next := time.Hour
		if len(q.jobs) > 0 {
			next = q.jobs[0].due.Sub(now)
		}
		q.mu.Unlock()
		for i, j := range due {
			select {
			case q.ready <- j:
			case <-done:
				return append(due[i:], q.drain()...)
			}
		}
		t.Reset(next)
		select {
		case <-done:
			return q.drain()
		case <-q.wake:
		case <-t.C:
		}
	}
}

func (q *delayQueue) drain() []*job {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := []*job(q.jobs)
	q.jobs = nil
	return out
}

type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h jobHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *jobHeap) Push(x any) {
	j := x.(*job)
	j.index = len(*h)
	*h = append(*h, j)
}
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.index = -1
	return j
}

// hosts limits sends per push host: at most limit at once, and a circuit
// breaker that opens after failures consecutive failed attempts (throttled,
// 5xx, timed out or unreachable), stays open for cooldown, then lets one
// probe through (half-open): its success closes the breaker, its failure
// opens it again. Jobs over the limit, or waiting for a probe's outcome,
// wait in their host's line; a worker that finishes a send takes the
// next one from its host's line itself.
type hosts struct {
	limit    int
	failures int
	cooldown time.Duration

	mu sync.Mutex // guards m
	m  map[string]*host
}

type host struct {
	inflight  int
	line      []*job
	fails     int       // consecutive failed attempts
	openUntil time.Time // while fails >= failures: no attempt before
	probing   bool      // a half-open probe is in flight
}

// admission is what hosts.admit decides for a job.
type admission int

const (
	admitSend  admission = iota // send now
	admitWait                   // queued in the host's line; a finishing send takes it
	admitLater                  // the breaker is open: try again at the time given
)

func newHosts(limit, failures int, cooldown time.Duration) *hosts {
	return &hosts{limit: max(limit, 1), failures: failures, cooldown: cooldown, m: map[string]*host{}}
}

// maxHosts bounds the hosts remembered; past it, those with nothing in
// flight or waiting are forgotten (and with them a count of failures
// that had not opened their breaker).
const maxHosts = 10000

func (hs *hosts) get(name string) *host {
	h := hs.m[name]
	if h == nil {
		if len(hs.m) >= maxHosts {
			for n, o := range hs.m {
				if o.inflight == 0 && len(o.line) == 0 && (!hs.openLocked(o) || time.Now().After(o.openUntil)) {
					delete(hs.m, n)
				}
			}
		}
		h = &host{}
		hs.m[name] = h
	}
	return h
}

// open reports whether h's breaker is open or half-open.
func (hs *hosts) openLocked(h *host) bool { return hs.failures > 0 && h.fails >= hs.failures }

// admit decides whether j may be sent to its host now.
func (hs *hosts) admit(j *job, now time.Time) (admission, time.Time) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h := hs.get(j.host)
	if hs.openLocked(h) {
		switch {
		case now.Before(h.openUntil):
			return admitLater, h.openUntil
		case h.probing:
			h.line = append(h.line, j)
			return admitWait, time.Time{}
		}
		h.probing, j.probe = true, true
	} else if h.inflight >= hs.limit {
		h.line = append(h.line, j)
		return admitWait, time.Time{}
	}
	h.inflight++
	return admitSend, time.Time{}
}

// release gives back j's place without an attempt (its device came
// online) and returns the next job of the line, counted as in flight.
func (hs *hosts) release(j *job) *job {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h := hs.get(j.host)
	h.inflight--
	if j.probe {
		h.probing = false
	}
	j.admitted, j.probe = false, false
	if hs.openLocked(h) || len(h.line) == 0 {
		if h.inflight == 0 && h.fails == 0 {
			delete(hs.m, j.host)
		}
		return nil
	}
	return hs.popLocked(h)
}

func (hs *hosts) popLocked(h *host) *job {
	next := h.line[0]
	h.line[0] = nil
	h.line = h.line[1:]
	h.inflight++
	next.admitted = true
	return next
}

// done records the outcome of j's attempt to its host. It returns the job to
// send next in the finished one's place (nil: none, else already counted
// as in flight); more jobs of the line that may go now that a probe
// closed the breaker (to be admitted again); and, when the breaker is
// open, the jobs of the line with the time to try them again.
func (hs *hosts) done(j *job, failed bool, now time.Time) (next *job, more, later []*job, at time.Time) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h := hs.get(j.host)
	h.inflight--
	wasProbe := j.probe
	if wasProbe {
		h.probing = false
	}
	j.admitted, j.probe = false, false
	if failed {
		h.fails++
		if hs.openLocked(h) {
			h.openUntil = now.Add(hs.cooldown)
		}
	} else {
		h.fails = 0
	}
	switch {
	case hs.openLocked(h):
		later, h.line = h.line, nil
		return nil, nil, later, h.openUntil
	case len(h.line) > 0:
		next = hs.popLocked(h)
		if wasProbe {
			n := min(len(h.line), hs.limit-h.inflight)
			more = append(more, h.line[:n]...)
			h.line = h.line[n:]
		}
	case h.inflight == 0 && h.fails == 0:
		delete(hs.m, j.host) // nothing to remember
	}
	return next, more, nil, time.Time{}
}
