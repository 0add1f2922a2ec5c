package store

import (
	"context"
	"fmt"
)

// Statuses of a sent message at one recipient account, in the order they
// are reached; an incoming message read by the user has StatusRead too.
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
)

// Receipt is how far one sent message got at one recipient account.
// Updated is Unix ms (the server's clock).
type Receipt struct {
	AccountID string
	Status    string
	Updated   int64
}

// statusRank orders statuses in SQL: a receipt never moves a status back.
const statusRank = `CASE %s WHEN 'read' THEN 3 WHEN 'delivered' THEN 2 ELSE 1 END`

// AddRecipients records that a sent message (by envelope id) went to
// these accounts, at Unix ms at.
func (s *Store) AddRecipients(ctx context.Context, envelopeID string, accounts []string, at int64) error {
	for _, a := range accounts {
		_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO receipts (envelope_id, account_id, status, updated)
			VALUES (?, ?, ?, ?) ON CONFLICT (envelope_id, account_id) DO NOTHING`, envelopeID, a, StatusSent, at)
		if err != nil {
			return fmt.Errorf("record recipients of %s: %w", envelopeID, err)
		}
	}
	return nil
}

// RecordReceipt records that account from reports status (delivered or
// read) for the message with envelope id, at Unix ms at. It reports false
// and changes nothing unless the history holds that message as sent by
// the account me, and, for a 1:1 message, to from. A status never goes
// back (a late delivery receipt leaves read as it is).
func (s *Store) RecordReceipt(ctx context.Context, me, from, envelopeID, status string, at int64) (bool, error) {
	ok, err := s.exists(ctx, `SELECT 1 FROM messages WHERE envelope_id = ? AND from_account = ?
		AND (group_id != '' OR peer_account = ?)`, envelopeID, me, from)
	if err != nil || !ok {
		return false, err
	}
	_, err = s.q(ctx).ExecContext(ctx, `INSERT INTO receipts (envelope_id, account_id, status, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT (envelope_id, account_id) DO UPDATE SET status = excluded.status, updated = excluded.updated
		WHERE `+fmt.Sprintf(statusRank, "excluded.status")+` > `+fmt.Sprintf(statusRank, "receipts.status"),
		envelopeID, from, status, at)
	if err != nil {
		return false, fmt.Errorf("record receipt for %s: %w", envelopeID, err)
	}
	return true, nil
}

// Receipts returns the status of a sent message at each recipient
// account, ordered by account.
func (s *Store) Receipts(ctx context.Context, envelopeID string) ([]Receipt, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT account_id, status, updated FROM receipts
		WHERE envelope_id = ? ORDER BY account_id`, envelopeID)
	if err != nil {
		return nil, fmt.Errorf("list receipts of %s: %w", envelopeID, err)
	}
	defer rows.Close()
	var out []Receipt
	for rows.Next() {
		var r Receipt
		if err := rows.Scan(&r.AccountID, &r.Status, &r.Updated); err != nil {
			return nil, fmt.Errorf("list receipts of %s: %w", envelopeID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list receipts of %s: %w", envelopeID, err)
	}
	return out, nil
}
