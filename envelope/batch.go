package envelope

import (
	"context"
	"errors"
	"sync"
)

// errClosed answers work submitted to a batcher that has stopped.
var errClosed = errors.New("envelope relay is shutting down")

// batcher groups work from many goroutines into one store call (group
// commit): while one batch commits, the next gathers, so the cost of a
// commit's flush is shared by everything waiting for it. Nothing is answered
// before its batch has returned.
type batcher[T any] struct {
	max   int
	flush func(ctx context.Context, items []T) error
	in    chan pending[T]
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type pending[T any] struct {
	items []T
	done  func(error)
}

func newBatcher[T any](max int, flush func(context.Context, []T) error) *batcher[T] {
	b := &batcher[T]{max: max, flush: flush, in: make(chan pending[T], 4*max), quit: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// submit queues items; done is called once their batch has committed (or
// failed). It blocks while the queue is full: backpressure, not memory.
func (b *batcher[T]) submit(items []T, done func(error)) {
	select {
	case b.in <- pending[T]{items: items, done: done}:
	case <-b.quit:
		done(errClosed)
	}
}

func (b *batcher[T]) run() {
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

func (b *batcher[T]) commit(batch []pending[T]) {
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

// stop ends the batcher after the work already queued.
func (b *batcher[T]) stop() {
	b.once.Do(func() { close(b.quit) })
	<-b.done
}
