package ratelimit

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a bucket's shape: Burst events at once, refilled at Burst per Per.
type Limit struct {
	Burst int
	Per   time.Duration
}

// Off reports whether the limit is disabled (zero Burst).
func (l Limit) Off() bool { return l.Burst <= 0 }

// Keyed is a set of buckets with one shape.
type Keyed struct {
	limit  Limit
	now    func() time.Time
	onDeny func() // counts refusals; may be nil

	mu      sync.Mutex // guards the following fields
	buckets map[[32]byte]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

// New returns buckets of shape l; a zero l allows everything. onDeny, when
// not nil, is called for every refusal (a metric).
func New(l Limit, onDeny func()) *Keyed {
	return &Keyed{limit: l, now: time.Now, onDeny: onDeny, buckets: make(map[[32]byte]*bucket)}
}

// Allow takes one token for key. When none is left it reports how long
// until one is.
func (k *Keyed) Allow(key string) (ok bool, wait time.Duration) {
	if k.limit.Off() {
		return true, 0
	}
	h := sha256.Sum256([]byte(key))
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sweepLocked(now)
	b := k.buckets[h]
	if b == nil {
		every := k.limit.Per / time.Duration(k.limit.Burst)
		b = &bucket{lim: rate.NewLimiter(rate.Every(every), k.limit.Burst)}
		k.buckets[h] = b
	}
	b.used = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		if k.onDeny != nil {
			k.onDeny()
		}
		return false, d
	}
	return true, 0
}

// sweepLocked drops buckets idle long enough to be full again.
func (k *Keyed) sweepLocked(now time.Time) {
	if now.Sub(k.swept) < k.limit.Per {
		return
	}
	k.swept = now
	for h, b := range k.buckets {
		if now.Sub(b.used) > k.limit.Per {
			delete(k.buckets, h)
		}
	}
}

// Take is Allow as a Limiter: in memory it never fails.
func (k *Keyed) Take(_ context.Context, key string) (bool, time.Duration, error) {
	ok, wait := k.Allow(key)
	return ok, wait, nil
}
