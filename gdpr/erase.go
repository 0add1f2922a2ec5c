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

// Receipt is the proof of an erasure, kept in the audit log.
type Receipt struct {
	Subject     string           `json:"subject"` // the pseudonym
	Erased      time.Time        `json:"erased"`
	Groups      int              `json:"groups_left"`
	Rows        map[string]int64 `json:"rows_deleted"`
	Attachments int64            `json:"attachments_deleted"`
	AuditSeq    int64            `json:"audit_seq,omitempty"` // the receipt's own audit entry
}

// SetAccounts enables export and erasure.
func (s *Service) SetAccounts(a AccountStore, h Hooks) { s.accounts, s.hooks = a, h }

// Resolve finds an account by id or phone number.
func (s *Service) Resolve(ctx context.Context, subject string) (string, error) {
	return s.accounts.ResolveSubject(ctx, subject)
}

// Export gathers everything held about account, and audits it.
func (s *Service) Export(ctx context.Context, actor, account string) (*Export, error) {
	e, err := s.accounts.ExportAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	e.Schema, e.Generated = ExportSchema, s.now().UTC()
	p, err := s.store.Pseudonym(ctx, account, newPseudonym)
	if err != nil {
		return nil, err
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

// Erase deletes the account and everything held about it, at once. It is
// idempotent and resumable: the erasure is recorded first, and a node
// that starts finds and finishes any erasure a crash interrupted
// (FinishErasures). It ends with a receipt in the audit log.
func (s *Service) Erase(ctx context.Context, actor, account string) (*Receipt, error) {
	pseudonym, err := s.store.Pseudonym(ctx, account, newPseudonym)
	if err != nil {
		return nil, err
	}
	if err := s.accounts.BeginErasure(ctx, account, pseudonym, s.now()); err != nil {
		return nil, err
	}
	return s.finish(ctx, actor, account, pseudonym)
}

func (s *Service) finish(ctx context.Context, actor, account, pseudonym string) (*Receipt, error) {
	r := &Receipt{Subject: pseudonym}
	var err error
	if r.Groups, err = s.hooks.LeaveGroups(ctx, account); err != nil {
		return nil, fmt.Errorf("erase: groups: %w", err)
	}
	if r.Rows, err = s.accounts.EraseAccount(ctx, account, pseudonym); err != nil {
		return nil, fmt.Errorf("erase: account: %w", err)
	}
	if s.hooks.Disconnect != nil {
		s.hooks.Disconnect(ctx, account)
	}
	// The records are marked (by the account's deletion); this deletes
	// the objects now, and the sweeper finishes whatever fails here.
	if r.Attachments, err = s.hooks.DeleteAttachments(ctx, account); err != nil {
		s.log.WarnContext(ctx, "erase: attachments left to the sweeper", "err", err)
	}
	r.Erased = s.now().UTC()
	e, err := s.store.AppendAudit(ctx, Entry{At: s.now().Truncate(time.Millisecond), Actor: actor, Action: "erase", Subject: pseudonym, Detail: mustJSON(r)}, seal)
	if err != nil {
		return nil, err
	}
	r.AuditSeq = e.Seq
	return r, nil
}

// FinishErasures completes erasures a crash interrupted.
func (s *Service) FinishErasures(ctx context.Context) error {
	pending, err := s.accounts.PendingErasures(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for account, pseudonym := range pending {
		if _, err := s.finish(ctx, "system", account, pseudonym); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
