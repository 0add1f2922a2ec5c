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
	// that has not connected in between, whether the first went out or
	// failed.
	WakeInterval time.Duration
	Workers      int // concurrent sends to providers
	// Queue bounds the wake-ups held at once (waiting for a worker, for
	// a retry, or for their host); past it new ones are dropped.
	Queue      int
	Attempts   int // tries per wake-up on retryable answers
	Backoff    time.Duration
	MaxBackoff time.Duration // also caps a provider's Retry-After
	Timeout    time.Duration // per attempt
	// HostConcurrency bounds the sends in flight to one push host (one
	// Web Push or WNS host, or one provider).
	HostConcurrency int
	// BreakerFailures consecutive failed attempts to a host (throttled,
	// 5xx, timed out, unreachable) open its circuit breaker: no wake-up
	// goes there for BreakerCooldown, then one probe does. 0: never.
	BreakerFailures int
	BreakerCooldown time.Duration
}

// Defaults: a wake-up per device per 10 minutes at most.
func Defaults() Config {
	return Config{WakeInterval: 10 * time.Minute, Workers: 8, Queue: 10000, Attempts: 4,
		Backoff: time.Second, MaxBackoff: 30 * time.Second, Timeout: 10 * time.Second,
		HostConcurrency: 4, BreakerFailures: 5, BreakerCooldown: time.Minute}
}

// Validate reports a setting out of range, by its hushd flag.
func (c Config) Validate() error {
	switch {
	case c.Workers < 1:
		return errors.New("--push-workers must be at least 1")
	case c.HostConcurrency < 1:
		return errors.New("--push-host-concurrency must be at least 1")
	case c.BreakerFailures < 0:
		return errors.New("--push-breaker-failures must not be negative")
	case c.BreakerFailures > 0 && c.BreakerCooldown <= 0:
		return errors.New("--push-breaker-cooldown must be positive")
	case c.Timeout <= 0:
		return errors.New("--push-timeout must be positive")
	case c.MaxBackoff < c.Backoff:
		return errors.New("--push-max-backoff must be at least the first backoff")
	case c.Queue < 1 || c.Attempts < 1:
		return errors.New("push queue and attempts must be at least 1")
	}
	return nil
}

type deviceKey struct {
	account string
	device  uint32
}

// Service registers devices and wakes them.
//
// A wake-up is a job: a worker takes it from ready, claims it, and makes
// one attempt if its host admits it. A job to retry waits in the delay
// queue (a heap by due time) and a job over its host's limit in the
// host's line; no worker ever sleeps, so throttling or slow push services
// hold no worker from other devices' wake-ups beyond one attempt.
type Service struct {
	cfg       Config
	store     Store
	providers map[string]Provider
	bus       bus.Bus
	log       *slog.Logger
	m         *metrics.Metrics
	now       func() time.Time
	vapidKey  string // the Web Push application server key, if any

	busy    atomic.Int64 // wake-ups held: ready, delayed, in a line, or being sent
	ready   chan *job
	delayed *delayQueue
	hosts   *hosts
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
		vapidKey: vapidPublic, ready: make(chan *job, cfg.Queue), pending: map[deviceKey]struct{}{}, ctx: ctx, stop: stop,
		hosts: newHosts(cfg.HostConcurrency, cfg.BreakerFailures, cfg.BreakerCooldown)}
	s.delayed = newDelayQueue(s.ready)
	for _, p := range providers {
		s.providers[p.Kind()] = p
	}
	for range max(cfg.Workers, 1) {
		s.wg.Add(1)
		go s.work()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.delayed.run(ctx.Done())
	}()
	return s
}

// Close stops the workers; wake-ups still held are dropped (the
// envelopes stay stored).
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
	if s.busy.Add(1) > int64(s.cfg.Queue) {
		s.drop(k)
		return
	}
	select {
	case s.ready <- &job{key: k}:
	default:
		s.drop(k)
	}
}

func (s *Service) drop(k deviceKey) {
	s.done(k)
	s.busy.Add(-1)
	s.m.Push.WithLabelValues("", "dropped").Inc()
}

// Idle reports whether no wake-up is held: none waits for a worker, a
// retry or its host, and none is being sent.
func (s *Service) Idle() bool { return s.busy.Load() == 0 }

