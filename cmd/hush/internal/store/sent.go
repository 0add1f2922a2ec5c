package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SentKeep is how long a sent plaintext is kept for a resend.
const SentKeep = 24 * time.Hour

// SentPlaintext is a message this device sent, kept for a while so that
// a recipient that could not decrypt it can have it again.
type SentPlaintext struct {
	ServerTimestamp int64  // the envelope's, Unix ms
	Destination     string // the account of a 1:1 message, "" for a group message
	Group           string // the group of a group message, else ""
	Content         []byte // the encoded plaintext
}

// PruneSent drops the sent plaintexts older than SentKeep; Open calls it.
func (s *Store) PruneSent(ctx context.Context) error {
	if _, err := s.q(ctx).ExecContext(ctx, `DELETE FROM sent_plaintexts WHERE created < ?`, s.unix()-int64(SentKeep/time.Second)); err != nil {
		return fmt.Errorf("drop old sent plaintexts: %w", err)
	}
	return nil
}

// KeepSent keeps a sent plaintext and drops those older than SentKeep.
func (s *Store) KeepSent(ctx context.Context, p *SentPlaintext) error {
	if err := s.PruneSent(ctx); err != nil {
		return err
	}
	now := s.unix()
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO sent_plaintexts (server_timestamp, destination, group_id, content, created)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, p.ServerTimestamp, p.Destination, p.Group, p.Content, now)
	return wrap(err, "keep sent plaintext")
}

// FindSent returns the plaintext sent at a server timestamp that
// account from received: 1:1 to it, in a group it is a member of, or,
// for this account's own devices (self), any. It returns nil when none is
// kept (any more).
func (s *Store) FindSent(ctx context.Context, serverTimestamp int64, from string, self bool) (*SentPlaintext, error) {
	p := SentPlaintext{ServerTimestamp: serverTimestamp}
	err := s.q(ctx).QueryRowContext(ctx, `SELECT destination, group_id, content FROM sent_plaintexts p
		WHERE server_timestamp = ? AND created >= ? AND (?
			OR (group_id = '' AND destination = ?)
			OR (group_id != '' AND EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = p.group_id AND m.account_id = ?)))
		ORDER BY group_id LIMIT 1`,
		serverTimestamp, s.unix()-int64(SentKeep/time.Second), self, from, from).Scan(&p.Destination, &p.Group, &p.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find sent plaintext: %w", err)
	}
	return &p, nil
}
