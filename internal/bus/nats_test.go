package bus_test

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/storetest"
)

func dial(t *testing.T, url string) *bus.NATS {
	t.Helper()
	b, err := bus.DialNATS(url, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// Watched subjects share one buffer. When a node's handlers fall so far
// behind that NATS drops messages past it, the node tells its handlers to
// resync (read every mailbox again), as after a reconnect, so that no
// dropped poke leaves an envelope waiting: once, after what the buffer
// held is dispatched, so the resync comes after every drop.
func TestNATSDroppedEventsResync(t *testing.T) {
	url := storetest.NATSURL(t)
	slow, other := dial(t, url), dial(t, url)
	release := make(chan struct{})
	var released sync.Once
	defer released.Do(func() { close(release) })
	resyncs := make(chan struct{}, 100)
	var mu sync.Mutex
	dispatched := 0
	slow.Subscribe(func(e bus.Event) bool {
		if e.Kind == bus.Resync {
			mu.Lock()
			n := dispatched
			mu.Unlock()
			if n < bus.NATSBuffer {
				t.Errorf("resync after %d events, before the buffer was dispatched", n)
			}
			resyncs <- struct{}{}
			return false
		}
		<-release // the first event holds dispatch; the rest fill the buffer
		mu.Lock()
		dispatched++
		mu.Unlock()
		return false
	})
	e := bus.Event{Kind: bus.Mailbox, Account: "6c1f1a43-3c6e-4a0c-9a53-6f0d2a1b2c3d", Device: 1}
	defer slow.Watch(e.Topic())()
	if err := slow.Flush(); err != nil { // the server has the watch
		t.Fatal(err)
	}
	for range bus.NATSBuffer + 1000 {
		if err := other.Publish(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	for !slow.Dropped() {
		select {
		case <-time.After(30 * time.Second):
			t.Fatal("NATS dropped nothing")
		case <-time.After(10 * time.Millisecond):
		}
	}
	released.Do(func() { close(release) })
	select {
	case <-resyncs:
	case <-time.After(30 * time.Second):
		t.Fatal("no resync after the buffer overflowed")
	}
	// One resync for the whole overflow, however many subscriptions it
	// reported on.
	if err := other.Publish(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	waitDispatched := time.After(30 * time.Second)
	for {
		mu.Lock()
		n := dispatched
		mu.Unlock()
		if n >= bus.NATSBuffer {
			break
		}
		select {
		case <-waitDispatched:
			t.Fatal("the buffer was not dispatched")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if len(resyncs) != 0 {
		t.Fatalf("%d more resyncs", len(resyncs))
	}
}
