package attachments

import (
	"context"
	"time"
)

// sweepBatch is how many records one sweep step handles.
const sweepBatch = 100

// RunSweeper deletes due attachments every SweepInterval until ctx ends.
// Several nodes may sweep at once: every step is safe to repeat.
func (s *Service) RunSweeper(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("attachment sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep deletes the objects of every due record (expired, abandoned, or
// marked deleting), then the records, and returns how many went. A record
// whose object could not be deleted stays for the next sweep.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		due, err := s.store.DueAttachments(ctx, s.now(), sweepBatch)
		if err != nil {
			return total, err
		}
		failed := 0
		for _, rec := range due {
			if s.purge(ctx, rec) {
				total++
			} else {
				failed++
			}
		}
		if len(due) < sweepBatch || failed > 0 {
			return total, nil
		}
	}
}

// purge deletes rec's upload and object, then its record. It reports
// whether all of it went.
func (s *Service) purge(ctx context.Context, rec Record) bool {
	if err := s.blobs.Abort(ctx, rec.ID, rec.UploadID); err != nil {
		s.log.Warn("attachment purge", "err", err)
		return false
	}
	if err := s.blobs.Delete(ctx, rec.ID); err != nil {
		s.log.Warn("attachment purge", "err", err)
		return false
	}
	if err := s.store.DeleteAttachment(ctx, rec.ID); err != nil {
		s.log.Warn("attachment purge", "err", err)
		return false
	}
	reason := "deleted"
	if rec.State != StateDeleting {
		reason = "expired"
	}
	s.m.Attachments.WithLabelValues(reason).Inc()
	return true
}
