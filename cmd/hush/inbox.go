package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

// maxReconnects bounds the failed dials in a row after a socket was lost
// before an inbox gives up.
const maxReconnects = 5

// inbox runs a device's message socket: it decrypts, records, prints and
// acks every envelope, refills prekeys when told they run low, and
// reconnects when the server goes away politely.
type inbox struct {
	a *app
	m *messenger
	p *printer

	mu   sync.Mutex // guards sock
	sock *client.MessageSocket
}

func newInbox(a *app, m *messenger) *inbox {
	return &inbox{a: a, m: m, p: a.printer()}
}

// send sends over the socket when one is connected, else over REST.
func (in *inbox) send(ctx context.Context, s *api.Send) (*api.SendResult, error) {
	in.mu.Lock()
	sock := in.sock
	in.mu.Unlock()
	if sock != nil && sock.Err() == nil {
		return sock.Send(ctx, s)
	}
	return in.m.cl.Send(ctx, s)
}

// run connects and serves the socket until ctx ends (ctx.Err() is
// returned) or the socket fails for good. With stopWhenIdle it returns nil
// once the backlog has been delivered and then idle has passed without a
// new envelope. When the socket ends for any reason but displacement or
// removal (the node shut down or died) it reconnects, to the next node when
// several are configured, waiting longer after each failed dial, up to
// maxReconnects dials in a row.
func (in *inbox) run(ctx context.Context, stopWhenIdle bool, idle time.Duration) error {
	reconnecting, tries := false, 0
	for {
		sock, err := in.m.cl.DialMessages(ctx)
		if err != nil {
			var ae *client.APIError
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case !reconnecting, errors.As(err, &ae) && ae.Status < 500, tries >= maxReconnects:
				// A lost node is waited out (or another one taken, with
				// several --server URLs); a refused credential never gets
				// better.
				return fmt.Errorf("message socket: %w", err)
			}
		} else {
			tries = 0
			in.setSocket(sock)
			done, serr := in.serve(ctx, sock, stopWhenIdle, idle)
			in.setSocket(nil)
			socketEnded := sock.Err() != nil
			_ = sock.Close() // what ended it is in serr
			switch {
			case done:
				return nil
			case ctx.Err() != nil:
				return ctx.Err()
			case !socketEnded:
				return serr // a local failure (the store's, say); the socket was fine
			case client.CloseStatus(serr) == wire.CloseDisplaced, client.CloseStatus(serr) == wire.CloseDeviceRemoved:
				return socketError(serr)
			}
			reconnecting, err = true, serr
		}
		delay := time.Duration(500<<tries) * time.Millisecond
		tries++
		fmt.Fprintf(in.a.stderr, "hush: %v; reconnecting in %s\n", socketError(err), delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (in *inbox) setSocket(s *client.MessageSocket) {
	in.mu.Lock()
	in.sock = s
	in.mu.Unlock()
}

// serve handles one connection's frames. It reports done when the idle
// condition ended it.
func (in *inbox) serve(ctx context.Context, sock *client.MessageSocket, stopWhenIdle bool, idle time.Duration) (done bool, err error) {
	drained := false
	var deadline time.Time
	for {
		nctx, cancel := ctx, context.CancelFunc(func() {})
		if stopWhenIdle && drained {
			nctx, cancel = context.WithDeadline(ctx, deadline)
		}
		f, err := sock.Next(nctx)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return false, ctx.Err()
		case stopWhenIdle && drained && errors.Is(err, context.DeadlineExceeded):
			return true, nil
		case sock.Err() == nil:
			fmt.Fprintf(in.a.stderr, "hush: skipped a frame: %v\n", err)
			continue
		default:
			return false, err
		}
		switch f.Type {
		case wire.TypeEnvelope:
			if err := in.handle(ctx, sock, f.Envelope); err != nil {
				return false, err
			}
			deadline = time.Now().Add(idle)
		case wire.TypeQueueEmpty:
			drained = true
			deadline = time.Now().Add(idle)
		case wire.TypeKeysLow:
			c := api.KeyCount{PreKeys: preKeyRefill, PQPreKeys: preKeyRefill}
			if f.PreKeys != nil {
				c.PreKeys = *f.PreKeys
			}
			if f.PQPreKeys != nil {
				c.PQPreKeys = *f.PQPreKeys
			}
			if err := in.m.refillPreKeys(ctx, c); err != nil {
				fmt.Fprintf(in.a.stderr, "hush: warning: %v\n", err)
			}
		case wire.TypeError:
			if f.Error != nil {
				fmt.Fprintf(in.a.stderr, "hush: server: %s: %s\n", f.Error.Code, oneLine(f.Error.Message))
			}
		}
	}
}

// handle decrypts, records and prints one envelope, then acks it. A
// message that does not decrypt is reported and acked all the same, so
// that it cannot jam the mailbox; a message the store could not record is
// not acked (it comes again).
func (in *inbox) handle(ctx context.Context, sock *client.MessageSocket, env *wire.Envelope) error {
	r, err := in.m.receive(ctx, env)
	var de *decryptError
	switch {
	case err == nil:
		if err := in.print(ctx, r); err != nil {
			return err
		}
	case errors.Is(err, errDuplicate):
	case errors.As(err, &de):
		fmt.Fprintf(in.a.stderr, "hush: cannot decrypt message %s from %s (device %d): %s\n",
			env.ID, in.m.display(ctx, env.SourceAccount), env.SourceDevice, oneLine(de.Error()))
	default:
		return err
	}
	if env.Ephemeral {
		return nil
	}
	return sock.Ack(ctx, env.ID)
}

// receivedJSON is one message as receive --json prints it.
type receivedJSON struct {
	ID              string `json:"id"`
	FromAccount     string `json:"from_account"`
	FromDevice      uint32 `json:"from_device"`
	FromNumber      string `json:"from_number"`
	Kind            string `json:"kind"`
	Body            string `json:"body"`
	SentAt          int64  `json:"sent_at"`
	ServerTimestamp int64  `json:"server_timestamp"`
	SyncTo          string `json:"sync_to"`
}

func (in *inbox) print(ctx context.Context, r *received) error {
	env, c := r.env, r.content
	number, _ := in.m.st.ContactNumber(ctx, env.SourceAccount)
	if in.p.json {
		return in.p.jsonLine(receivedJSON{
			ID: env.ID, FromAccount: env.SourceAccount, FromDevice: env.SourceDevice, FromNumber: number,
			Kind: c.Kind, Body: c.Body, SentAt: c.SentAt, ServerTimestamp: env.ServerTimestamp, SyncTo: c.SyncTo,
		})
	}
	who := number
	if who == "" {
		who = env.SourceAccount
	}
	at := c.SentAt
	if at <= 0 {
		at = env.ServerTimestamp
	}
	text := printable(c.Body)
	if c.Kind != kindText {
		text = "<" + printable(c.Kind) + ">"
	}
	if c.SyncTo != "" {
		return in.p.linef("[%s] %s (device %d) to %s: %s", formatTime(at), who, env.SourceDevice, in.m.display(ctx, c.SyncTo), text)
	}
	return in.p.linef("[%s] %s (device %d): %s", formatTime(at), who, env.SourceDevice, text)
}

// printable keeps a sender's text from driving the terminal: control
// characters become spaces or U+FFFD.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			return ' '
		case r < 0x20 || r >= 0x7f && r < 0xa0:
			return '\uFFFD'
		}
		return r
	}, s)
}

// socketError words the end of a message socket.
func socketError(err error) error {
	switch client.CloseStatus(err) {
	case wire.CloseDisplaced:
		return errors.New("another connection of this device took over (is hush running elsewhere with this account's device?)")
	case wire.CloseDeviceRemoved:
		return errors.New("this device was removed from the account")
	case wire.CloseShuttingDown:
		return errors.New("the server is shutting down")
	case wire.CloseTooSlow:
		return errors.New("the server dropped the connection: this client was too slow")
	}
	return err
}
