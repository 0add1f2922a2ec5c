package envelope

import (
	"context"
	"net/http"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/httpx"
)

// Routes registers the message routes; authn authenticates a device.
func (s *Service) Routes(r *httpx.Router, authn httpx.Middleware) {
	r.Handle("POST /v1/messages", s.handleSend, authn)
	r.Handle("GET /v1/websocket", s.handleWebSocket, authn)
	r.Handle("POST /v1/groups/{id}/messages", s.handleGroupSend, authn)
}

func (s *Service) handleSend(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	var req api.Send
	if err := httpx.DecodeJSON(w, r, s.sendBodyLimit(), &req); err != nil {
		return err
	}
	res, err := s.Send(r.Context(), dev, &req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

// Connections returns the number of live device sockets on this node.
func (s *Service) Connections() int { return s.hub.count() }

// Shutdown tells every connected device to reconnect elsewhere and waits,
// until ctx ends, for their sessions to finish.
func (s *Service) Shutdown(ctx context.Context) {
	// No session starts after this (so none is added to sessions while it
	// is waited for); one that started already and joins the hub after
	// closeAll sees down and closes itself.
	s.addrMu.Lock()
	s.down = true
	s.addrMu.Unlock()
	s.hub.closeAll(wire.CloseShuttingDown, "server shutting down")
	done := make(chan struct{})
	go func() { s.sessions.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Close stops group commit after the work already queued. Call it after
// Shutdown and after the HTTP server has stopped.
func (s *Service) Close() {
	s.unwatch()
	// Store what is still held for its ack rather than wait out the hold.
	s.storeHeld(s.live.all())
	s.inserts.Stop()
	s.acks.Stop()
}

// RunSweeper deletes expired envelopes every SweepInterval until ctx ends.
func (s *Service) RunSweeper(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "sweep expired envelopes", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep deletes every envelope expired by now and returns how many.
func (s *Service) Sweep(ctx context.Context) (int, error) { return s.SweepAt(ctx, s.now()) }

// SweepAt deletes the envelopes that expired before now.
func (s *Service) SweepAt(ctx context.Context, now time.Time) (int, error) {
	const batch = 1000
	total := 0
	for {
		n, err := s.store.DeleteExpired(ctx, now, batch)
		total += n
		s.m.Expired.Add(float64(n))
		if err != nil || n < batch {
			if total > 0 {
				s.log.InfoContext(ctx, "expired envelopes deleted", "count", total)
			}
			if err == nil {
				if c, cerr := s.store.Count(ctx); cerr == nil {
					s.m.Stored.Set(float64(c))
				}
			}
			return total, err
		}
	}
}
