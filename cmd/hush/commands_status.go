package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
)

// conversationArgs reads [TO | --group G] (and, for status, --id and
// --limit) into a history filter, opening the messenger.
func (a *app) conversationArgs(ctx context.Context, name string, args []string, forStatus bool) (*messenger, store.Filter, int, error) {
	fs := a.flagSet(name)
	group := fs.String("group", "", "only this group")
	limit, id := new(int), new(string)
	*limit = 20
	if forStatus {
		fs.IntVar(limit, "limit", *limit, "at most this many messages")
		fs.StringVar(id, "id", "", "only the message with this id")
	}
	pos, err := a.parse(fs, args, 0, 1)
	if err != nil {
		return nil, store.Filter{}, 0, err
	}
	if *group != "" && len(pos) > 0 {
		return nil, store.Filter{}, 0, usageErrorf("%s: name TO or --group G, not both", name)
	}
	if *limit <= 0 {
		return nil, store.Filter{}, 0, usageErrorf("%s: --limit must be positive", name)
	}
	m, err := a.messenger(ctx)
	if err != nil {
		return nil, store.Filter{}, 0, err
	}
	f := store.Filter{ID: *id}
	switch {
	case *group != "":
		f.Group, err = m.resolveGroup(ctx, *group)
	case len(pos) == 1:
		f.Peer, err = m.resolve(ctx, pos[0])
	}
	return m, f, *limit, err
}

// cmdStatus shows how far each sent message got at each recipient
// account: sent, delivered, read.
func cmdStatus(ctx context.Context, a *app, args []string) error {
	m, f, limit, err := a.conversationArgs(ctx, "status", args, true)
	if err != nil {
		return err
	}
	msgs, err := m.st.SentMessages(ctx, m.me.AccountID, f, limit)
	if err != nil {
		return err
	}
	if len(msgs) == 0 && f.ID != "" {
		return fmt.Errorf("status: no message %s sent by this account in the history", f.ID)
	}
	for _, msg := range msgs {
		if err := m.printStatus(ctx, a.printer(), &msg); err != nil {
			return err
		}
	}
	return nil
}

// recipientStatus is one recipient's status as status --json prints it.
type recipientStatus struct {
	AccountID string `json:"account_id"`
	Number    string `json:"number"`
	Status    string `json:"status"`
	At        int64  `json:"at"` // Unix ms
}

// printStatus prints a sent message and its status per recipient.
func (m *messenger) printStatus(ctx context.Context, p *printer, msg *store.Message) error {
	rs, err := m.st.Receipts(ctx, msg.EnvelopeID)
	if err != nil {
		return err
	}
	if len(rs) == 0 && msg.Group == "" && msg.PeerAccount != m.me.AccountID {
		// Sent from another device of this account: only its sync copy is here.
		rs = []store.Receipt{{AccountID: msg.PeerAccount, Status: store.StatusSent, Updated: msg.ServerTimestamp}}
	}
	to := "to " + m.display(ctx, msg.PeerAccount)
	if msg.Group != "" {
		to = "in group " + shortGroup(msg.Group)
	}
	if p.json {
		out := make([]recipientStatus, 0, len(rs))
		for _, r := range rs {
			number, _ := m.st.ContactNumber(ctx, r.AccountID)
			out = append(out, recipientStatus{AccountID: r.AccountID, Number: number, Status: r.Status, At: r.Updated})
		}
		return p.jsonLine(map[string]any{
			"id": msg.EnvelopeID, "server_timestamp": msg.ServerTimestamp, "kind": msg.Kind, "body": msg.Body,
			"peer": msg.PeerAccount, "group": msg.Group, "recipients": out,
		})
	}
	lines := []string{fmt.Sprintf("%s [%s] %s: %s", msg.EnvelopeID, formatTime(msg.ServerTimestamp), to, printable(msg.Body))}
	for _, r := range rs {
		lines = append(lines, fmt.Sprintf("  %s: %s at %s", m.display(ctx, r.AccountID), r.Status, formatTime(r.Updated)))
	}
	return p.linef("%s", strings.Join(lines, "\n"))
}

// cmdRead shows the unread messages received (from TO, a group, or all),
// sends read receipts to their senders and marks them read.
func cmdRead(ctx context.Context, a *app, args []string) error {
	m, f, _, err := a.conversationArgs(ctx, "read", args, false)
	if err != nil {
		return err
	}
	msgs, err := m.st.UnreadMessages(ctx, m.me.AccountID, f)
	if err != nil {
		return err
	}
	for _, msg := range msgs {
		if err := m.printStored(ctx, a.printer(), &msg); err != nil {
			return err
		}
	}
	if len(msgs) == 0 {
		fmt.Fprintln(a.stderr, "no unread messages")
		return nil
	}
	n, err := m.readMessages(ctx, msgs, m.rest())
	if err != nil {
		return fmt.Errorf("read receipts (%d of %d messages marked read): %w", n, len(msgs), err)
	}
	return nil
}

// printStored prints a message of the history as receive prints it.
func (m *messenger) printStored(ctx context.Context, p *printer, msg *store.Message) error {
	number, _ := m.st.ContactNumber(ctx, msg.FromAccount)
	if p.json {
		return p.jsonLine(receivedJSON{
			ID: msg.EnvelopeID, FromAccount: msg.FromAccount, FromDevice: msg.FromDevice, FromNumber: number,
			Kind: msg.Kind, Body: msg.Body, SentAt: msg.SentAt, ServerTimestamp: msg.ServerTimestamp,
			SyncTo: msg.SyncTo, Group: msg.Group,
		})
	}
	who := m.display(ctx, msg.FromAccount)
	at := msg.SentAt
	if at <= 0 {
		at = msg.ServerTimestamp
	}
	if msg.Group != "" {
		return p.linef("[%s] group %s: %s (device %d): %s", formatTime(at), shortGroup(msg.Group), who, msg.FromDevice, printable(msg.Body))
	}
	return p.linef("[%s] %s (device %d): %s", formatTime(at), who, msg.FromDevice, printable(msg.Body))
}

// cmdTyping tells TO (or a group) that this user started or stopped
// typing; the notice is ephemeral: only online devices get it.
func cmdTyping(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("typing")
	group := fs.String("group", "", "tell this group")
	stop := fs.Bool("stop", false, "say typing stopped")
	pos, err := a.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if (*group == "") == (len(pos) == 0) {
		return usageErrorf("typing: name either TO or --group G")
	}
	action := typingStarted
	if *stop {
		action = typingStopped
	}
	c := &content{Kind: kindTyping, Typing: &typing{Action: action}}
	if *group != "" {
		m, id, err := a.messengerGroup(ctx, *group)
		if err != nil {
			return err
		}
		if _, err := m.sendGroup(ctx, id, c, true, m.rest()); err != nil {
			return fmt.Errorf("typing in group %s: %w", id, err)
		}
		return a.printer().result(map[string]any{"group": id, "typing": action}, "typing %s", action)
	}
	m, dest, err := a.messengerTo(ctx, pos[0])
	if err != nil {
		return err
	}
	c.SentAt = nowMilli()
	if _, _, err := m.send1to1(ctx, dest, c, true, m.rest()); err != nil {
		return fmt.Errorf("typing to %s: %w", m.display(ctx, dest), err)
	}
	return a.printer().result(map[string]any{"destination": dest, "typing": action}, "typing %s", action)
}
