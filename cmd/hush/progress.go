package main

import (
	"fmt"
	"io"
	"sync"
)

// progress reports a transfer on stderr as lines such as
// "uploading photo.png 12.0/50.0 MiB 24%": one when it starts and one
// each time the bytes done reach a tenth not shown yet, so that a log
// stays short and the output does not depend on timing. It is safe for concurrent use (parts
// move in parallel).
type progress struct {
	w     io.Writer
	verb  string // "uploading", "downloading"
	name  string // printable
	total int64

	mu     sync.Mutex // guards the following fields
	done   int64
	shown  int // tenths shown so far; -1 before the first line
	closed bool
}

func newProgress(w io.Writer, verb, name string, total int64) *progress {
	p := &progress{w: w, verb: verb, name: printable(name), total: total, shown: -1}
	p.add(0)
	return p
}

// add counts n more bytes done; a negative n takes back the bytes of a
// failed attempt that will be sent again.
func (p *progress) add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = min(max(p.done+n, 0), p.total)
	tenth := 10
	if p.total > 0 {
		tenth = int(p.done * 10 / p.total)
	}
	if tenth > p.shown && !p.closed {
		p.shown = tenth
		p.lineLocked()
	}
}

func (p *progress) lineLocked() {
	pct := 100
	if p.total > 0 {
		pct = int(p.done * 100 / p.total)
	}
	fmt.Fprintf(p.w, "%s %s %s %d%%\n", p.verb, p.name, sizeRatio(p.done, p.total), pct)
}

// fail ends the report of a transfer that did not finish.
func (p *progress) fail() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
}

// reader counts what is read through r.
func (p *progress) reader(r io.Reader) *countReader {
	return &countReader{r: r, p: p}
}

// countReader adds to a progress what is read through it, and remembers
// how much, so that a failed attempt can take it back.
type countReader struct {
	r io.Reader
	p *progress
	n int64
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	c.p.add(int64(n))
	return n, err
}

// undo takes back what was counted.
func (c *countReader) undo() {
	c.p.add(-c.n)
	c.n = 0
}

// sizeRatio renders "12.0/50.0 MiB" (or KiB, or bytes) in the unit of
// the total.
func sizeRatio(done, total int64) string {
	switch {
	case total >= 1<<20:
		return fmt.Sprintf("%.1f/%.1f MiB", float64(done)/(1<<20), float64(total)/(1<<20))
	case total >= 1<<10:
		return fmt.Sprintf("%.1f/%.1f KiB", float64(done)/(1<<10), float64(total)/(1<<10))
	}
	return fmt.Sprintf("%d/%d bytes", done, total)
}

// humanSize renders a size for people: "1.5 MiB", "37.0 KiB", "12 bytes".
func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
