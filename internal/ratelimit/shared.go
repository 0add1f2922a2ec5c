package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// Limiter takes one token from key's bucket. When none is left it reports
// false and how long until one is. A shared limiter fails (err) when its
// store does; callers refuse the request then rather than let it through.
type Limiter interface {
	Take(ctx context.Context, key string) (ok bool, wait time.Duration, err error)
}

var (
	_ Limiter = (*Keyed)(nil)
	_ Limiter = (*Shared)(nil)
)

// KeySize is the length of a bucket's name in the store.
const KeySize = 16

// Store keeps the shared buckets of every node. Times are Unix
// microseconds. Implementations: internal/sqlite, internal/postgres, and
// Memory (one process).
type Store interface {
	// TakeRateLimit is one step of the generic cell rate algorithm on
	// bucket key, atomically: with tat the bucket's theoretical arrival
	// time (now when it has none), the bucket moves to max(tat, now) +
	// step if that is at most now + window, and ok is true; otherwise it
	// is left as it is and ok is false. It returns the bucket's tat after
	// the step.
	TakeRateLimit(ctx context.Context, key []byte, now, step, window int64) (ok bool, tat int64, err error)
	// SweepRateLimits deletes up to limit buckets that are full again
	// (tat at or before now) and returns how many it deleted.
	SweepRateLimits(ctx context.Context, now int64, limit int) (int, error)
	// RateLimitSecret returns the store's random key for naming buckets,
	// made on first use; every node gets the same.
	RateLimitSecret(ctx context.Context) ([]byte, error)
}

// Buckets makes the shared limiters of a node, all on one Store.
type Buckets struct {
	store  Store
	denied func(name string) func() // a counter of refusals per limit; may be nil
	now    func() time.Time

	mu     sync.Mutex // guards secret
	secret []byte
}

// NewBuckets returns limiters on store. denied, when not nil, returns the
// function that counts refusals of the named limit (a metric).
func NewBuckets(store Store, denied func(name string) func()) *Buckets {
	return &Buckets{store: store, denied: denied, now: time.Now}
}

// Shared returns the limit l on buckets named by name and a key. A zero l
// allows everything without asking the store.
func (b *Buckets) Shared(name string, l Limit) *Shared {
	s := &Shared{b: b, name: name, limit: l}
	if b.denied != nil {
		s.onDeny = b.denied(name)
	}
	return s
}

// key names name's bucket for k in the store: an HMAC under the store's
// secret, so that the store holds no number or address.
func (b *Buckets) key(ctx context.Context, name, k string) ([]byte, error) {
	b.mu.Lock()
	secret := b.secret
	b.mu.Unlock()
	if secret == nil {
		var err error
		if secret, err = b.store.RateLimitSecret(ctx); err != nil {
			return nil, fmt.Errorf("rate limit secret: %w", err)
		}
		b.mu.Lock()
		b.secret = secret
		b.mu.Unlock()
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(k))
	return m.Sum(nil)[:KeySize], nil
}

// Sweep deletes buckets that are full again, in rounds of at most 1,000,
// and returns how many it deleted.
func (b *Buckets) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := b.store.SweepRateLimits(ctx, b.now().UnixMicro(), 1000)
		total += n
		if err != nil || n < 1000 {
			return total, err
		}
	}
}

// Run sweeps every interval until ctx ends.
func (b *Buckets) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = b.Sweep(ctx)
		}
	}
}

// Shared is one limit whose buckets every node shares.
type Shared struct {
	b      *Buckets
	name   string
	limit  Limit
	onDeny func()
}

// Limit returns the limit's shape.
func (s *Shared) Limit() Limit { return s.limit }

// Take takes one token from key's bucket.
func (s *Shared) Take(ctx context.Context, key string) (bool, time.Duration, error) {
	return s.TakeN(ctx, key, 1)
}

// TakeN takes n tokens at once (n at most the burst, else it can never
// succeed; it is clamped to it).
func (s *Shared) TakeN(ctx context.Context, key string, n int) (bool, time.Duration, error) {
	if s.limit.Off() || n <= 0 {
		return true, 0, nil
	}
	n = min(n, s.limit.Burst)
	k, err := s.b.key(ctx, s.name, key)
	if err != nil {
		return false, 0, err
	}
	window := s.limit.Per.Microseconds()
	step := max(window/int64(s.limit.Burst), 1) * int64(n)
	now := s.b.now().UnixMicro()
	ok, tat, err := s.b.store.TakeRateLimit(ctx, k, now, step, window)
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", s.name, err)
	}
	if ok {
		return true, 0, nil
	}
	if s.onDeny != nil {
		s.onDeny()
	}
	wait := time.Duration(max(tat, now)+step-window-now) * time.Microsecond
	return false, max(wait, time.Microsecond), nil
}

// Denied returns the function that counts refusals of the named limit,
// for limits kept elsewhere (a no-op without a metric).
func (b *Buckets) Denied(name string) func() {
	if b.denied == nil {
		return func() {}
	}
	return b.denied(name)
}
