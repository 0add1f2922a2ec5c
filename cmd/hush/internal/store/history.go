package store

import (
	"context"
	"fmt"
)

// Directions of a message in the history.
const (
	Incoming = "in"
	Outgoing = "out"
)

// Message is one message in the history. A message is identified by its
// sender device and its envelope id.
type Message struct {
	EnvelopeID      string
	Direction       string // Incoming or Outgoing
	FromAccount     string
	FromDevice      uint32
	PeerAccount     string // the other party: the sender, or the destination
	Kind            string
	Body            string
	SentAt          int64 // Unix ms, the sender's clock
	ServerTimestamp int64 // Unix ms
	SyncTo          string
}

// AddMessage records a message. It reports false, and changes nothing,
// when the history holds the message already.
func (s *Store) AddMessage(ctx context.Context, m *Message) (bool, error) {
	res, err := s.q(ctx).ExecContext(ctx, `INSERT INTO messages
		(envelope_id, direction, from_account, from_device, peer_account, kind, body, sent_at, server_timestamp, sync_to, stored_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (from_account, from_device, envelope_id) DO NOTHING`,
		m.EnvelopeID, m.Direction, m.FromAccount, m.FromDevice, m.PeerAccount, m.Kind, m.Body,
		m.SentAt, m.ServerTimestamp, m.SyncTo, s.unix())
	if err != nil {
		return false, fmt.Errorf("record message %s: %w", m.EnvelopeID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record message %s: %w", m.EnvelopeID, err)
	}
	return n == 1, nil
}

// HasMessage reports whether the history holds the message a device sent
// with an envelope id.
func (s *Store) HasMessage(ctx context.Context, fromAccount string, fromDevice uint32, envelopeID string) (bool, error) {
	return s.exists(ctx, `SELECT 1 FROM messages WHERE from_account = ? AND from_device = ? AND envelope_id = ?`,
		fromAccount, fromDevice, envelopeID)
}

// Messages returns the last limit messages exchanged with an account
// (every account when peer is ""), oldest first.
func (s *Store) Messages(ctx context.Context, peer string, limit int) ([]Message, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT envelope_id, direction, from_account, from_device, peer_account, kind, body,
			sent_at, server_timestamp, sync_to
		FROM (SELECT * FROM messages WHERE ? = '' OR peer_account = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
		peer, peer, limit)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.EnvelopeID, &m.Direction, &m.FromAccount, &m.FromDevice, &m.PeerAccount, &m.Kind, &m.Body,
			&m.SentAt, &m.ServerTimestamp, &m.SyncTo); err != nil {
			return nil, fmt.Errorf("list messages: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
