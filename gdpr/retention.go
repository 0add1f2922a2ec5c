package gdpr

import (
	"context"
	"errors"
	"time"
)

// retentionBatch bounds the work of one retention step.
const retentionBatch = 100

// RunRetention applies the retention limits every RetentionInterval until
// ctx ends.
func (s *Service) RunRetention(ctx context.Context) {
	t := time.NewTicker(s.cfg.RetentionInterval)
	defer t.Stop()
	for {
		if _, err := s.Retain(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Retain erases inactive accounts, removes inactive linked devices and
// prunes old audit entries, and returns how many of each went; it also
// finishes erasures left half done, and purges the store's files once
// after the accounts it erased. Several nodes may run it at once: each
// step is safe to repeat, and an account another node is erasing is
// left to it.
func (s *Service) Retain(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	now := s.now()
	if err := s.FinishErasures(ctx); err != nil {
		return out, err
	}
	if s.cfg.AccountRetention > 0 {
		erased := false
		defer func() {
			if erased {
				s.purge(ctx)
			}
		}()
		for {
			accounts, err := s.accounts.InactiveAccounts(ctx, now.Add(-s.cfg.AccountRetention), retentionBatch)
			if err != nil {
				return out, err
			}
			n := 0
			for _, a := range accounts {
				_, err := s.erase(ctx, "retention", a, false)
				switch {
				case errors.Is(err, ErrNotFound), errors.Is(err, ErrErasing):
					continue // erased meanwhile, or being erased
				case err != nil:
					return out, err
				}
				erased = true
				out["accounts"]++
				n++
			}
			if len(accounts) < retentionBatch || n == 0 {
				break
			}
		}
	}
	if s.cfg.DeviceRetention > 0 && s.hooks.ExpireDevice != nil {
		for {
			devs, err := s.accounts.InactiveDevices(ctx, now.Add(-s.cfg.DeviceRetention), retentionBatch)
			if err != nil {
				return out, err
			}
			for _, d := range devs {
				if err := s.hooks.ExpireDevice(ctx, d.Account, d.Device); err != nil {
					return out, err
				}
				if err := s.Audit(ctx, "retention", "device.expire", d.Account, map[string]uint32{"device": d.Device}); err != nil {
					return out, err
				}
				out["devices"]++
			}
			if len(devs) < retentionBatch {
				break
			}
		}
	}
	if s.cfg.AuditRetention > 0 {
		n, err := s.accounts.PruneAudit(ctx, now.Add(-s.cfg.AuditRetention))
		if err != nil {
			return out, err
		}
		out["audit_entries"] = n
	}
	if s.hooks.Retained != nil {
		for k, n := range out {
			s.hooks.Retained(k, n)
		}
	}
	return out, nil
}
