package gdpr

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Hooks are what erasure needs of the other domains, wired by the server.
type Hooks struct {
	// LeaveGroups takes the account out of its groups, telling the other
	// members (without naming it); it returns how many groups.
	LeaveGroups func(ctx context.Context, account string) (int, error)
	// DeleteAttachments deletes the account's attachments and their
	// objects; it returns how many.
	DeleteAttachments func(ctx context.Context, account string) (int64, error)
	// Disconnect closes the account's device connections on every node.
	Disconnect func(ctx context.Context, account string)
	// ExpireDevice removes an inactive linked device.
	ExpireDevice func(ctx context.Context, account string, device uint32) error
	// Retained counts what retention deleted, by kind (metrics).
	Retained func(kind string, n int64)
}

// erasureLease is how long an erasure belongs to the call that started
// it: another call within it is refused (ErrErasing), one after it takes
// the erasure over (the first one died, or failed half way).
const erasureLease = 2 * time.Minute

// Receipt is the proof of an erasure, kept in the audit log.
type Receipt struct {
	Subject     string           `json:"subject"` // the pseudonym
	Erased      time.Time        `json:"erased"`
	Groups      int              `json:"groups_left"`
	Rows        map[string]int64 `json:"rows_deleted"`
	Attachments int64            `json:"attachments_deleted"`
	// Purged is whether the store's files were purged of the deleted
	// rows (Purge) before the receipt; when false the next erasure's or
	// retention run's purge does it.
	Purged   bool  `json:"purged"`
	AuditSeq int64 `json:"audit_seq,omitempty"` // the receipt's own audit entry
}

// SetAccounts enables export and erasure.
func (s *Service) SetAccounts(a AccountStore, h Hooks) { s.accounts, s.hooks = a, h }

// Resolve finds an account by id or phone number, in any spelling
// canonicalSubject accepts.
func (s *Service) Resolve(ctx context.Context, subject string) (string, error) {
	canonical, err := s.canonicalSubject(subject)
	if err != nil {
		return "", err
	}
	return s.accounts.ResolveSubject(ctx, canonical)
}

