package ratelimit

import (
	"context"
	"testing"
	"time"
)

func TestSharedBucket(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	denied := map[string]int{}
	b := NewBuckets(NewMemory(), func(name string) func() { return func() { denied[name]++ } })
	b.now = func() time.Time { return now }
	l := b.Shared("codes", Limit{Burst: 3, Per: time.Hour})
	for i := range 3 {
		if ok, _, err := l.Take(ctx, "a"); !ok || err != nil {
			t.Fatalf("take %d within the burst: ok=%v err=%v", i, ok, err)
		}
	}
	ok, wait, err := l.Take(ctx, "a")
	if ok || err != nil || wait != 20*time.Minute {
		t.Fatalf("4th take: ok=%v wait=%v err=%v, want refused for 20m", ok, wait, err)
	}
	if denied["codes"] != 1 {
		t.Fatalf("refusals counted %d, want 1", denied["codes"])
	}
	if ok, _, _ := l.Take(ctx, "b"); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _, _ := b.Shared("other", Limit{Burst: 1, Per: time.Hour}).Take(ctx, "a"); !ok {
		t.Fatal("another limit shares the bucket of the same key")
	}
	now = now.Add(20 * time.Minute)
	if ok, _, _ := l.Take(ctx, "a"); !ok {
		t.Fatal("no token after Per/Burst")
	}
	if ok, _, _ := l.Take(ctx, "a"); ok {
		t.Fatal("two tokens after Per/Burst")
	}
	now = now.Add(2 * time.Hour)
	n, err := b.Sweep(ctx)
	if err != nil || n != 3 {
		t.Fatalf("sweep deleted %d (%v), want the 3 full buckets", n, err)
	}
}

func TestSharedTakeN(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	b := NewBuckets(NewMemory(), nil)
	b.now = func() time.Time { return now }
	l := b.Shared("adds", Limit{Burst: 10, Per: time.Hour})
	if ok, _, _ := l.TakeN(ctx, "a", 8); !ok {
		t.Fatal("8 of 10 refused")
	}
	if ok, wait, _ := l.TakeN(ctx, "a", 3); ok || wait != 6*time.Minute {
		t.Fatalf("3 more: ok=%v wait=%v, want refused for 6m", ok, wait)
	}
	if ok, _, _ := l.TakeN(ctx, "a", 2); !ok {
		t.Fatal("the last 2 refused")
	}
	if ok, _, _ := l.TakeN(ctx, "b", 50); !ok {
		t.Fatal("more than the burst at once on a full bucket is clamped, not refused forever")
	}
}

func TestSharedOff(t *testing.T) {
	l := NewBuckets(nil, nil).Shared("x", Limit{})
	for range 100 {
		if ok, _, err := l.Take(context.Background(), "k"); !ok || err != nil {
			t.Fatal("an off limit refused or asked its store")
		}
	}
}
