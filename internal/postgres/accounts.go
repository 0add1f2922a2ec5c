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
	var lockCreated int64
	var lockFailures int
	err = s.pool.QueryRow(ctx, `SELECT created, failures FROM registration_locks WHERE account_id = $1`, account).Scan(&lockCreated, &lockFailures)
	switch {
	case err == nil:
		e.Account.RegistrationLock = &gdpr.ExportLock{Created: time.Unix(lockCreated, 0).UTC(), FailedTries: lockFailures, HashAndSalt: "held, not shown"}
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, mapErr(err)
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
	err = s.each(ctx, `SELECT device_id, kind, created, updated, woken FROM push_registrations WHERE account_id = $1 ORDER BY device_id`,
		[]any{account}, func(rows pgx.Rows) error {
			var p gdpr.ExportPush
			var dev int32
			var c, u, w int64
			if err := rows.Scan(&dev, &p.Kind, &c, &u, &w); err != nil {
				return err
			}
			p.Device, p.Created, p.Updated = uint32(dev), time.Unix(c, 0).UTC(), time.Unix(u, 0).UTC()
			if w != 0 {
				p.LastWoken = time.Unix(w, 0).UTC()
			}
			e.Push = append(e.Push, p)
			return nil
		})
	if err != nil {
		return nil, err
	}
	// What it sent that still waits for others (a scan: envelopes are
	// indexed by mailbox, not by sender).
	err = s.each(ctx, `SELECT e.id::text, e.account_id::text, e.device_id, e.source_device, e.type, coalesce(p.group_id::text, ''),
			e.server_timestamp, e.expires, length(CASE WHEN e.payload IS NULL THEN e.content ELSE p.content END)
		FROM envelopes e LEFT JOIN payloads p ON p.id = e.payload
		WHERE e.source_account = $1 AND e.account_id <> $1 ORDER BY e.server_timestamp, e.account_id, e.device_id`,
		[]any{account}, func(rows pgx.Rows) error {
			var v gdpr.ExportOutbound
			var dev, src, typ, size int32
			var ts, exp int64
			if err := rows.Scan(&v.ID, &v.Recipient, &dev, &src, &typ, &v.Group, &ts, &exp, &size); err != nil {
				return err
			}
			v.Device, v.SourceDevice, v.Type, v.Size = uint32(dev), uint32(src), int(typ), int(size)
			v.ServerTimestamp, v.Expires = time.UnixMilli(ts).UTC(), time.Unix(exp, 0).UTC()
			e.Outbound = append(e.Outbound, v)
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = s.each(ctx, `SELECT 'registration', expires, attempts FROM registration_codes WHERE number = $1
		UNION ALL SELECT 'provisioning', expires, 0 FROM provisioning_codes WHERE account_id = $2::uuid ORDER BY 1, 2`,
		[]any{e.Account.Number, account}, func(rows pgx.Rows) error {
			var c gdpr.ExportCode
			var exp int64
			var attempts int32
			if err := rows.Scan(&c.Kind, &exp, &attempts); err != nil {
				return err
			}
			c.Expires, c.Attempts = time.Unix(exp, 0).UTC(), int(attempts)
			e.Codes = append(e.Codes, c)
			return nil
		})
	if err != nil {
		return nil, err
	}
	e.Requests, err = s.requests(ctx, `WHERE subject = $1 OR subject = $2`, account, e.Account.Number)
	return e, err
}

// BeginErasure implements gdpr.AccountStore. Its transaction first takes
// the envelopes table in SHARE mode, which waits for every transaction
// writing envelopes to end and holds new ones until it commits: an insert
// either committed before (EraseAccount deletes its rows) or runs its
// statement after the erasure record is visible (and skips the account's
// envelopes). The lock is held for a few row writes. It comes first so
// that the row locks taken after it cannot deadlock with an insert.
func (s *Store) BeginErasure(ctx context.Context, account, pseudonym string, now, staleBefore time.Time) (bool, error) {
	began := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE envelopes IN SHARE MODE`); err != nil {
			return err
		}
		// Take over a stale erasure, or start one of an account that
		// exists; else one is under way, or the account is gone.
		err := tx.QueryRow(ctx, `UPDATE erasures SET started = $2 WHERE account_id = $1 AND started < $3 RETURNING true`,
			account, now.Unix(), staleBefore.Unix()).Scan(&began)
		if errors.Is(err, pgx.ErrNoRows) {
			err = tx.QueryRow(ctx, `INSERT INTO erasures (account_id, pseudonym, started)
				SELECT account_id::text, $2, $3 FROM accounts WHERE account_id = $1::uuid ON CONFLICT (account_id) DO NOTHING RETURNING true`,
				account, pseudonym, now.Unix()).Scan(&began)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			var pending bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM erasures WHERE account_id = $1)`, account).Scan(&pending); err != nil {
				return err
			}
			if !pending {
				return gdpr.ErrNotFound
			}
			return nil
		}
		if err != nil {
			return err
		}
		// Blocked: no credential verifies, no device can be linked.
		if _, err := tx.Exec(ctx, `UPDATE devices SET password_hash = ''::bytea WHERE account_id = $1`, account); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM provisioning_codes WHERE account_id = $1`, account)
		return err
	})
	return began, err
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
func (s *Store) EraseAccount(ctx context.Context, account string, redact func(number, text string) string) (map[string]int64, error) {
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
		n, err := redactRequests(ctx, tx, func(text string) string { return redact(number, text) })
		counts["dsr_requests_redacted"] = n
		return err
	})
	return counts, err
}

// redactRequests rewrites the subject and note of every data-subject
// request through redact, and returns how many it changed. Requests are
// few (a compliance team's case list), and a note may spell the number
// in any way, so each is read rather than matched in SQL.
func redactRequests(ctx context.Context, tx pgx.Tx, redact func(string) string) (int64, error) {
	rows, err := tx.Query(ctx, `SELECT id, subject, note FROM dsr_requests`)
	if err != nil {
		return 0, err
	}
	type change struct{ id, subject, note string }
	var changes []change
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.id, &c.subject, &c.note); err != nil {
			rows.Close()
			return 0, err
		}
		if sub, note := redact(c.subject), redact(c.note); sub != c.subject || note != c.note {
			changes = append(changes, change{c.id, sub, note})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, c := range changes {
		if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET subject = $2, note = $3 WHERE id = $1`, c.id, c.subject, c.note); err != nil {
			return 0, err
		}
	}
	return int64(len(changes)), nil
}

// purgedTables are the tables erasure deletes from.
const purgedTables = `accounts, numbers, devices, signed_prekeys, one_time_prekeys, envelopes, payloads, registration_codes,
	provisioning_codes, group_members, push_registrations, audit_subjects, dsr_requests, attachments, erasures`

// Purge implements gdpr.AccountStore: a plain VACUUM of the tables erasure
// deletes from, which removes the dead row versions and their index
// entries (no query, replica or backup taken later can read them), and
// blocks no reader or writer. It cannot zero the bytes in the pages'
// free space, nor reach the WAL segments, archives and base backups that
// still hold them (docs/privacy.md).
func (s *Store) Purge(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `VACUUM `+purgedTables)
	return mapErr(err)
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
