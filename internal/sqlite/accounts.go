package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/internal/httpx"
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
	var lockCreated int64
	var lockFailures int
	err = s.r.QueryRowContext(ctx, `SELECT created, failures FROM registration_locks WHERE account_id = ?`, account).Scan(&lockCreated, &lockFailures)
	switch {
	case err == nil:
		e.Account.RegistrationLock = &gdpr.ExportLock{Created: time.Unix(lockCreated, 0).UTC(), FailedTries: lockFailures, HashAndSalt: "held, not shown"}
	case !errors.Is(err, sql.ErrNoRows):
		return nil, mapErr(err)
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
	err = each(ctx, s.r, `SELECT device_id, kind, created, updated, woken FROM push_registrations WHERE account_id = ? ORDER BY device_id`,
		[]any{account}, func(rows *sql.Rows) error {
			var p gdpr.ExportPush
			var c, u, w int64
			if err := rows.Scan(&p.Device, &p.Kind, &c, &u, &w); err != nil {
				return err
			}
			p.Created, p.Updated = time.Unix(c, 0).UTC(), time.Unix(u, 0).UTC()
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
	err = each(ctx, s.r, `SELECT e.id, e.account_id, e.device_id, e.source_device, e.type, coalesce(p.group_id, ''),
			e.server_timestamp, e.expires, length(CASE WHEN e.payload IS NULL THEN e.content ELSE p.content END)
		FROM envelopes e LEFT JOIN payloads p ON p.id = e.payload
		WHERE e.source_account = ?1 AND e.account_id <> ?1 ORDER BY e.seq`,
		[]any{account}, func(rows *sql.Rows) error {
			var v gdpr.ExportOutbound
			var id []byte
			var ts, exp int64
			if err := rows.Scan(&id, &v.Recipient, &v.Device, &v.SourceDevice, &v.Type, &v.Group, &ts, &exp, &v.Size); err != nil {
				return err
			}
			if u, err := uuid.FromBytes(id); err == nil {
				v.ID = u.String()
			}
			v.ServerTimestamp, v.Expires = time.UnixMilli(ts).UTC(), time.Unix(exp, 0).UTC()
			e.Outbound = append(e.Outbound, v)
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = each(ctx, s.r, `SELECT 'registration', expires, attempts FROM registration_codes WHERE number = ?
		UNION ALL SELECT 'provisioning', expires, 0 FROM provisioning_codes WHERE account_id = ? ORDER BY 1, 2`,
		[]any{e.Account.Number, account}, func(rows *sql.Rows) error {
			var c gdpr.ExportCode
			var exp int64
			if err := rows.Scan(&c.Kind, &exp, &c.Attempts); err != nil {
				return err
			}
			c.Expires = time.Unix(exp, 0).UTC()
			e.Codes = append(e.Codes, c)
			return nil
		})
	if err != nil {
		return nil, err
	}
	e.Requests, err = s.requests(ctx, `WHERE subject = ? OR subject = ?`, account, e.Account.Number)
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

// BeginErasure implements gdpr.AccountStore. The single writer orders it
// with every insert: one before it committed first (EraseAccount deletes
// what it stored), one after it sees the record and skips the account's
// envelopes.
func (s *Store) BeginErasure(ctx context.Context, account, pseudonym string, now, staleBefore time.Time) (bool, error) {
	began := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Take over a stale erasure, or start one of an account that
		// exists; else one is under way, or the account is gone.
		err := tx.QueryRowContext(ctx, `UPDATE erasures SET started = ? WHERE account_id = ? AND started < ? RETURNING 1`,
			now.Unix(), account, staleBefore.Unix()).Scan(new(int))
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, `INSERT INTO erasures (account_id, pseudonym, started)
				SELECT account_id, ?, ? FROM accounts WHERE account_id = ? ON CONFLICT (account_id) DO NOTHING RETURNING 1`,
				pseudonym, now.Unix(), account).Scan(new(int))
		}
		if errors.Is(err, sql.ErrNoRows) {
			var pending bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM erasures WHERE account_id = ?)`, account).Scan(&pending); err != nil {
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
		began = true
		// Blocked: no credential verifies, no device can be linked.
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET password_hash = X'' WHERE account_id = ?`, account); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM provisioning_codes WHERE account_id = ?`, account)
		return err
	})
	return began, err
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
func (s *Store) EraseAccount(ctx context.Context, account string, redact func(number, text string) string) (map[string]int64, error) {
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
func redactRequests(ctx context.Context, tx *sql.Tx, redact func(string) string) (int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, subject, note FROM dsr_requests`)
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
		if _, err := tx.ExecContext(ctx, `UPDATE dsr_requests SET subject = ?, note = ? WHERE id = ?`, c.subject, c.note, c.id); err != nil {
			return 0, err
		}
	}
	return int64(len(changes)), nil
}

// Purge implements gdpr.AccountStore: scrub zeroes the unused space of
// every b-tree page (where rebalancing left copies of cells that
// secure_delete never sees: scrub.go), then a TRUNCATE checkpoint copies
// the write-ahead log into the database file and cuts the log to nothing.
// It waits for readers of older snapshots (the writer's busy timeout), a
// few times over.
func (s *Store) Purge(ctx context.Context) error {
	if _, err := s.scrub(ctx); err != nil {
		return err
	}
	for try := 0; ; try++ {
		var busy, frames, done int
		if err := s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
			return mapErr(err)
		}
		if busy == 0 {
			return nil
		}
		if try == 2 {
			return fmt.Errorf("%w: checkpoint: readers held the write-ahead log", httpx.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
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
