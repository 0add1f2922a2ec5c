package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/envelope/wire"
)

// Receipts are 1:1 messages of kind receipt, to the account that sent the
// messages (for group messages too), naming their envelope ids. Delivery
// receipts go out for every message people read as it is received; read
// receipts when the user reads (hush read, or chat showing it). They are
// sent with urgent false, so that they never wake a phone.

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
// the status of this account's sent messages; a sync copy of a read
// receipt one of this account's devices sent marks those messages read
// here too.
func (m *messenger) recordReceiptLocked(ctx context.Context, env *wire.Envelope, c *content) error {
	r := c.Receipt
	if env.SourceAccount == m.me.AccountID {
		if c.SyncTo != "" && r.Type == receiptRead {
			return m.st.MarkReadFrom(ctx, c.SyncTo, r.IDs)
		}
		return nil
	}
	status := store.StatusDelivered
	if r.Type == receiptRead {
		status = store.StatusRead
	}
	for _, id := range r.IDs {
		if _, err := m.st.RecordReceipt(ctx, m.me.AccountID, env.SourceAccount, id, status, env.ServerTimestamp); err != nil {
			return err
		}
	}
	return nil
}

// sendReceipt sends a receipt of type typ for the messages ids (in
// batches of maxReceiptIDs) to the account that sent them.
func (m *messenger) sendReceipt(ctx context.Context, to, typ string, ids []string, via sender) error {
	for batch := range slices.Chunk(ids, maxReceiptIDs) {
		c := &content{Kind: kindReceipt, Receipt: &receipt{Type: typ, IDs: batch}, SentAt: time.Now().UnixMilli()}
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
		var ids []string
		var seqs []int64
		for _, msg := range bySender[from] {
			ids, seqs = append(ids, msg.EnvelopeID), append(seqs, msg.Seq)
		}
		if err := m.sendReceipt(ctx, from, receiptRead, ids, via); err != nil {
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
	ids   map[receiptKey][]string
}

type receiptKey struct{ to, typ string }

func (p *pendingReceipts) add(to, typ, id string) {
	k := receiptKey{to, typ}
	if p.ids == nil {
		p.ids = map[receiptKey][]string{}
	}
	if _, ok := p.ids[k]; !ok {
		p.order = append(p.order, k)
	}
	p.ids[k] = append(p.ids[k], id)
}

// take returns what is pending and forgets it.
func (p *pendingReceipts) take() ([]receiptKey, map[receiptKey][]string) {
	order, ids := p.order, p.ids
	p.order, p.ids = nil, nil
	return order, ids
}
