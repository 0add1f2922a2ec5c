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
	Group           string // the group of a group message, else ""
	Status          string // incoming messages: "" unread, StatusRead once read
	Seq             int64  // the history's order; set when listed
}

// AddMessage records a message. It reports false, and changes nothing,
// when the history holds the message already.
func (s *Store) AddMessage(ctx context.Context, m *Message) (bool, error) {
	res, err := s.q(ctx).ExecContext(ctx, `INSERT INTO messages
		(envelope_id, direction, from_account, from_device, peer_account, kind, body, sent_at, server_timestamp, sync_to, group_id, stored_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (from_account, from_device, envelope_id) DO NOTHING`,
		m.EnvelopeID, m.Direction, m.FromAccount, m.FromDevice, m.PeerAccount, m.Kind, m.Body,
		m.SentAt, m.ServerTimestamp, m.SyncTo, m.Group, s.unix())
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

// messageColumns are the columns scanMessages reads, in its order.
const messageColumns = `seq, envelope_id, direction, from_account, from_device, peer_account, kind, body,
	sent_at, server_timestamp, sync_to, group_id, status`

// Messages returns the last limit messages exchanged with an account
// (every account when peer is ""), oldest first.
func (s *Store) Messages(ctx context.Context, peer string, limit int) ([]Message, error) {
	return s.listMessages(ctx, `SELECT `+messageColumns+`
		FROM (SELECT * FROM messages WHERE ? = '' OR peer_account = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
		peer, peer, limit)
}

// Filter selects messages of one conversation: an account (Peer), a
// group (Group), or all of them (both ""). ID, when set, selects the
// message with that envelope id only.
type Filter struct {
	Peer  string
	Group string
	ID    string
}

const filterWhere = `(? = '' OR (peer_account = ? AND group_id = '')) AND (? = '' OR group_id = ?) AND (? = '' OR envelope_id = ?)`

func (f Filter) args() []any {
	return []any{f.Peer, f.Peer, f.Group, f.Group, f.ID, f.ID}
}

// SentMessages returns the last limit messages the account me sent (from
// any of its devices) that f selects, oldest first.
func (s *Store) SentMessages(ctx context.Context, me string, f Filter, limit int) ([]Message, error) {
	args := append([]any{me}, f.args()...)
	return s.listMessages(ctx, `SELECT `+messageColumns+` FROM (SELECT * FROM messages
		WHERE from_account = ? AND `+filterWhere+` ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
		append(args, limit)...)
}

// UnreadMessages returns the incoming messages from other accounts that f
// selects and that are not marked read, oldest first. Server notices
// (from no account) are never unread.
func (s *Store) UnreadMessages(ctx context.Context, me string, f Filter) ([]Message, error) {
	args := append([]any{me}, f.args()...)
	return s.listMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE direction = 'in' AND from_account NOT IN (?, '') AND status = '' AND `+filterWhere+` ORDER BY seq`, args...)
}

// MarkRead marks messages (by Seq) read.
func (s *Store) MarkRead(ctx context.Context, seqs []int64) error {
	for _, seq := range seqs {
		if _, err := s.q(ctx).ExecContext(ctx, `UPDATE messages SET status = ? WHERE seq = ?`, StatusRead, seq); err != nil {
			return fmt.Errorf("mark message read: %w", err)
		}
	}
	return nil
}

func (s *Store) listMessages(ctx context.Context, query string, args ...any) ([]Message, error) {
	rows, err := s.q(ctx).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.Seq, &m.EnvelopeID, &m.Direction, &m.FromAccount, &m.FromDevice, &m.PeerAccount, &m.Kind, &m.Body,
			&m.SentAt, &m.ServerTimestamp, &m.SyncTo, &m.Group, &m.Status); err != nil {
			return nil, fmt.Errorf("list messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return out, nil
}

// EnvelopesAt returns the envelope ids of the messages an account sent
// (from any of its devices) with the timestamp sentAt: receipts and sync
// copies name messages by it.
func (s *Store) EnvelopesAt(ctx context.Context, fromAccount string, sentAt int64) ([]string, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT envelope_id FROM messages WHERE from_account = ? AND sent_at = ? ORDER BY seq`,
		fromAccount, sentAt)
	if err != nil {
		return nil, fmt.Errorf("find messages at %d: %w", sentAt, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("find messages at %d: %w", sentAt, err)
		}
		out = append(out, id)
	}
	return out, wrap(rows.Err(), "find messages at %d", sentAt)
}

// HasMessageAt reports whether the history holds a message a device sent
// with the timestamp sentAt: a message sent again (after a decryption
// error) comes in a new envelope with its old timestamp.
func (s *Store) HasMessageAt(ctx context.Context, fromAccount string, fromDevice uint32, sentAt int64) (bool, error) {
	return s.exists(ctx, `SELECT 1 FROM messages WHERE from_account = ? AND from_device = ? AND sent_at = ?`,
		fromAccount, fromDevice, sentAt)
}

// MarkReadAt marks the incoming messages an account (any, for "") sent
// with these timestamps read.
func (s *Store) MarkReadAt(ctx context.Context, fromAccount string, timestamps []int64) error {
	for _, ts := range timestamps {
		_, err := s.q(ctx).ExecContext(ctx, `UPDATE messages SET status = ?
			WHERE (? = '' OR from_account = ?) AND sent_at = ? AND direction = 'in'`, StatusRead, fromAccount, fromAccount, ts)
		if err != nil {
			return fmt.Errorf("mark message at %d read: %w", ts, err)
		}
	}
	return nil
}
