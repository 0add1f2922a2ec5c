package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/groups"
	"github.com/hushmsg/hush/internal/api"
)

// ChangeGroup implements groups.Store. The group row stays locked from the
// read to the commit, so changes to one group apply one after another and
// their notices take mailbox positions in version order.
func (s *Store) ChangeGroup(ctx context.Context, groupID string, create bool, now time.Time, decide func(*groups.Group) (*groups.Change, error)) (*groups.Group, error) {
	var out *groups.Group
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if create {
			if _, err := tx.Exec(ctx, `INSERT INTO groups (group_id, version, created) VALUES ($1, 0, $2)`, groupID, now.Unix()); err != nil {
				return err
			}
		}
		g, err := loadGroup(ctx, tx, groupID, true)
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
		out, err = loadGroup(ctx, tx, groupID, false)
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

func applyChange(ctx context.Context, tx pgx.Tx, g *groups.Group, c *groups.Change) error {
	for _, m := range c.Add {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE account_id = $1`, m.AccountID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", groups.ErrUnknownAccount, m.AccountID)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO group_members (group_id, account_id, role, joined) VALUES ($1, $2, $3, $4)`,
			g.ID, m.AccountID, m.Role, m.Joined); err != nil {
			return err
		}
	}
	if len(c.Remove) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM group_members WHERE group_id = $1 AND account_id = ANY($2::uuid[])`, g.ID, c.Remove); err != nil {
			return err
		}
	}
	if len(c.Promote) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE group_members SET role = 'admin' WHERE group_id = $1 AND account_id = ANY($2::uuid[])`, g.ID, c.Promote); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE groups SET version = version + 1 WHERE group_id = $1`, g.ID); err != nil {
		return err
	}
	// A group nobody is left in is gone.
	_, err := tx.Exec(ctx, `DELETE FROM groups WHERE group_id = $1 AND NOT EXISTS (SELECT 1 FROM group_members WHERE group_id = $1)`, g.ID)
	return err
}

// queueNotice queues a server notice for every device of its accounts,
// sharing one payload. Mailboxes are locked in (account, device) order, as
// Insert locks them.
func queueNotice(ctx context.Context, tx pgx.Tx, groupID string, n *groups.Notice) error {
	if _, err := tx.Exec(ctx, `INSERT INTO payloads (id, group_id, content, refs) VALUES ($1, $2, $3, 0)`,
		n.Payload, groupID, n.Content); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `WITH boxes AS (
			SELECT account_id, device_id FROM devices WHERE account_id = ANY($1::uuid[])
			ORDER BY account_id, device_id FOR UPDATE),
		pos AS (
			UPDATE devices d SET next_seq = d.next_seq + 1,
				mailbox_count = d.mailbox_count + 1, mailbox_bytes = d.mailbox_bytes + $7 FROM boxes b
			WHERE d.account_id = b.account_id AND d.device_id = b.device_id
			RETURNING d.account_id, d.device_id, d.next_seq)
		INSERT INTO envelopes (account_id, device_id, seq, id, source_account, source_device, type, content, server_timestamp, expires, payload)
		SELECT account_id, device_id, next_seq, $2, NULL, 0, $3, '', $4, $5, $6 FROM pos`,
		n.Accounts, n.ID, wire.EnvelopeGroupChange, n.ServerTimestamp, n.Expires.Unix(), n.Payload, len(n.Content))
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE payloads SET refs = refs + $2 WHERE id = $1`, n.Payload, tag.RowsAffected()); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `DELETE FROM payloads WHERE id = $1 AND refs <= 0`, n.Payload)
	return err
}

func loadGroup(ctx context.Context, q pgx.Tx, groupID string, lock bool) (*groups.Group, error) {
	query := `SELECT version, created FROM groups WHERE group_id = $1`
	if lock {
		query += ` FOR UPDATE`
	}
	g := &groups.Group{ID: groupID}
	err := q.QueryRow(ctx, query, groupID).Scan(&g.Version, &g.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, groups.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	g.Members, err = members(ctx, q, groupID)
	return g, err
}

func members(ctx context.Context, q queryer, groupID string) ([]api.GroupMember, error) {
	rows, err := q.Query(ctx, `SELECT account_id::text, role, joined FROM group_members WHERE group_id = $1 ORDER BY joined, account_id`, groupID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (api.GroupMember, error) {
		var m api.GroupMember
		err := row.Scan(&m.AccountID, &m.Role, &m.Joined)
		return m, err
	})
}

// Group implements groups.Store.
func (s *Store) Group(ctx context.Context, groupID string) (*groups.Group, error) {
	g := &groups.Group{ID: groupID}
	err := s.pool.QueryRow(ctx, `SELECT version, created FROM groups WHERE group_id = $1`, groupID).Scan(&g.Version, &g.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, groups.ErrNotFound
	}
	if err != nil {
		return nil, mapErr(err)
	}
	g.Members, err = members(ctx, s.pool, groupID)
	return g, mapErr(err)
}

// GroupsOf implements groups.Store.
func (s *Store) GroupsOf(ctx context.Context, accountID string) ([]api.GroupSummary, error) {
	rows, err := s.pool.Query(ctx, `SELECT g.group_id::text, g.version, m.role FROM group_members m JOIN groups g USING (group_id)
		WHERE m.account_id = $1 ORDER BY g.created, g.group_id`, accountID)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (api.GroupSummary, error) {
		var g api.GroupSummary
		err := row.Scan(&g.GroupID, &g.Version, &g.Role)
		return g, err
	})
	return out, mapErr(err)
}

// GroupDevices implements groups.Store.
func (s *Store) GroupDevices(ctx context.Context, groupID, member string) ([]groups.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.account_id::text, d.device_id, d.registration_id
		FROM group_members m JOIN devices d ON d.account_id = m.account_id
		WHERE m.group_id = $1 AND EXISTS (SELECT 1 FROM group_members WHERE group_id = $1 AND account_id = $2)
		ORDER BY d.account_id, d.device_id`, groupID, member)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (groups.Device, error) {
		var d groups.Device
		err := row.Scan(&d.AccountID, &d.DeviceID, &d.RegistrationID)
		return d, err
	})
	if err != nil {
		return nil, mapErr(err)
	}
	if len(out) == 0 {
		return nil, groups.ErrNotFound
	}
	return out, nil
}
