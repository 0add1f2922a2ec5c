package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/groups"
	"github.com/hushmsg/hush/internal/api"
)

// ChangeGroup implements groups.Store. SQLite has one writer at a time, so
// the write transaction itself serializes changes to a group.
func (s *Store) ChangeGroup(ctx context.Context, groupID string, create bool, now time.Time, decide func(*groups.Group) (*groups.Change, error)) (*groups.Group, error) {
	var out *groups.Group
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if create {
			if _, err := tx.ExecContext(ctx, `INSERT INTO groups (group_id, version, created) VALUES (?, 0, ?)`, groupID, now.Unix()); err != nil {
				return err
			}
		}
		g, err := loadGroup(ctx, tx, groupID)
		if err != nil {
			return err
		}
		c, err := decide(g)
		if err != nil || c == nil {
			out = g
			return err
		}
		if err := applyChange(ctx, tx, g, c); err != nil {
			return err
		}
		for _, n := range c.Notices {
			if err := queueNotice(ctx, tx, groupID, &n); err != nil {
				return err
			}
		}
		out, err = loadGroup(ctx, tx, groupID)
		if errors.Is(err, groups.ErrNotFound) {
			out, err = &groups.Group{ID: groupID, Version: g.Version + 1}, nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func applyChange(ctx context.Context, tx *sql.Tx, g *groups.Group, c *groups.Change) error {
	for _, m := range c.Add {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE account_id = ?`, m.AccountID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", groups.ErrUnknownAccount, m.AccountID)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_members (group_id, account_id, role, joined) VALUES (?, ?, ?, ?)`,
			g.ID, m.AccountID, m.Role, m.Joined); err != nil {
			return err
		}
	}
	for _, a := range c.Remove {
		if _, err := tx.ExecContext(ctx, `DELETE FROM group_members WHERE group_id = ? AND account_id = ?`, g.ID, a); err != nil {
			return err
		}
	}
	for _, a := range c.Promote {
		if _, err := tx.ExecContext(ctx, `UPDATE group_members SET role = 'admin' WHERE group_id = ? AND account_id = ?`, g.ID, a); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE groups SET version = version + 1 WHERE group_id = ?`, g.ID); err != nil {
		return err
	}
	// A group nobody is left in is gone.
	_, err := tx.ExecContext(ctx, `DELETE FROM groups WHERE group_id = ? AND NOT EXISTS (SELECT 1 FROM group_members WHERE group_id = ?)`, g.ID, g.ID)
	return err
}

// queueNotice queues a server notice for every device of its accounts,
// sharing one payload.
func queueNotice(ctx context.Context, tx *sql.Tx, groupID string, n *groups.Notice) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO payloads (id, group_id, content, refs) VALUES (?, ?, ?, 0)`,
		n.Payload[:], groupID, n.Content); err != nil {
		return err
	}
	refs := int64(0)
	for _, a := range n.Accounts {
		res, err := tx.ExecContext(ctx, `INSERT INTO envelopes
			(account_id, device_id, id, source_account, source_device, type, content, server_timestamp, expires, payload)
			SELECT account_id, device_id, ?, '', 0, ?, x'', ?, ?, ? FROM devices WHERE account_id = ? ORDER BY device_id`,
			n.ID[:], wire.EnvelopeGroupChange, n.ServerTimestamp, n.Expires.Unix(), n.Payload[:], a)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return err
		}
		refs += k
		// Notices count toward the mailboxes' quota, though no quota
		// refuses them (a full mailbox must not stop a group's changes).
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET mailbox_count = mailbox_count + 1, mailbox_bytes = mailbox_bytes + ?
			WHERE account_id = ?`, len(n.Content), a); err != nil {
			return err
		}
	}
	return addRefs(ctx, tx, n.Payload, int(refs))
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func loadGroup(ctx context.Context, q querier, groupID string) (*groups.Group, error) {
	g := &groups.Group{ID: groupID}
	err := q.QueryRowContext(ctx, `SELECT version, created FROM groups WHERE group_id = ?`, groupID).Scan(&g.Version, &g.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, groups.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT account_id, role, joined FROM group_members WHERE group_id = ? ORDER BY joined, account_id`, groupID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var m api.GroupMember
		if err := rows.Scan(&m.AccountID, &m.Role, &m.Joined); err != nil {
			return nil, err
		}
		g.Members = append(g.Members, m)
	}
	return g, rows.Err()
}

// Group implements groups.Store.
func (s *Store) Group(ctx context.Context, groupID string) (*groups.Group, error) {
	g, err := loadGroup(ctx, s.r, groupID)
	return g, mapErr(err)
}

// GroupsOf implements groups.Store.
func (s *Store) GroupsOf(ctx context.Context, accountID string) ([]api.GroupSummary, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT g.group_id, g.version, m.role FROM group_members m JOIN groups g USING (group_id)
		WHERE m.account_id = ? ORDER BY g.created, g.group_id`, accountID)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []api.GroupSummary
	for rows.Next() {
		var g api.GroupSummary
		if err := rows.Scan(&g.GroupID, &g.Version, &g.Role); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, mapErr(rows.Err())
}

// GroupDevices implements groups.Store.
func (s *Store) GroupDevices(ctx context.Context, groupID, member string) ([]groups.Device, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT d.account_id, d.device_id, d.registration_id
		FROM group_members m JOIN devices d ON d.account_id = m.account_id
		WHERE m.group_id = ? AND EXISTS (SELECT 1 FROM group_members WHERE group_id = ? AND account_id = ?)
		ORDER BY d.account_id, d.device_id`, groupID, groupID, member)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []groups.Device
	for rows.Next() {
		var d groups.Device
		if err := rows.Scan(&d.AccountID, &d.DeviceID, &d.RegistrationID); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	if len(out) == 0 {
		return nil, groups.ErrNotFound
	}
	return out, nil
}
