package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/envelope/wire"
)

// Receipts are 1:1 ReceiptMessages to the account that sent the messages
// (for group messages too), naming them by their DataMessage timestamps
// as Signal's receipts do; the receiver maps a timestamp to the messages
// it sent with it. Delivery receipts go out for every message people read
// as it is received; read receipts when the user reads (hush read, or
// chat showing it). They are sent with urgent false, so that they never
// wake a phone. This account's other devices get the same receipt: a
// read receipt marks the messages it names read there too.

// urgency is the urgent flag of a send of c: receipts and typing notices
// never wake an offline device by push (receipts wait for its next
// connect; typing is ephemeral, never stored); nil, urgent, for the rest.
func urgency(c *content) *bool {
	if c.Kind == kindReceipt || c.Kind == kindTyping {
		urgent := false
		return &urgent
	}
	return nil
}

// recordReceiptLocked records a receipt. From another account it moves
// the status of this account's sent messages; one of this account's own
// devices' read receipts marks those messages read here too.
func (m *messenger) recordReceiptLocked(ctx context.Context, env *wire.Envelope, c *content) error {
	r := c.Receipt
	if env.SourceAccount == m.me.AccountID {
		if r.Type == receiptRead {
			return m.st.MarkReadAt(ctx, "", r.Timestamps)
		}
		return nil
	}
	status := store.StatusDelivered
	if r.Type == receiptRead {
		status = store.StatusRead
	}
	for _, ts := range r.Timestamps {
		ids, err := m.st.EnvelopesAt(ctx, m.me.AccountID, ts)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := m.st.RecordReceipt(ctx, m.me.AccountID, env.SourceAccount, id, status, env.ServerTimestamp); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendReceipt sends a receipt of type typ for the messages sent at
// timestamps (in batches of maxReceiptIDs) to the account that sent them.
func (m *messenger) sendReceipt(ctx context.Context, to, typ string, timestamps []int64, via sender) error {
	for batch := range slices.Chunk(timestamps, maxReceiptIDs) {
		c := &content{Kind: kindReceipt, Receipt: &receipt{Type: typ, Timestamps: batch}}
		if _, _, err := m.send1to1(ctx, to, c, false, via); err != nil {
			return fmt.Errorf("send %s receipt to %s: %w", typ, m.display(ctx, to), err)
		}
	}
	return nil
}

// readMessages sends read receipts for messages of the history to their
// senders and marks them read, sender by sender. It returns how many it
// marked.
func (m *messenger) readMessages(ctx context.Context, msgs []store.Message, via sender) (int, error) {
	var order []string
	bySender := map[string][]store.Message{}
	for _, msg := range msgs {
		if _, ok := bySender[msg.FromAccount]; !ok {
			order = append(order, msg.FromAccount)
		}
		bySender[msg.FromAccount] = append(bySender[msg.FromAccount], msg)
	}
	n := 0
	for _, from := range order {
		var timestamps, seqs []int64
		for _, msg := range bySender[from] {
			timestamps, seqs = append(timestamps, msg.SentAt), append(seqs, msg.Seq)
		}
		if err := m.sendReceipt(ctx, from, receiptRead, timestamps, via); err != nil {
			return n, err
		}
		if err := m.st.MarkRead(ctx, seqs); err != nil {
			return n, err
		}
		n += len(seqs)
	}
	return n, nil
}

// pendingReceipts collects the receipts an inbox owes, per sender and
// type, until it flushes them.
type pendingReceipts struct {
	order []receiptKey
	ids   map[receiptKey][]int64
}

type receiptKey struct{ to, typ string }

func (p *pendingReceipts) add(to, typ string, ts int64) {
	k := receiptKey{to, typ}
	if p.ids == nil {
		p.ids = map[receiptKey][]int64{}
	}
	if _, ok := p.ids[k]; !ok {
		p.order = append(p.order, k)
	}
	p.ids[k] = append(p.ids[k], ts)
}

// take returns what is pending and forgets it.
func (p *pendingReceipts) take() ([]receiptKey, map[receiptKey][]int64) {
	order, ids := p.order, p.ids
	p.order, p.ids = nil, nil
	return order, ids
}
