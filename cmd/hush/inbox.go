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

	// follow lists the accounts whose presence to follow (chat).
	follow []string
	// readPeer and readGroup name the conversation the user is reading
	// (chat): its messages are acknowledged read, not only delivered.
	readPeer, readGroup string
	// receipts are owed; only the serving goroutine touches them.
	receipts pendingReceipts
	// xfer downloads attachments; only the serving goroutine touches it.
	xfer *transfers
	// failed counts the envelopes that did not decrypt; only the serving
	// goroutine touches it while it runs.
	failed int

	mu   sync.Mutex // guards sock
	sock *client.MessageSocket
}

func newInbox(a *app, m *messenger) *inbox {
	return &inbox{a: a, m: m, p: a.printer()}
}

// socket returns the connected socket, or nil.
func (in *inbox) socket() *client.MessageSocket {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sock != nil && in.sock.Err() == nil {
		return in.sock
	}
	return nil
}

// send sends over the socket when one is connected, else over REST.
func (in *inbox) send(ctx context.Context, s *api.Send) (*api.SendResult, error) {
	if sock := in.socket(); sock != nil {
		return sock.Send(ctx, s)
	}
	return in.m.cl.Send(ctx, s)
}

// groupSend sends over the socket when one is connected, else over REST.
func (in *inbox) groupSend(ctx context.Context, groupID string, g *api.GroupSend) (*api.SendResult, error) {
	if sock := in.socket(); sock != nil {
		withID := *g
		withID.GroupID = groupID
		return sock.GroupSend(ctx, &withID)
	}
	return in.m.cl.GroupSend(ctx, groupID, g)
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
			in.followPresence(ctx, sock)
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

// followPresence asks for presence frames of the accounts in follow.
func (in *inbox) followPresence(ctx context.Context, sock *client.MessageSocket) {
	if len(in.follow) == 0 {
		return
	}
	if err := sock.Follow(ctx, in.follow); err != nil && ctx.Err() == nil {
		fmt.Fprintf(in.a.stderr, "hush: warning: cannot follow presence: %s\n", oneLine(err.Error()))
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
			in.flushReceipts(ctx)
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
			if drained {
				in.flushReceipts(ctx)
			}
			deadline = time.Now().Add(idle)
		case wire.TypeQueueEmpty:
			drained = true
			in.flushReceipts(ctx)
			deadline = time.Now().Add(idle)
		case wire.TypePresence:
			if err := in.printPresence(ctx, f.Presence); err != nil {
				return false, err
			}
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

// handle decrypts, records and prints one envelope, then acks it and
// notes the receipt it owes. A message that does not decrypt is reported
// (and counted: receive then ends with exitUndecryptable) and its sender
// asked to send it again; only then is it acked, so that it cannot jam
// the mailbox and is not lost in silence. A message whose content is not
// valid is reported and acked. A message the store could not record is
// not acked (it comes again).
func (in *inbox) handle(ctx context.Context, sock *client.MessageSocket, env *wire.Envelope) error {
	r, err := in.m.receive(ctx, env)
	var (
		de *decryptError
		ce *contentError
	)
	switch {
	case err == nil:
		if r != nil {
			if err := in.show(ctx, r); err != nil {
				return err
			}
		}
	case errors.Is(err, errDuplicate):
	case errors.As(err, &de):
		if err := in.undecryptable(ctx, env, de); err != nil {
			return err
		}
	case errors.As(err, &ce):
		fmt.Fprintf(in.a.stderr, "hush: dropped message %s from %s (device %d): %s\n",
			env.ID, in.who(ctx, env.SourceAccount), env.SourceDevice, oneLine(ce.Error()))
	default:
		return err
	}
	if env.Ephemeral {
		return nil
	}
	if err := sock.Ack(ctx, env.ID); err != nil {
		return err
	}
	if r != nil {
		in.oweReceipt(r)
	}
	return nil
}

// undecryptable reports an envelope that did not decrypt and asks its
// sender to send it again. Only an ended ctx is returned: a failed
// request is reported too.
func (in *inbox) undecryptable(ctx context.Context, env *wire.Envelope, de *decryptError) error {
	in.failed++
	asked := true
	if !env.Ephemeral {
		if err := in.m.sendDecryptionError(ctx, env, in); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			asked = false
			fmt.Fprintf(in.a.stderr, "hush: warning: %s\n", oneLine(err.Error()))
		}
	}
	fmt.Fprintf(in.a.stderr, "hush: cannot decrypt message %s from %s (device %d): %s\n",
		env.ID, in.who(ctx, env.SourceAccount), env.SourceDevice, oneLine(de.Error()))
	if in.p.json {
		return in.p.jsonLine(receivedJSON{
			ID: env.ID, FromAccount: env.SourceAccount, FromDevice: env.SourceDevice, Kind: kindUndecryptable,
			ServerTimestamp: env.ServerTimestamp, Group: env.Group, Error: oneLine(de.Error()), ResendAsked: asked,
		})
	}
	return nil
}

// who names an account for people; "" is the server.
func (in *inbox) who(ctx context.Context, acct string) string {
	if acct == "" {
		return "the server"
	}
	return in.m.display(ctx, acct)
}

// oweReceipt notes the receipt a received message needs: none for
// protocol messages and this account's own, read for the conversation
// the user is reading, delivered for the rest.
func (in *inbox) oweReceipt(r *received) {
	env, c := r.env, r.content
	if !readable(c.Kind) || env.SourceAccount == in.m.me.AccountID || env.SourceAccount == "" {
		return
	}
	typ := receiptDelivered
	if in.reading(r) {
		typ = receiptRead
	}
	in.receipts.add(env.SourceAccount, typ, c.SentAt)
}

// reading reports whether r belongs to the conversation the user reads.
func (in *inbox) reading(r *received) bool {
	if g := r.group(); g != "" {
		return g == in.readGroup
	}
	return in.readPeer != "" && r.env.SourceAccount == in.readPeer
}

// flushReceipts sends the receipts owed; a failure is a warning, since the
// messages themselves are safe.
func (in *inbox) flushReceipts(ctx context.Context) {
	order, ids := in.receipts.take()
	for _, k := range order {
		err := in.m.sendReceipt(ctx, k.to, k.typ, ids[k], in)
		if err == nil && k.typ == receiptRead {
			err = in.m.st.MarkReadAt(ctx, k.to, ids[k])
		}
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(in.a.stderr, "hush: warning: %s\n", oneLine(err.Error()))
		}
	}
}

// receivedJSON is one message as receive --json prints it.
type receivedJSON struct {
	ID              string     `json:"id"`
	FromAccount     string     `json:"from_account"`
	FromDevice      uint32     `json:"from_device"`
	FromNumber      string     `json:"from_number"`
	Kind            string     `json:"kind"`
	Body            string     `json:"body"`
	SentAt          int64      `json:"sent_at"`
	ServerTimestamp int64      `json:"server_timestamp"`
	SyncTo          string     `json:"sync_to"`
	Group           string     `json:"group,omitempty"`
	Location        *location  `json:"location,omitempty"`
	Attachment      *savedJSON `json:"attachment,omitempty"`
	Typing          string     `json:"typing,omitempty"`
	Change          any        `json:"change,omitempty"`
	// Error and ResendAsked are set on kind "undecryptable": why the
	// envelope did not decrypt, and whether its sender was asked to send
	// it again.
	Error       string `json:"error,omitempty"`
	ResendAsked bool   `json:"resend_asked,omitempty"`
}

// kindUndecryptable is the kind receive --json prints for an envelope
// that did not decrypt.
const kindUndecryptable = "undecryptable"

// savedJSON is a received attachment as receive --json prints it: where
// it was saved, or why it was not.
type savedJSON struct {
	FileName    string `json:"file_name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Thumbnail   []byte `json:"thumbnail,omitempty"`
	Path        string `json:"path,omitempty"`
	Error       string `json:"error,omitempty"`
}

// show prints a received message; receipts and sender keys are recorded,
// not printed.
func (in *inbox) show(ctx context.Context, r *received) error {
	switch r.content.Kind {
	case kindReceipt, kindSenderKey, kindUnknown:
		return nil
	case kindTyping:
		return in.printTyping(ctx, r)
	}
	return in.print(ctx, r)
}

func (in *inbox) print(ctx context.Context, r *received) error {
	env, c := r.env, r.content
	saved, err := in.save(ctx, r)
	if err != nil {
		return err
	}
	number, _ := in.m.st.ContactNumber(ctx, env.SourceAccount)
	if in.p.json {
		out := receivedJSON{
			ID: env.ID, FromAccount: env.SourceAccount, FromDevice: env.SourceDevice, FromNumber: number,
			Kind: c.Kind, Body: c.Body, SentAt: c.SentAt, ServerTimestamp: env.ServerTimestamp, SyncTo: c.SyncTo,
			Group: c.Group, Location: c.Location, Attachment: saved,
		}
		if r.change != nil {
			out.Change = r.change
		}
		return in.p.jsonLine(out)
	}
	at := c.SentAt
	if at <= 0 {
		at = env.ServerTimestamp
	}
	text := printable(c.summary())
	if saved != nil && saved.Path != "" {
		text += " (saved to " + printable(saved.Path) + ")"
	}
	switch {
	case r.change != nil:
		return in.p.linef("[%s] group %s: %s", formatTime(at), shortGroup(c.Group), text)
	case c.Group != "":
		return in.p.linef("[%s] group %s: %s (device %d): %s", formatTime(at), shortGroup(c.Group), in.who(ctx, env.SourceAccount), env.SourceDevice, text)
	case c.SyncTo != "":
		return in.p.linef("[%s] %s (device %d) to %s: %s", formatTime(at), in.who(ctx, env.SourceAccount), env.SourceDevice, in.m.display(ctx, c.SyncTo), text)
	}
	return in.p.linef("[%s] %s (device %d): %s", formatTime(at), in.who(ctx, env.SourceAccount), env.SourceDevice, text)
}

// save downloads a received message's attachment, if it points to one,
// into downloads/. A failure is that message's, not the inbox's: it is
// printed on stderr (and kept in the JSON line) and the message shown
// anyway; only an ended ctx is returned.
func (in *inbox) save(ctx context.Context, r *received) (*savedJSON, error) {
	c := r.content
	a := c.Attachment
	if a == nil || (c.Kind != kindImage && c.Kind != kindVideo && c.Kind != kindFile) {
		return nil, nil
	}
	saved := &savedJSON{FileName: a.FileName, ContentType: a.ContentType, Size: a.Size, Thumbnail: a.Thumbnail}
	if a.ID == "" {
		return saved, nil // an old message without a blob
	}
	t, err := in.transfers()
	if err == nil {
		saved.Path, err = t.download(ctx, c.Kind, a)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		saved.Error = oneLine(err.Error())
		fmt.Fprintf(in.a.stderr, "hush: cannot save the attachment %s of message %s from %s: %s\n",
			printable(safeFileName(a.FileName, c.Kind, a.ContentType)), r.env.ID, in.who(ctx, r.env.SourceAccount), saved.Error)
	}
	return saved, nil
}

// transfers returns the inbox's attachment mover, made on first use.
func (in *inbox) transfers() (*transfers, error) {
	if in.xfer == nil {
		t, err := in.a.transfers(in.m)
		if err != nil {
			return nil, err
		}
		in.xfer = t
	}
	return in.xfer, nil
}

// printTyping prints "… is typing" or "… stopped typing".
func (in *inbox) printTyping(ctx context.Context, r *received) error {
	env, c := r.env, r.content
	if env.SourceAccount == in.m.me.AccountID {
		return nil // this account typing on another device
	}
	if in.p.json {
		return in.p.jsonLine(receivedJSON{
			ID: env.ID, FromAccount: env.SourceAccount, FromDevice: env.SourceDevice, Kind: c.Kind,
			SentAt: c.SentAt, ServerTimestamp: env.ServerTimestamp, Group: c.Group, Typing: c.Typing.Action,
		})
	}
	what := "is typing"
	if c.Typing.Action == typingStopped {
		what = "stopped typing"
	}
	if c.Group != "" {
		return in.p.linef("group %s: %s %s", shortGroup(c.Group), in.who(ctx, env.SourceAccount), what)
	}
	return in.p.linef("%s %s", in.who(ctx, env.SourceAccount), what)
}

// printPresence prints a followed account's presence.
func (in *inbox) printPresence(ctx context.Context, p *api.Presence) error {
	if in.p.json {
		return in.p.jsonLine(map[string]any{"presence": p})
	}
	return in.p.linef("%s %s", in.who(ctx, p.AccountID), describePresence(p))
}

// describePresence words a presence: "is online", "was last seen at …",
// "hides when it was last seen".
func describePresence(p *api.Presence) string {
	switch {
	case p.Hidden:
		return "hides when it was last seen"
	case p.Online:
		return "is online"
	case p.LastSeen == 0:
		return "has not been seen"
	}
	return "was last seen at " + time.Unix(p.LastSeen, 0).Format("2006-01-02 15:04")
}

// shortGroup abbreviates a group id for people; commands take any unique
// prefix of a known group's id.
func shortGroup(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
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
