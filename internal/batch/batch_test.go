package batch

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// TestGathersWhileFlushing: what is submitted while a batch flushes is
// flushed together next, up to max, and each caller hears its batch's
// error only after that batch's flush has returned.
func TestGathersWhileFlushing(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var mu sync.Mutex
	var batches [][]int
	flushed := map[int]bool{}
	boom := errors.New("boom")
	b := New(3, func(_ context.Context, items []int) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, slices.Clone(items))
		for _, i := range items {
			flushed[i] = true
		}
		if slices.Contains(items, 2) {
			return boom
		}
		return nil
	})
	defer b.Stop()

	results := make(chan error, 10)
	submit := func(i int) {
		b.Submit([]int{i}, func(err error) {
			mu.Lock()
			ok := flushed[i]
			mu.Unlock()
			if !ok {
				t.Errorf("item %d answered before its flush returned", i)
			}
			results <- err
		})
	}
	submit(1)
	<-entered // the first batch is flushing: the next ones gather
	for i := 2; i <= 5; i++ {
		submit(i)
	}
	close(release)
	errs := 0
	for range 5 {
		if err := <-results; errors.Is(err, boom) {
			errs++
		}
	}
	if errs != 3 {
		t.Errorf("%d items heard the failed batch's error, want 3 (items 2, 3, 4)", errs)
	}
	want := [][]int{{1}, {2, 3, 4}, {5}}
	if !slices.EqualFunc(batches, want, slices.Equal) {
		t.Errorf("batches %v, want %v", batches, want)
	}
}

// TestStop: Stop flushes what was queued; later work hears ErrClosed.
func TestStop(t *testing.T) {
	var got []int
	b := New(8, func(_ context.Context, items []int) error {
		got = append(got, items...)
		return nil
	})
	if err := b.Do(context.Background(), 1, 2); err != nil {
		t.Fatal(err)
	}
	b.Stop()
	b.Stop() // twice is fine
	if err := b.Do(context.Background(), 3); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Stop: err = %v, want ErrClosed", err)
	}
	if !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("flushed %v, want [1 2]", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Do(ctx, 4); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: err = %v", err)
	}
}
