package ratelimit

import (
	"testing"
	"time"
)

func TestKeyed(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	denied := 0
	k := New(Limit{Burst: 3, Per: time.Minute}, func() { denied++ })
	k.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := k.Allow("a"); !ok {
			t.Fatalf("event %d refused within the burst", i)
		}
	}
	ok, wait := k.Allow("a")
	if ok || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("4th event: ok=%v wait=%v, want refused with a wait of at most 20s", ok, wait)
	}
	if denied != 1 {
		t.Fatalf("onDeny called %d times, want 1", denied)
	}
	if ok, _ := k.Allow("b"); !ok {
		t.Fatal("another key shares the bucket")
	}
	now = now.Add(20 * time.Second)
	if ok, _ := k.Allow("a"); !ok {
		t.Fatal("a token was not refilled after Per/Burst")
	}
	now = now.Add(2 * time.Minute)
	k.Allow("c") // sweeps idle buckets
	k.mu.Lock()
	n := len(k.buckets)
	k.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d buckets after sweep, want 1", n)
	}
}

func TestOff(t *testing.T) {
	k := New(Limit{}, nil)
	for range 1000 {
		if ok, _ := k.Allow("x"); !ok {
			t.Fatal("a zero limit refused")
		}
	}
}
