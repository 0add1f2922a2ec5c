package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

// messenger opens this device's store and returns a messenger for it.
func (a *app) messenger(ctx context.Context) (*messenger, error) {
	st, acct, err := a.account(ctx)
	if err != nil {
		return nil, err
	}
	cl, err := a.device(acct)
	if err != nil {
		return nil, err
	}
	return newMessenger(st, cl, acct, a.stderr), nil
}

// checkPreKeys refills prekeys when low; a failure is a warning, since the
// command can do its work without.
func (a *app) checkPreKeys(ctx context.Context, m *messenger) {
	if err := m.checkPreKeys(ctx); err != nil {
		if client.IsCode(err, api.CodeUnauthorized) {
			return // the command itself will say so
		}
		fmt.Fprintf(a.stderr, "hush: warning: %s\n", oneLine(err.Error()))
	}
}

// messengerTo opens the messenger, tops up prekeys, and resolves TO.
func (a *app) messengerTo(ctx context.Context, to string) (*messenger, string, error) {
	m, err := a.messenger(ctx)
	if err != nil {
		return nil, "", err
	}
	a.checkPreKeys(ctx, m)
	dest, err := m.resolve(ctx, to)
	if err != nil {
		return nil, "", err
	}
	return m, dest, nil
}

// cmdSend sends one text message.
func cmdSend(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("send")
	pos, err := a.parse(fs, args, 2, -1)
	if err != nil {
		return err
	}
	text := strings.Join(pos[1:], " ")
	if err := checkText(text); err != nil {
		return err
	}
	m, dest, err := a.messengerTo(ctx, pos[0])
	if err != nil {
		return err
	}
	res, err := m.sendText(ctx, dest, text, m.cl.Send)
	if err != nil {
		return fmt.Errorf("send to %s: %w", m.display(ctx, dest), err)
	}
	return a.printer().result(
		map[string]any{"id": res.ID, "server_timestamp": res.ServerTimestamp, "destination": dest},
		"sent %s at %s", res.ID, formatTime(res.ServerTimestamp))
}

func checkText(text string) error {
	switch {
	case strings.TrimSpace(text) == "":
		return usageErrorf("send: empty message")
	case len(text) > maxBody:
		return usageErrorf("send: message longer than %d bytes", maxBody)
	}
	return nil
}

// cmdReceive receives, prints and acks every waiting message, then stops
// once nothing new has come for --timeout.
func cmdReceive(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("receive")
	timeout := fs.Duration("timeout", 0, "after the backlog, wait this long for new messages")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *timeout < 0 {
		return usageErrorf("receive: --timeout must not be negative")
	}
	m, err := a.messenger(ctx)
	if err != nil {
		return err
	}
	a.checkPreKeys(ctx, m)
	return newInbox(a, m).run(ctx, true, *timeout)
}

// cmdChat sends each line typed on stdin to TO and prints incoming
// messages as they come, over one socket, until /quit or end of input.
func cmdChat(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("chat")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	m, dest, err := a.messengerTo(ctx, pos[0])
	if err != nil {
		return err
	}
	in := newInbox(a, m)
	ictx, stop := context.WithCancel(ctx)
	defer stop()
	inboxDone := make(chan error, 1)
	go func() { inboxDone <- in.run(ictx, false, 0) }()

	// Reading stdin cannot be interrupted; the reader ends with the process.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(a.stdin)
		sc.Buffer(make([]byte, 0, 4096), maxBody+1)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ictx.Done():
				return
			}
		}
	}()
	fmt.Fprintf(a.stderr, "chatting with %s; type a message and Enter, /quit to end\n", m.display(ctx, dest))
	for {
		select {
		case err := <-inboxDone:
			return err
		case line, ok := <-lines:
			if !ok || strings.TrimSpace(line) == "/quit" {
				stop()
				if err := <-inboxDone; err != nil && !errors.Is(err, context.Canceled) {
					return err
				}
				return ctx.Err()
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			if err := checkText(line); err != nil {
				fmt.Fprintf(a.stderr, "hush: not sent: %v\n", err)
				continue
			}
			if _, err := m.sendText(ictx, dest, line, in.send); err != nil {
				if errors.Is(err, context.Canceled) {
					continue // the inbox ended; its error comes next
				}
				fmt.Fprintf(a.stderr, "hush: not sent: %s\n", oneLine(err.Error()))
			}
		}
	}
}

// cmdSafetyNumber prints the safety number with TO's account.
func cmdSafetyNumber(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("safety-number")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	m, err := a.messenger(ctx)
	if err != nil {
		return err
	}
	dest, err := m.resolve(ctx, pos[0])
	if err != nil {
		return err
	}
	key, err := m.identityOf(ctx, dest)
	if err != nil {
		return err
	}
	sn := safetyNumber(m.me.AccountID, m.me.Identity.PublicKey().Serialize(), dest, key)
	return a.printer().result(
		map[string]any{"account_id": dest, "safety_number": sn},
		"%s", groupDigits(sn))
}

// identityOf returns the trusted identity key of an account, starting
// sessions with its devices (which fetches and trusts the key) when none
// is known yet.
func (m *messenger) identityOf(ctx context.Context, acct string) ([]byte, error) {
	if acct == m.me.AccountID {
		return m.me.Identity.PublicKey().Serialize(), nil
	}
	key, err := m.st.Identity(ctx, acct)
	if err != nil || key != nil {
		return key, err
	}
	m.mu.Lock()
	err = m.st.InTx(ctx, func(ctx context.Context) error {
		return m.fetchBundlesLocked(ctx, acct, client.AllDevices)
	})
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	key, err = m.st.Identity(ctx, acct)
	if err == nil && key == nil {
		err = errors.New("no identity key known for " + m.display(ctx, acct))
	}
	return key, err
}
