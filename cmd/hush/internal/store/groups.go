package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Group is what this device knows of a group: the version and member list
// last learnt from the server, whether this account is still a member,
// the version at which it last rotated its own sender key, and the
// distribution id of its current sender key.
type Group struct {
	ID      string
	Version int64
	Member  bool
	Rotated int64
	Members []GroupMember
	// DistributionID names this device's sender key of the group (a new
	// one on every rotation); "" until it first sends.
	DistributionID string
}

// GroupMember is one member account and its role.
type GroupMember struct {
	AccountID string
	Role      string
}

// HasMember reports whether an account is in the member list.
func (g *Group) HasMember(accountID string) bool {
	for _, m := range g.Members {
		if m.AccountID == accountID {
			return true
		}
	}
	return false
}

// Group returns what this device knows of a group, or nil.
func (s *Store) Group(ctx context.Context, groupID string) (*Group, error) {
	g := Group{ID: groupID}
	err := s.q(ctx).QueryRowContext(ctx, `SELECT version, member, rotated, distribution_id FROM groups WHERE group_id = ?`, groupID).
		Scan(&g.Version, &g.Member, &g.Rotated, &g.DistributionID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load group %s: %w", groupID, err)
	}
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT account_id, role FROM group_members WHERE group_id = ? ORDER BY account_id`, groupID)
	if err != nil {
		return nil, fmt.Errorf("load members of %s: %w", groupID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var m GroupMember
		if err := rows.Scan(&m.AccountID, &m.Role); err != nil {
			return nil, fmt.Errorf("load members of %s: %w", groupID, err)
		}
		g.Members = append(g.Members, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load members of %s: %w", groupID, err)
	}
	return &g, nil
}

// SaveGroup replaces what this device knows of a group.
func (s *Store) SaveGroup(ctx context.Context, g *Group) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO groups (group_id, version, member, rotated, distribution_id, updated) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (group_id) DO UPDATE SET version = excluded.version, member = excluded.member,
				rotated = excluded.rotated, distribution_id = excluded.distribution_id, updated = excluded.updated`,
			g.ID, g.Version, g.Member, g.Rotated, g.DistributionID, s.unix())
		if err != nil {
			return fmt.Errorf("save group %s: %w", g.ID, err)
		}
		if _, err := s.q(ctx).ExecContext(ctx, `DELETE FROM group_members WHERE group_id = ?`, g.ID); err != nil {
			return fmt.Errorf("save members of %s: %w", g.ID, err)
		}
		for _, m := range g.Members {
			_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO group_members (group_id, account_id, role) VALUES (?, ?, ?)`,
				g.ID, m.AccountID, m.Role)
			if err != nil {
				return fmt.Errorf("save members of %s: %w", g.ID, err)
			}
		}
		return nil
	})
}

// GroupIDs returns the ids of the known groups that start with prefix.
func (s *Store) GroupIDs(ctx context.Context, prefix string) ([]string, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT group_id FROM groups WHERE substr(group_id, 1, length(?)) = ? ORDER BY group_id`,
		prefix, prefix)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		out = append(out, id)
	}
	return out, wrap(rows.Err(), "list groups")
}

// DeleteSenderKeys deletes the sender keys seen in a group: those of one
// device of an account, of all its devices (device 0), or of every
// account (account "").
func (s *Store) DeleteSenderKeys(ctx context.Context, groupID, accountID string, deviceID uint32) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM sender_keys WHERE group_id = ?
		AND (? = '' OR account_id = ?) AND (? = 0 OR device_id = ?)`, groupID, accountID, accountID, deviceID, deviceID)
	return wrap(err, "delete sender keys in %s", groupID)
}

// Device names one device of an account.
type Device struct {
	AccountID string
	DeviceID  uint32
}

// SenderKeysSent returns, per device, the id of this device's sender key
// of a group that the device has been sent.
func (s *Store) SenderKeysSent(ctx context.Context, groupID string) (map[Device]uint32, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT account_id, device_id, key_id FROM sender_key_sent WHERE group_id = ?`, groupID)
	if err != nil {
		return nil, fmt.Errorf("list sender keys sent in %s: %w", groupID, err)
	}
	defer rows.Close()
	out := map[Device]uint32{}
	for rows.Next() {
		var d Device
		var id uint32
		if err := rows.Scan(&d.AccountID, &d.DeviceID, &id); err != nil {
			return nil, fmt.Errorf("list sender keys sent in %s: %w", groupID, err)
		}
		out[d] = id
	}
	return out, wrap(rows.Err(), "list sender keys sent in %s", groupID)
}

// MarkSenderKeySent records that a device has been sent this device's
// sender key keyID of a group.
func (s *Store) MarkSenderKeySent(ctx context.Context, groupID string, d Device, keyID uint32) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO sender_key_sent (group_id, account_id, device_id, key_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (group_id, account_id, device_id) DO UPDATE SET key_id = excluded.key_id`,
		groupID, d.AccountID, d.DeviceID, keyID)
	return wrap(err, "record sender key sent in %s", groupID)
}

// ForgetSenderKeysSent forgets which devices have this device's sender
// key of a group: one device, all devices of an account (device 0), or
// all (account "").
func (s *Store) ForgetSenderKeysSent(ctx context.Context, groupID, accountID string, deviceID uint32) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM sender_key_sent WHERE group_id = ?
		AND (? = '' OR account_id = ?) AND (? = 0 OR device_id = ?)`, groupID, accountID, accountID, deviceID, deviceID)
	return wrap(err, "forget sender keys sent in %s", groupID)
}
