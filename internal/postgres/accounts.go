package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/gdpr"
)

// ResolveSubject implements gdpr.AccountStore.
func (s *Store) ResolveSubject(ctx context.Context, subject string) (string, error) {
	var id string
	q := `SELECT account_id::text FROM numbers WHERE number = $1`
	if _, err := uuid.Parse(subject); err == nil {
		q = `SELECT account_id::text FROM accounts WHERE account_id = $1`
	}
	err := s.pool.QueryRow(ctx, q, subject).Scan(&id)
	return id, notFound(err, gdpr.ErrNotFound)
}

// each runs a query and calls fn for every row.
func (s *Store) each(ctx context.Context, q string, args []any, fn func(pgx.Rows) error) error {
	rows, err := s.pool.Query(ctx, q, args...)
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

// ExportAccount implements gdpr.AccountStore.
func (s *Store) ExportAccount(ctx context.Context, account string) (*gdpr.Export, error) {
	e := &gdpr.Export{Account: gdpr.ExportAccount{ID: account}}
	var created, lastSeen int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(n.number, ''), a.created, a.identity_key, a.last_seen, a.last_seen_visibility
		FROM accounts a LEFT JOIN numbers n ON n.account_id = a.account_id WHERE a.account_id = $1`, account).
		Scan(&e.Account.Number, &created, &e.Account.IdentityKey, &lastSeen, &e.Account.LastSeenVisibility)
	if err != nil {
		return nil, notFound(err, gdpr.ErrNotFound)
	}
	e.Account.Created = time.Unix(created, 0).UTC()
	if lastSeen != 0 {
		e.Account.LastSeen = time.Unix(lastSeen, 0).UTC()
	}
	err = s.each(ctx, `SELECT device_id, name, created, last_seen_day, registration_id FROM devices WHERE account_id = $1 ORDER BY device_id`,
		[]any{account}, func(rows pgx.Rows) error {
			var d gdpr.ExportDevice
			var id, reg int32
			var c, day int64
			if err := rows.Scan(&id, &d.Name, &c, &day, &reg); err != nil {
				return err
			}
			d.ID, d.RegistrationID = uint32(id), uint32(reg)
			d.Created, d.LastSeenDay, d.OneTimePreKeys = time.Unix(c, 0).UTC(), time.Unix(day, 0).UTC(), map[string]int{}
			e.Devices = append(e.Devices, d)
			return nil
		})
	if err != nil {
		return nil, err
	}
	for i := range e.Devices {
		d := &e.Devices[i]
		if err := s.each(ctx, `SELECT kind, key_id, public_key FROM signed_prekeys WHERE account_id = $1 AND device_id = $2 ORDER BY kind`,
			[]any{account, int64(d.ID)}, func(rows pgx.Rows) error {
				var k gdpr.ExportKey
				var id int64
				if err := rows.Scan(&k.Kind, &id, &k.PublicKey); err != nil {
					return err
				}
				k.KeyID = uint32(id)
				d.SignedPreKeys = append(d.SignedPreKeys, k)
				return nil
			}); err != nil {
			return nil, err
		}
		if err := s.each(ctx, `SELECT kind, count(*) FROM one_time_prekeys WHERE account_id = $1 AND device_id = $2 GROUP BY kind`,
			[]any{account, int64(d.ID)}, func(rows pgx.Rows) error {
				var kind string
				var n int64
				if err := rows.Scan(&kind, &n); err != nil {
					return err
				}
				d.OneTimePreKeys[kind] = int(n)
				return nil
			}); err != nil {
			return nil, err
		}
	}
	err = s.each(ctx, `SELECT e.device_id, e.id::text, coalesce(e.source_account::text, ''), e.source_device, e.type, coalesce(p.group_id::text, ''),
			e.server_timestamp, e.expires, length(CASE WHEN e.payload IS NULL THEN e.content ELSE p.content END)
		FROM envelopes e LEFT JOIN payloads p ON p.id = e.payload WHERE e.account_id = $1 ORDER BY e.device_id, e.seq`,
		[]any{account}, func(rows pgx.Rows) error {
			var v gdpr.ExportEnvelope
			var dev, src, typ, size int32
			var ts, exp int64
			if err := rows.Scan(&dev, &v.ID, &v.SourceAccount, &src, &typ, &v.Group, &ts, &exp, &size); err != nil {
				return err
			}
			v.Device, v.SourceDevice, v.Type, v.Size = uint32(dev), uint32(src), int(typ), int(size)
			v.ServerTimestamp, v.Expires = time.UnixMilli(ts).UTC(), time.Unix(exp, 0).UTC()
			e.Envelopes = append(e.Envelopes, v)
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = s.each(ctx, `SELECT group_id::text, role, joined FROM group_members WHERE account_id = $1 ORDER BY joined, group_id`,
		[]any{account}, func(rows pgx.Rows) error {
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
	err = s.each(ctx, `SELECT id, size, state, created, expires FROM attachments WHERE owner = $1 ORDER BY created, id`,
		[]any{account}, func(rows pgx.Rows) error {
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
	err = s.each(ctx, `SELECT device_id, kind, created, updated FROM push_registrations WHERE account_id = $1 ORDER BY device_id`,
		[]any{account}, func(rows pgx.Rows) error {
			var p gdpr.ExportPush
			var dev int32
			var c, u int64
			if err := rows.Scan(&dev, &p.Kind, &c, &u); err != nil {
				return err
			}
			p.Device, p.Created, p.Updated = uint32(dev), time.Unix(c, 0).UTC(), time.Unix(u, 0).UTC()
			e.Push = append(e.Push, p)
			return nil
		})
	return e, err
}

// BeginErasure implements gdpr.AccountStore.
func (s *Store) BeginErasure(ctx context.Context, account, pseudonym string, now time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO erasures (account_id, pseudonym, started) VALUES ($1, $2, $3) ON CONFLICT (account_id) DO NOTHING`,
		account, pseudonym, now.Unix())
	return mapErr(err)
}

