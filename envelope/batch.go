package envelope

import (
	"context"
	"fmt"

	"github.com/hushmsg/hush/internal/batch"
)

// errClosed answers work submitted to a batcher that has stopped.
var errClosed = fmt.Errorf("envelope relay is %w", batch.ErrClosed)

// batcher is the group commit of sends and acks (internal/batch): while
// one batch commits, the next gathers, so the cost of a commit's flush is
// shared by everything waiting for it. Nothing is answered before its
// batch has returned.
type batcher[T any] struct{ b *batch.Batcher[T] }

func newBatcher[T any](max int, flush func(context.Context, []T) error) *batcher[T] {
	return &batcher[T]{b: batch.New(max, flush)}
}

// submit queues items; done is called once their batch has committed (or
// failed). It blocks while the queue is full: backpressure, not memory.
func (b *batcher[T]) submit(items []T, done func(error)) {
	b.b.Submit(items, func(err error) {
		if err == batch.ErrClosed {
			err = errClosed
		}
		done(err)
	})
}

// stop ends the batcher after the work already queued.
func (b *batcher[T]) stop() { b.b.Stop() }
