package ratelimit

import (
	"context"
	"crypto/rand"
	"sync"
)

// Memory is a Store in this process's memory: limits on it hold for this
// process only. It suits a single node and tests.
type Memory struct {
	mu      sync.Mutex // guards the following fields
	buckets map[[KeySize]byte]int64
	secret  []byte
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{buckets: map[[KeySize]byte]int64{}} }

// TakeRateLimit implements Store.
func (m *Memory) TakeRateLimit(_ context.Context, key []byte, now, step, window int64) (bool, int64, error) {
	k := [KeySize]byte(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	tat, ok := m.buckets[k]
	next := max(tat, now) + step
	if next-now > window {
		if !ok {
			tat = now
		}
		return false, tat, nil
	}
	m.buckets[k] = next
	return true, next, nil
}

// SweepRateLimits implements Store.
func (m *Memory) SweepRateLimits(_ context.Context, now int64, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, tat := range m.buckets {
		if n == limit {
			break
		}
		if tat <= now {
			delete(m.buckets, k)
			n++
		}
	}
	return n, nil
}

// RateLimitSecret implements Store.
func (m *Memory) RateLimitSecret(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secret == nil {
		m.secret = make([]byte, 32)
		_, _ = rand.Read(m.secret)
	}
	return m.secret, nil
}
