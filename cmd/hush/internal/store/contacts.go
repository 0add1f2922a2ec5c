package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SaveContact remembers that number belongs to an account.
func (s *Store) SaveContact(ctx context.Context, number, accountID string) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO contacts (number, account_id, updated) VALUES (?, ?, ?)
		ON CONFLICT (number) DO UPDATE SET account_id = excluded.account_id, updated = excluded.updated`,
		number, accountID, s.unix())
	if err != nil {
		return fmt.Errorf("save contact %s: %w", number, err)
	}
	return nil
}

// ContactAccount returns the account id known for number, or "".
func (s *Store) ContactAccount(ctx context.Context, number string) (string, error) {
	var id string
	err := s.q(ctx).QueryRowContext(ctx, `SELECT account_id FROM contacts WHERE number = ?`, number).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load contact %s: %w", number, err)
	}
	return id, nil
}

// ContactNumber returns the number known for an account (the most recently
// confirmed one), or "". This device's own account is known too.
func (s *Store) ContactNumber(ctx context.Context, accountID string) (string, error) {
	if a, err := s.Account(); err == nil && a.AccountID == accountID {
		return a.Number, nil
	}
	var n string
	err := s.q(ctx).QueryRowContext(ctx, `SELECT number FROM contacts WHERE account_id = ? ORDER BY updated DESC, number LIMIT 1`, accountID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load contact of %s: %w", accountID, err)
	}
	return n, nil
}