// Export gathers everything held about account, and audits it.
func (s *Service) Export(ctx context.Context, actor, account string) (*Export, error) {
	p, err := s.store.Pseudonym(ctx, account, newPseudonym)
	if err != nil {
		return nil, err
	}
	e, err := s.accounts.ExportAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	e.Schema, e.Generated, e.Account.AuditSubject = ExportSchema, s.now().UTC(), p
	for i := range e.Push {
		e.Push[i].Held = "the device's push token, or endpoint and keys (not shown)"
	}
	if err := s.auditAs(ctx, actor, "export", p, map[string]int{"devices": len(e.Devices), "envelopes": len(e.Envelopes)}); err != nil {
		return nil, err
	}
	for after := int64(0); ; {
		page, err := s.store.AuditLog(ctx, p, after, 1000)
		if err != nil {
			return nil, err
		}
		e.Audit = append(e.Audit, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Seq
	}
	return e, nil
}

// Erase deletes the account and everything held about it, at once, and
// purges the store's files of it. It is idempotent and resumable: the
// erasure is recorded first, and FinishErasures finds and finishes any
// erasure a crash interrupted. It ends with a receipt in the audit log.
// ErrNotFound: no such account (erased already); ErrErasing: another
// call is erasing it right now.
func (s *Service) Erase(ctx context.Context, actor, account string) (*Receipt, error) {
	return s.erase(ctx, actor, account, true)
}

func (s *Service) erase(ctx context.Context, actor, account string, purge bool) (*Receipt, error) {
	pseudonym, err := s.store.Pseudonym(ctx, account, newPseudonym)
	if err != nil {
		return nil, err
	}
	now := s.now()
	began, err := s.accounts.BeginErasure(ctx, account, pseudonym, now, now.Add(-erasureLease))
	if err != nil {
		return nil, err
	}
	if !began {
		return nil, ErrErasing
	}
	return s.finish(ctx, actor, account, pseudonym, purge)
}

// finish carries out a recorded erasure, in an order that leaves the
// account no way to add to what is being deleted: the record has already
// blocked its credentials and the storing of what it sends; its sockets
// close; it leaves its groups; one transaction deletes its rows; any
// socket opened meanwhile closes too (a re-registration of its number
// while it was being erased gets the account id that is gone now).
func (s *Service) finish(ctx context.Context, actor, account, pseudonym string, purge bool) (*Receipt, error) {
	r := &Receipt{Subject: pseudonym}
	if s.hooks.Disconnect != nil {
		s.hooks.Disconnect(ctx, account)
	}
	var err error
	if s.hooks.LeaveGroups != nil {
		if r.Groups, err = s.hooks.LeaveGroups(ctx, account); err != nil {
			return nil, fmt.Errorf("erase: groups: %w", err)
		}
	}
	redactors := map[string]*Redactor{}
	redact := func(number, text string) string {
		rd := redactors[number]
		if rd == nil {
			rd = NewRedactor(account, number, pseudonym)
			redactors[number] = rd
		}
		return rd.Redact(text)
	}
	if r.Rows, err = s.accounts.EraseAccount(ctx, account, redact); err != nil {
		return nil, fmt.Errorf("erase: account: %w", err)
	}
	if s.hooks.Disconnect != nil {
		s.hooks.Disconnect(ctx, account)
	}
	// The records are marked (by the account's deletion); this deletes
	// the objects now, and the sweeper finishes whatever fails here.
	if s.hooks.DeleteAttachments != nil {
		if r.Attachments, err = s.hooks.DeleteAttachments(ctx, account); err != nil {
			s.log.WarnContext(ctx, "erase: attachments left to the sweeper", "err", err)
		}
	}
	if purge {
		r.Purged = s.purge(ctx)
	}
	r.Erased = s.now().UTC()
	e, err := s.store.AppendAudit(ctx, Entry{At: s.now().Truncate(time.Millisecond), Actor: actor, Action: "erase", Subject: pseudonym, Detail: mustJSON(r)}, seal)
	if err != nil {
		return nil, err
	}
	r.AuditSeq = e.Seq
	return r, nil
}

// purge runs the store's Purge, starting after the call, and says whether
// it did all it could. Purges run one at a time: calls that come while one
// runs share the next one (which covers what each of them deleted), so
// many erasures at once cost two purges, not one each. A failure (a
// reader that held an old snapshot too long) is logged: the rows are
// deleted, and the next purge takes what this one left.
func (s *Service) purge(ctx context.Context) bool {
	s.purgeMu.Lock()
	if s.purgeNext == nil {
		s.purgeNext = &purgeRun{done: make(chan struct{})}
	}
	r := s.purgeNext
	r.callers++
	if !s.purging {
		s.startPurgeLocked(context.WithoutCancel(ctx))
	}
	s.purgeMu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return false
	}
	if r.err != nil {
		s.log.WarnContext(ctx, "erase: purge of the store's files left to the next one", "err", r.err)
		return false
	}
	return true
}

// purgeRun is one run of the store's Purge, shared by the calls that
// wait for it.
type purgeRun struct {
	done    chan struct{}
	callers int   // how many share it (guarded by Service.purgeMu)
	err     error // set before done closes
}

// startPurgeLocked starts the pending run; purgeMu is held.
func (s *Service) startPurgeLocked(ctx context.Context) {
	r := s.purgeNext
	s.purgeNext, s.purging = nil, true
	go func() {
		r.err = s.accounts.Purge(ctx)
		close(r.done)
		s.purgeMu.Lock()
		defer s.purgeMu.Unlock()
		s.purging = false
		if s.purgeNext != nil {
			s.startPurgeLocked(ctx)
		}
	}()
}

// FinishErasures completes erasures a crash interrupted (or a failure
// left half done), each once its lease has run out. Nodes run it when
// they start and with every retention run.
func (s *Service) FinishErasures(ctx context.Context) error {
	pending, err := s.accounts.PendingErasures(ctx)
	if err != nil {
		return err
	}
	var errs []error
	done := 0
	for account, pseudonym := range pending {
		now := s.now()
		began, err := s.accounts.BeginErasure(ctx, account, pseudonym, now, now.Add(-erasureLease))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !began {
			continue
		}
		if _, err := s.finish(ctx, "system", account, pseudonym, false); err != nil {
			errs = append(errs, err)
			continue
		}
		done++
	}
	if done > 0 {
		s.purge(ctx)
	}
	return errors.Join(errs...)
}