// Delayed reports how many wake-ups wait in the delay queue for a retry
// or for their host's breaker to let them try.
func (s *Service) Delayed() int { return s.delayed.Len() }

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
		case j := <-s.ready:
			if !j.claimed {
				s.done(j.key)
			}
			for j != nil && s.ctx.Err() == nil {
				j = s.run(s.ctx, j)
			}
		}
	}
}

// finish ends a job's life.
func (s *Service) finish() { s.busy.Add(-1) }

// run takes j one step: it claims the wake-up if not done yet, and makes
// one attempt if j's host admits it. It returns the job from the host's
// line to run next in the same worker, if any.
func (s *Service) run(ctx context.Context, j *job) *job {
	if online, err := s.bus.Deliver(ctx, bus.Event{Kind: bus.Online, Account: j.key.account, Device: j.key.device}); err == nil && online {
		s.finish()
		if j.admitted {
			return s.hosts.release(j)
		}
		return nil
	}
	if !j.claimed && !s.claim(ctx, j) {
		s.finish()
		return nil
	}
	p := s.providers[j.kind]
	if p == nil {
		s.m.Push.WithLabelValues(j.kind, "disabled").Inc()
		s.finish()
		return nil
	}
	adm, at := admitSend, time.Time{}
	if !j.admitted {
		adm, at = s.hosts.admit(j, time.Now())
	}
	switch adm {
	case admitWait:
		return nil
	case admitLater:
		// The host's breaker is open: wait for it, unless the wake-up
		// would by then be older than the interval it holds.
		if at.Sub(j.claimedAt) >= s.cfg.WakeInterval {
			s.m.Push.WithLabelValues(j.kind, "circuit_open").Inc()
			s.finish()
			return nil
		}
		s.m.Push.WithLabelValues(j.kind, "deferred").Inc()
		s.delayed.add(j, at)
		return nil
	}
	j.tries++
	actx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	err := p.Send(actx, j.reg)
	cancel()
	var re *RetryError
	retry := errors.As(err, &re)
	next, more, later, at := s.hosts.done(j, retry, time.Now())
	for _, o := range more {
		s.delayed.add(o, time.Now())
	}
	for _, o := range later {
		s.delayed.add(o, at)
	}
	switch {
	case err == nil:
		s.m.Push.WithLabelValues(j.kind, "sent").Inc()
		s.finish()
	case errors.Is(err, ErrGone):
		s.m.Push.WithLabelValues(j.kind, "gone").Inc()
		if err := s.store.DeletePushRegistration(ctx, j.key.account, j.key.device, j.data); err != nil && ctx.Err() == nil {
			s.log.Warn("push remove gone registration", "err", err)
		}
		s.finish()
	case retry && j.tries < s.cfg.Attempts && ctx.Err() == nil:
		s.m.Push.WithLabelValues(j.kind, "retried").Inc()
		wait := max(j.backoff, re.After)
		j.backoff = min(2*j.backoff, s.cfg.MaxBackoff)
		s.delayed.add(j, time.Now().Add(min(wait, s.cfg.MaxBackoff)))
	default:
		// The wake-up keeps its claim: the device is not woken again
		// before WakeInterval, however many envelopes come meanwhile.
		s.m.Push.WithLabelValues(j.kind, "failed").Inc()
		if ctx.Err() == nil {
			s.log.Warn("push failed", "kind", j.kind, "attempts", j.tries, "err", err)
		}
		s.finish()
	}
	return next
}

// claim claims j's wake-up in the store and loads its registration. It
// reports false when there is nothing to send: no registration, or one
// woken within WakeInterval.
func (s *Service) claim(ctx context.Context, j *job) bool {
	now := s.now()
	st, ok, err := s.store.ClaimWake(ctx, j.key.account, j.key.device, now, now.Add(-s.cfg.WakeInterval))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("push claim", "err", err)
		}
		return false
	}
	if !ok {
		return false
	}
	if err := json.Unmarshal(st.Data, &j.reg); err != nil {
		s.log.Warn("push registration unreadable", "kind", st.Kind)
		return false
	}
	j.claimed, j.kind, j.data, j.host, j.backoff, j.claimedAt = true, st.Kind, st.Data, hostOf(j.reg), s.cfg.Backoff, time.Now()
	return true
}