// PendingErasures implements gdpr.AccountStore.
func (s *Store) PendingErasures(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := s.each(ctx, `SELECT account_id, pseudonym FROM erasures`, nil, func(rows pgx.Rows) error {
		var a, p string
		if err := rows.Scan(&a, &p); err != nil {
			return err
		}
		out[a] = p
		return nil
	})
	return out, err
}

// EraseAccount implements gdpr.AccountStore. The account row is locked
// first, so an erasure and a registration of its number do not interleave.
func (s *Store) EraseAccount(ctx context.Context, account, pseudonym string) (map[string]int64, error) {
	counts := map[string]int64{}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var number string
		err := tx.QueryRow(ctx, `SELECT coalesce(n.number, '') FROM accounts a LEFT JOIN numbers n ON n.account_id = a.account_id
			WHERE a.account_id = $1 FOR UPDATE OF a`, account).Scan(&number)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		for _, t := range []string{"devices", "one_time_prekeys", "signed_prekeys", "envelopes", "group_members", "push_registrations", "provisioning_codes"} {
			var n int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+t+` WHERE account_id = $1`, account).Scan(&n); err != nil {
				return err
			}
			counts[t] = n
		}
		steps := []struct {
			table, q string
			args     []any
		}{
			{"sent_envelopes", `DELETE FROM envelopes WHERE source_account = $1`, []any{account}},
			{"group_notices", `DELETE FROM envelopes WHERE type = 256 AND payload IN (SELECT id FROM payloads WHERE position(convert_to($1, 'UTF8') in content) > 0)`, []any{account}},
			{"registration_codes", `DELETE FROM registration_codes WHERE number = $1`, []any{number}},
			{"dsr_requests_pseudonymized", `UPDATE dsr_requests SET subject = $1 WHERE subject = $2 OR (subject = $3 AND $3 <> '')`, []any{pseudonym, account, number}},
			{"accounts", `DELETE FROM accounts WHERE account_id = $1`, []any{account}},
			{"erasures", `DELETE FROM erasures WHERE account_id = $1`, []any{account}},
		}
		for _, st := range steps {
			tag, err := tx.Exec(ctx, st.q, st.args...)
			if err != nil {
				return err
			}
			counts[st.table] = tag.RowsAffected()
		}
		return nil
	})
	return counts, err
}

var _ gdpr.AccountStore = (*Store)(nil)

// InactiveAccounts implements gdpr.AccountStore.
func (s *Store) InactiveAccounts(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	var out []string
	err := s.each(ctx, `SELECT account_id::text FROM accounts WHERE greatest(last_seen, created) < $1 LIMIT $2`, []any{cutoff.Unix(), limit},
		func(rows pgx.Rows) error {
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
	err := s.each(ctx, `SELECT account_id::text, device_id FROM devices WHERE device_id > 1 AND last_seen_day < $1 LIMIT $2`, []any{cutoff.Unix(), limit},
		func(rows pgx.Rows) error {
			var d gdpr.DeviceRef
			var id int32
			if err := rows.Scan(&d.Account, &id); err != nil {
				return err
			}
			d.Device = uint32(id)
			out = append(out, d)
			return nil
		})
	return out, err
}

// PruneAudit implements gdpr.AccountStore. Entries go oldest first under
// the append lock, so the log stays a contiguous chain.
func (s *Store) PruneAudit(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLock); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM audit_log WHERE seq <= (SELECT coalesce(max(seq), 0) FROM audit_log WHERE at < $1)`, cutoff.UnixMilli())
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
