package gdpr

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// purgeCounter is an AccountStore whose Purge counts its runs and the
// most that ran at once, and blocks until released.
type purgeCounter struct {
	AccountStore
	runs, now, most atomic.Int64
	release         chan struct{}
}

func (p *purgeCounter) Purge(context.Context) error {
	p.runs.Add(1)
	n := p.now.Add(1)
	for m := p.most.Load(); n > m && !p.most.CompareAndSwap(m, n); m = p.most.Load() {
	}
	<-p.release
	p.now.Add(-1)
	return nil
}

// TestPurgesShareRuns: purges asked for while one runs share the next
// run; one runs at a time, and each caller's run starts after its call.
func TestPurgesShareRuns(t *testing.T) {
	store := &purgeCounter{release: make(chan struct{})}
	s := New(Defaults(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.SetAccounts(store, Hooks{})
	first := make(chan bool)
	go func() { first <- s.purge(context.Background()) }()
	for store.runs.Load() != 1 {
		runtime.Gosched() // until the first run has started (it blocks)
	}
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 10 {
		wg.Go(func() {
			if s.purge(context.Background()) {
				ok.Add(1)
			}
		})
	}
	// Until all ten wait for the next run.
	for {
		s.purgeMu.Lock()
		queued := s.purgeNext != nil && s.purgeNext.callers == 10
		s.purgeMu.Unlock()
		if queued {
			break
		}
		runtime.Gosched()
	}
	close(store.release)
	if !<-first {
		t.Fatal("the first purge failed")
	}
	wg.Wait()
	if got := ok.Load(); got != 10 {
		t.Fatalf("%d of 10 purges succeeded", got)
	}
	if got := store.runs.Load(); got != 2 {
		t.Fatalf("%d runs, want 2 (the first, and one shared by the other ten)", got)
	}
	if got := store.most.Load(); got != 1 {
		t.Fatalf("%d runs at once, want 1", got)
	}
}
