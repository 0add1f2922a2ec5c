// Package batch is group commit: work from many goroutines gathered into
// one store call, so that the cost of a commit (its flush to disk, its
// round trips) is shared by everything waiting for it. The envelope relay
// batches sends and acks with it; the stores batch prekey claims.
package batch

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed answers work submitted to a Batcher that has stopped.
var ErrClosed = errors.New("shutting down")

// Batcher gathers items into batches of up to max items: while one batch
// is flushed, the next gathers. Nothing is answered before its batch's
// flush has returned.
type Batcher[T any] struct {
	max   int
	flush func(ctx context.Context, items []T) error
	in    chan pending[T]
	quit  chan struct{}
	done  chan struct{}

	mu     sync.RWMutex // Submit reads closed; Stop writes it
	closed bool
}

type pending[T any] struct {
	items []T
	done  func(error)
}

// New starts a Batcher that hands batches to flush, one at a time.
func New[T any](max int, flush func(context.Context, []T) error) *Batcher[T] {
	b := &Batcher[T]{max: max, flush: flush, in: make(chan pending[T], 4*max), quit: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// Submit queues items; done is called once their batch has been flushed
// (with flush's error), or with ErrClosed after Stop. It blocks while the
// queue is full: backpressure, not memory.
func (b *Batcher[T]) Submit(items []T, done func(error)) {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		done(ErrClosed)
		return
	}
	// Stop waits for this send, which the running loop takes: nothing is
	// queued after the loop's last look at the queue.
	b.in <- pending[T]{items: items, done: done}
	b.mu.RUnlock()
}

// Do submits items and waits for their batch. It gives up waiting when
// ctx ends, but the items may still be flushed.
func (b *Batcher[T]) Do(ctx context.Context, items ...T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ch := make(chan error, 1)
	b.Submit(items, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Batcher[T]) run() {
	defer close(b.done)
	for {
		var first pending[T]
		select {
		case first = <-b.in:
		case <-b.quit:
			// Finish what was queued before the stop.
			for {
				select {
				case p := <-b.in:
					b.commit([]pending[T]{p})
				default:
					return
				}
			}
		}
		batch := []pending[T]{first}
		n := len(first.items)
	gather:
		for n < b.max {
			select {
			case p := <-b.in:
				batch = append(batch, p)
				n += len(p.items)
			default:
				break gather
			}
		}
		b.commit(batch)
	}
}

func (b *Batcher[T]) commit(batch []pending[T]) {
	var all []T
	if len(batch) == 1 {
		all = batch[0].items
	} else {
		for _, p := range batch {
			all = append(all, p.items...)
		}
	}
	err := b.flush(context.Background(), all)
	for _, p := range batch {
		p.done(err)
	}
}

// Stop ends the Batcher after the work already queued.
func (b *Batcher[T]) Stop() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.quit)
	}
	b.mu.Unlock()
	<-b.done
}
