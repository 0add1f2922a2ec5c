package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/gdpr"
)

// ResolveSubject implements gdpr.AccountStore.
func (s *Store) ResolveSubject(ctx context.Context, subject string) (string, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT account_id FROM accounts WHERE account_id = ?
		UNION ALL SELECT account_id FROM numbers WHERE number = ? LIMIT 1`, subject, subject).Scan(&id)
	return id, notFound(err, gdpr.ErrNotFound)
}

// ExportAccount implements gdpr.AccountStore.
func (s *Store) ExportAccount(ctx context.Context, account string) (*gdpr.Export, error) {
	e := &gdpr.Export{Account: gdpr.ExportAccount{ID: account}}
	var created, lastSeen int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(n.number, ''), a.created, a.identity_key, a.last_seen, a.last_seen_visibility
		FROM accounts a LEFT JOIN numbers n ON n.account_id = a.account_id WHERE a.account_id = ?`, account).
		Scan(&e.Account.Number, &created, &e.Account.IdentityKey, &lastSeen, &e.Account.LastSeenVisibility)
	if err != nil {
		return nil, notFound(err, gdpr.ErrNotFound)
	}
	e.Account.Created = time.Unix(created, 0).UTC()
	if lastSeen != 0 {
		e.Account.LastSeen = time.Unix(lastSeen, 0).UTC()
	}
	err = each(ctx, s.r, `SELECT device_id, name, created, last_seen_day, registration_id FROM devices WHERE account_id = ? ORDER BY device_id`,
		[]any{account}, func(rows *sql.Rows) error {
			var d gdpr.ExportDevice
			var c, day int64
			if err := rows.Scan(&d.ID, &d.Name, &c, &day, &d.RegistrationID); err != nil {
				return err
			}
			d.Created, d.LastSeenDay, d.OneTimePreKeys = time.Unix(c, 0).UTC(), time.Unix(day, 0).UTC(), map[string]int{}
			e.Devices = append(e.Devices, d)
			return nil
		})
	if err != nil {
		return nil, err
	}
	for i := range e.Devices {
		d := &e.Devices[i]
		if err := each(ctx, s.r, `SELECT kind, key_id, public_key FROM signed_prekeys WHERE account_id = ? AND device_id = ? ORDER BY kind`,
			[]any{account, d.ID}, func(rows *sql.Rows) error {
				var k gdpr.ExportKey
				if err := rows.Scan(&k.Kind, &k.KeyID, &k.PublicKey); err != nil {
					return err
				}
				d.SignedPreKeys = append(d.SignedPreKeys, k)
				return nil
			}); err != nil {
			return nil, err
		}
		if err := each(ctx, s.r, `SELECT kind, count(*) FROM one_time_prekeys WHERE account_id = ? AND device_id = ? GROUP BY kind`,
			[]any{account, d.ID}, func(rows *sql.Rows) error {
				var kind string
				var n int
				if err := rows.Scan(&kind, &n); err != nil {
					return err
				}
				d.OneTimePreKeys[kind] = n
				return nil
			}); err != nil {
			return nil, err
		}
	}
	err = each(ctx, s.r, `SELECT e.device_id, e.id, e.source_account, e.source_device, e.type, coalesce(p.group_id, ''),
			e.server_timestamp, e.expires, length(CASE WHEN e.payload IS NULL THEN e.content ELSE p.content END)
		FROM envelopes e LEFT JOIN payloads p ON p.id = e.payload WHERE e.account_id = ? ORDER BY e.seq`,
		[]any{account}, func(rows *sql.Rows) error {
			var v gdpr.ExportEnvelope
			var id []byte
			var ts, exp int64
			if err := rows.Scan(&v.Device, &id, &v.SourceAccount, &v.SourceDevice, &v.Type, &v.Group, &ts, &exp, &v.Size); err != nil {
				return err
			}
			if u, err := uuid.FromBytes(id); err == nil {
				v.ID = u.String()
			}
			v.ServerTimestamp, v.Expires = time.UnixMilli(ts).UTC(), time.Unix(exp, 0).UTC()
			e.Envelopes = append(e.Envelopes, v)
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = each(ctx, s.r, `SELECT group_id, role, joined FROM group_members WHERE account_id = ? ORDER BY joined, group_id`,
		[]any{account}, func(rows *sql.Rows) error {
			var g gdpr.ExportGroup
			var joined int64
			if err := rows.Scan(&g.ID, &g.Role, &joined); err != nil {
				return err
			}
			g.Joined = time.Unix(joined, 0).UTC()
			e.Groups = append(e.Groups, g)
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = each(ctx, s.r, `SELECT id, size, state, created, expires FROM attachments WHERE owner = ? ORDER BY created, id`,
		[]any{account}, func(rows *sql.Rows) error {
			var a gdpr.ExportAttachment
			var c, x int64
			if err := rows.Scan(&a.ID, &a.Size, &a.State, &c, &x); err != nil {
				return err
			}
			a.Created, a.Expires = time.Unix(c, 0).UTC(), time.Unix(x, 0).UTC()
			e.Attachments = append(e.Attachments, a)
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = each(ctx, s.r, `SELECT device_id, kind, created, updated FROM push_registrations WHERE account_id = ? ORDER BY device_id`,
		[]any{account}, func(rows *sql.Rows) error {
			var p gdpr.ExportPush
			var c, u int64
			if err := rows.Scan(&p.Device, &p.Kind, &c, &u); err != nil {
				return err
			}
			p.Created, p.Updated = time.Unix(c, 0).UTC(), time.Unix(u, 0).UTC()
			e.Push = append(e.Push, p)
			return nil
		})
	return e, err
}

// each runs a query and calls fn for every row.
func each(ctx context.Context, db *sql.DB, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return mapErr(rows.Err())
}

// BeginErasure implements gdpr.AccountStore.
func (s *Store) BeginErasure(ctx context.Context, account, pseudonym string, now time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO erasures (account_id, pseudonym, started) VALUES (?, ?, ?) ON CONFLICT (account_id) DO NOTHING`,
		account, pseudonym, now.Unix())
	return mapErr(err)
}

// PendingErasures implements gdpr.AccountStore.
func (s *Store) PendingErasures(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := each(ctx, s.r, `SELECT account_id, pseudonym FROM erasures`, nil, func(rows *sql.Rows) error {
		var a, p string
		if err := rows.Scan(&a, &p); err != nil {
			return err
		}
		out[a] = p
		return nil
	})
	return out, err
}

// EraseAccount implements gdpr.AccountStore.
func (s *Store) EraseAccount(ctx context.Context, account, pseudonym string) (map[string]int64, error) {
	counts := map[string]int64{}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var number string
		err := tx.QueryRowContext(ctx, `SELECT number FROM numbers WHERE account_id = ?`, account).Scan(&number)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// What goes with the account row, counted before it goes.
		for _, t := range []string{"devices", "one_time_prekeys", "signed_prekeys", "envelopes", "group_members", "push_registrations", "provisioning_codes"} {
			var n int64
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+t+` WHERE account_id = ?`, account).Scan(&n); err != nil {
				return err
			}
			counts[t] = n
		}
		steps := []struct {
			table, q string
			args     []any
		}{
			{"sent_envelopes", `DELETE FROM envelopes WHERE source_account = ?`, []any{account}},
			{"group_notices", `DELETE FROM envelopes WHERE type = 256 AND payload IN (SELECT id FROM payloads WHERE instr(content, ?) > 0)`, []any{account}},
			{"registration_codes", `DELETE FROM registration_codes WHERE number = ?`, []any{number}},
			{"dsr_requests_pseudonymized", `UPDATE dsr_requests SET subject = ? WHERE subject IN (?, ?)`, []any{pseudonym, account, number}},
			{"accounts", `DELETE FROM accounts WHERE account_id = ?`, []any{account}},
			{"erasures", `DELETE FROM erasures WHERE account_id = ?`, []any{account}},
		}
		for _, st := range steps {
			res, err := tx.ExecContext(ctx, st.q, st.args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			counts[st.table] = n
		}
		return nil
	})
	return counts, err
}

var _ gdpr.AccountStore = (*Store)(nil)

// InactiveAccounts implements gdpr.AccountStore.
func (s *Store) InactiveAccounts(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	var out []string
	err := each(ctx, s.r, `SELECT account_id FROM accounts WHERE max(last_seen, created) < ? LIMIT ?`, []any{cutoff.Unix(), limit},
		func(rows *sql.Rows) error {
			var a string
			if err := rows.Scan(&a); err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	return out, err
}

// InactiveDevices implements gdpr.AccountStore.
func (s *Store) InactiveDevices(ctx context.Context, cutoff time.Time, limit int) ([]gdpr.DeviceRef, error) {
	var out []gdpr.DeviceRef
	err := each(ctx, s.r, `SELECT account_id, device_id FROM devices WHERE device_id > 1 AND last_seen_day < ? LIMIT ?`, []any{cutoff.Unix(), limit},
		func(rows *sql.Rows) error {
			var d gdpr.DeviceRef
			if err := rows.Scan(&d.Account, &d.Device); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	return out, err
}

// PruneAudit implements gdpr.AccountStore.
func (s *Store) PruneAudit(ctx context.Context, cutoff time.Time) (int64, error) {
	// By seq, up to the last old entry, so the log stays one chain even
	// if clocks disagreed.
	res, err := s.w.ExecContext(ctx, `DELETE FROM audit_log WHERE seq <= (SELECT coalesce(max(seq), 0) FROM audit_log WHERE at < ?)`, cutoff.UnixMilli())
	if err != nil {
		return 0, mapErr(err)
	}
	return res.RowsAffected()
}
