package wire

import (
	"bytes"
	"context"
	"io"
	"sync"

	"github.com/coder/websocket"
)

// Read reads the next message of c and calls fn with it. b is valid only
// until fn returns: it is a buffer shared through a pool, where
// websocket.Conn.Read allocates a new one, grown in steps, for every
// message. Decode copies what it keeps, so fn may decode b and keep the
// frame. An error from fn is returned as it is.
func Read(ctx context.Context, c *websocket.Conn, fn func(b []byte) error) error {
	_, r, err := c.Reader(ctx)
	if err != nil {
		return err
	}
	return ReadBody(r, fn)
}

// ReadBody reads what is left of a message from r, a reader that
// websocket.Conn.Reader returned, and calls fn with it as Read does; a
// caller that bounds how long a message may take once begun calls
// Reader, sets its deadline, then ReadBody.
func ReadBody(r io.Reader, fn func(b []byte) error) error {
	buf := readBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledRead { // not one grown by a large frame
			buf.Reset()
			readBuffers.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	return fn(buf.Bytes())
}

// maxPooledRead bounds the buffers kept for reuse; a larger frame's is
// left to the collector.
const maxPooledRead = 64 << 10

var readBuffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 4<<10)) }}
