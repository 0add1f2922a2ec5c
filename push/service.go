package push

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/metrics"
)

// Config shapes wake-ups.
type Config struct {
	// WakeInterval is the least time between two wake-ups of a device
	// that has not connected in between.
	WakeInterval time.Duration
	Workers      int // concurrent sends to providers
	Queue        int // wake-ups waiting for a worker; past it they are dropped
	Attempts     int // tries per wake-up on retryable answers
	Backoff      time.Duration
	MaxBackoff   time.Duration
	Timeout      time.Duration // per attempt
}

// Defaults: a wake-up per device per 10 minutes at most.
func Defaults() Config {
	return Config{WakeInterval: 10 * time.Minute, Workers: 8, Queue: 10000, Attempts: 4,
		Backoff: time.Second, MaxBackoff: 30 * time.Second, Timeout: 10 * time.Second}
}

type deviceKey struct {
	account string
	device  uint32
}

// Service registers devices and wakes them.
type Service struct {
	cfg       Config
	store     Store
	providers map[string]Provider
	bus       bus.Bus
	log       *slog.Logger
	m         *metrics.Metrics
	now       func() time.Time
	vapidKey  string // the Web Push application server key, if any

	busy    atomic.Int64 // wake-ups queued or in progress
	queue   chan deviceKey
	mu      sync.Mutex // guards pending
	pending map[deviceKey]struct{}
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// New starts a Service with its workers; Close stops them. providers are
// the configured push services by kind; vapidPublic is the Web Push
// application server key clients subscribe with ("" without Web Push).
func New(cfg Config, store Store, providers []Provider, vapidPublic string, b bus.Bus, log *slog.Logger, m *metrics.Metrics) *Service {
	ctx, stop := context.WithCancel(context.Background())
	s := &Service{cfg: cfg, store: store, providers: map[string]Provider{}, bus: b, log: log, m: m, now: time.Now,
		vapidKey: vapidPublic, queue: make(chan deviceKey, cfg.Queue), pending: map[deviceKey]struct{}{}, ctx: ctx, stop: stop}
	for _, p := range providers {
		s.providers[p.Kind()] = p
	}
	for range cfg.Workers {
		s.wg.Add(1)
		go s.work()
	}
	return s
}

// Close stops the workers; queued wake-ups are dropped (the envelopes
// stay stored).
func (s *Service) Close() {
	s.stop()
	s.wg.Wait()
}

// Enabled reports whether a kind of registration can be used here.
func (s *Service) Enabled(kind string) bool { return s.providers[kind] != nil }

// Queued is told that an urgent envelope was stored for a device that no
// connection here took. It never blocks.
func (s *Service) Queued(account string, device uint32) {
	k := deviceKey{account, device}
	s.mu.Lock()
	if _, dup := s.pending[k]; dup {
		s.mu.Unlock()
		return
	}
	s.pending[k] = struct{}{}
	s.mu.Unlock()
	s.busy.Add(1)
	select {
	case s.queue <- k:
	default:
		s.done(k)
		s.busy.Add(-1)
		s.m.Push.WithLabelValues("", "dropped").Inc()
	}
}

// Idle reports whether no wake-up is queued or being sent.
func (s *Service) Idle() bool { return s.busy.Load() == 0 }

// Connected is told that a device connected: its next absence may wake
// it again.
func (s *Service) Connected(ctx context.Context, account string, device uint32) {
	if err := s.store.ResetWake(ctx, account, device); err != nil {
		s.log.WarnContext(ctx, "push reset", "err", err)
	}
}

func (s *Service) done(k deviceKey) {
	s.mu.Lock()
	delete(s.pending, k)
	s.mu.Unlock()
}

func (s *Service) work() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case k := <-s.queue:
			s.done(k)
			s.wake(s.ctx, k)
			s.busy.Add(-1)
		}
	}
}

// wake sends one wake-up to k, unless it is online somewhere, has no
// registration, or was woken within WakeInterval.
func (s *Service) wake(ctx context.Context, k deviceKey) {
	if online, err := s.bus.Deliver(ctx, bus.Event{Kind: bus.Online, Account: k.account, Device: k.device}); err == nil && online {
		return
	}
	now := s.now()
	st, ok, err := s.store.ClaimWake(ctx, k.account, k.device, now, now.Add(-s.cfg.WakeInterval))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("push claim", "err", err)
		}
		return
	}
	if !ok {
		return
	}
	p := s.providers[st.Kind]
	if p == nil {
		s.m.Push.WithLabelValues(st.Kind, "disabled").Inc()
		return
	}
	var reg Registration
	if err := json.Unmarshal(st.Data, &reg); err != nil {
		s.log.Warn("push registration unreadable", "kind", st.Kind)
		return
	}
	backoff := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		err := p.Send(actx, reg)
		cancel()
		var re *RetryError
		switch {
		case err == nil:
			s.m.Push.WithLabelValues(st.Kind, "sent").Inc()
			return
		case errors.Is(err, ErrGone):
			s.m.Push.WithLabelValues(st.Kind, "gone").Inc()
			if err := s.store.DeletePushRegistration(ctx, k.account, k.device, st.Data); err != nil && ctx.Err() == nil {
				s.log.Warn("push remove gone registration", "err", err)
			}
			return
		case errors.As(err, &re) && attempt < s.cfg.Attempts && ctx.Err() == nil:
			s.m.Push.WithLabelValues(st.Kind, "retried").Inc()
			wait := backoff
			if re.After > 0 {
				wait = re.After
			}
			wait = min(wait, s.cfg.MaxBackoff)
			backoff = min(2*backoff, s.cfg.MaxBackoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		default:
			s.m.Push.WithLabelValues(st.Kind, "failed").Inc()
			if ctx.Err() == nil {
				s.log.Warn("push failed", "kind", st.Kind, "attempts", attempt, "err", err)
			}
			// Let the next envelope try again rather than wait out the
			// interval on a wake-up that never went.
			if err := s.store.ResetWake(context.WithoutCancel(ctx), k.account, k.device); err != nil {
				s.log.Warn("push reset", "err", err)
			}
			return
		}
	}
}
