package envelope

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/batch"
	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/httpx"
	"github.com/hushmsg/hush/internal/metrics"
	"github.com/hushmsg/hush/internal/ratelimit"
)

// Config tunes the relay; Defaults gives the documented values.
type Config struct {
	MaxContent    int           // bytes of ciphertext per device message
	TTL           time.Duration // how long an unacked envelope is kept
	SweepInterval time.Duration
	PingInterval  time.Duration
	Window        int // unacked envelopes in flight per connection
	// SendLimit bounds sends per account (all its devices together).
	SendLimit ratelimit.Limit
	// MaxConnsPerAddr bounds device sockets from one client address
	// (0: no bound).
	MaxConnsPerAddr int
	// LiveHold is how long an envelope handed straight to a connected
	// device waits for its ack before it is stored (0: every envelope is
	// stored first, then delivered).
	LiveHold time.Duration
	// DirectQueue bounds the envelopes waiting to be handed to one
	// session; past it they go through the store until it catches up.
	DirectQueue int
	// MaxSendsInFlight bounds the sends one socket may have unanswered;
	// past it the socket's reader waits (backpressure).
	MaxSendsInFlight int
	// MaxGroupRecipients bounds the devices one group send names.
	MaxGroupRecipients int
	// MessageTimeout bounds how long a client's WebSocket message may
	// take to arrive once its first frame has come.
	MessageTimeout time.Duration
	// MailboxMaxEnvelopes and MailboxMaxBytes bound each device's
	// unacknowledged envelopes (0: no bound); MailboxRecount is how often
	// a full mailbox may be counted again (Quota).
	MailboxMaxEnvelopes int64
	MailboxMaxBytes     int64
	MailboxRecount      time.Duration
}

// Defaults returns the documented defaults.
func Defaults() Config {
	return Config{
		MaxContent:       256 << 10,
		TTL:              30 * 24 * time.Hour,
		SweepInterval:    time.Minute,
		PingInterval:     30 * time.Second,
		Window:           256,
		SendLimit:        ratelimit.Limit{Burst: 1000, Per: time.Minute},
		MaxConnsPerAddr:  1000,
		LiveHold:         20 * time.Millisecond,
		DirectQueue:      1024,
		MaxSendsInFlight: 32,
		// 1,000 members with 6 devices each.
		MaxGroupRecipients:  6000,
		MessageTimeout:      time.Minute,
		MailboxMaxEnvelopes: 50_000,
		MailboxMaxBytes:     1 << 30,
		MailboxRecount:      time.Minute,
	}
}

// Validate reports a setting out of range, by its hushd flag.
func (c Config) Validate() error {
	switch {
	case c.MaxContent < 1:
		return errors.New("--max-message-size must be at least 1")
	case c.TTL <= 0:
		return errors.New("--message-ttl must be positive")
	case c.SweepInterval <= 0:
		return errors.New("--sweep-interval must be positive")
	case c.PingInterval <= 0:
		return errors.New("--ws-ping must be positive")
	case c.Window < 1:
		return errors.New("--delivery-window must be at least 1")
	case c.LiveHold < 0:
		return errors.New("--live-hold must not be negative")
	case c.DirectQueue < 1:
		return errors.New("--direct-queue must be at least 1")
	case c.MaxSendsInFlight < 1:
		return errors.New("--max-sends-in-flight must be at least 1")
	case c.MaxGroupRecipients < 1:
		return errors.New("--max-group-recipients must be at least 1")
	case c.MaxConnsPerAddr < 0:
		return errors.New("--max-conns-per-address must not be negative")
	case c.MessageTimeout <= 0:
		return errors.New("--ws-message-timeout must be positive")
	case c.MailboxMaxEnvelopes < 0:
		return errors.New("--mailbox-max-envelopes must not be negative")
	case c.MailboxMaxBytes < 0:
		return errors.New("--mailbox-max-bytes must not be negative")
	case c.MailboxRecount < 0:
		return errors.New("the mailbox recount interval must not be negative")
	}
	return nil
}

// recipientCacheSize bounds the accounts whose device lists a node keeps.
const recipientCacheSize = 100_000

// maxMessagesPerSend bounds a send: every device of two accounts.
const maxMessagesPerSend = 64

// Group commit sizes: envelopes per insert transaction, acks per delete
// transaction.
const (
	insertBatch = 512
	ackBatch    = 1024
)

// flushInserts commits a batch of sends' envelopes: those that were not
// acked while they waited.
func (s *Service) flushInserts(ctx context.Context, outs []*outbound) error {
	take := make([]*outbound, 0, len(outs))
	for _, o := range outs {
		o.mu.Lock()
		if o.state == outQueued {
			o.state = outStoring
			take = append(take, o)
		}
		o.mu.Unlock()
	}
	if len(take) == 0 {
		return nil
	}
	envs := make([]Stored, len(take))
	for i, o := range take {
		envs[i] = o.env
	}
	start := time.Now()
	s.m.BatchSize.WithLabelValues("insert").Observe(float64(len(envs)))
	err := s.store.Insert(ctx, envs, s.cfg.quota())
	s.m.Since("insert", start)
	if err == nil {
		s.m.Inserted.Add(float64(len(envs)))
	}
	for i, o := range take {
		o.seq = envs[i].Seq // before finish, which runs an ack waiting for it
		if o.direct {
			s.live.remove(o)
		}
		if err == nil && envs[i].Full {
			wait := s.cfg.recountWait()
			s.full.add(deviceKey{o.env.AccountID, o.env.DeviceID}, s.now().Add(wait))
			s.fullDenied()
			o.full = true
			o.finish(errMailboxFull(wait))
			continue
		}
		o.finish(err)
	}
	return err
}

// flushAcks deletes a batch of acknowledged envelopes. While the store is
// away it waits a little and tries again, so that an outage does not leave
// acknowledged envelopes behind.
func (s *Service) flushAcks(ctx context.Context, acks []Acked) error {
	defer s.m.Since("ack", time.Now())
	s.m.BatchSize.WithLabelValues("ack").Observe(float64(len(acks)))
	err := s.store.Ack(ctx, acks)
	for tries := 0; errors.Is(err, httpx.ErrUnavailable) && tries < ackRetries; tries++ {
		time.Sleep(storeRetry)
		err = s.store.Ack(ctx, acks)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "ack", "count", len(acks), "err", err)
		return err
	}
	s.m.Acked.Add(float64(len(acks)))
	return nil
}

// Service sends, delivers and expires envelopes.
type Service struct {
	cfg   Config
	store Store
	bus   bus.Bus
	hub   *hub
	log   *slog.Logger
	now   func() time.Time
	// greet returns frames to send a device when it connects (keys_low).
	greet func(ctx context.Context, dev auth.Device) [][]byte
	m     *metrics.Metrics

	sessions sync.WaitGroup // live WebSocket sessions

	sends      *ratelimit.Keyed
	full       *fullSet // mailboxes found full lately
	fullDenied func()   // counts envelopes refused for a full mailbox

	addrMu sync.Mutex // guards addrs and down
	addrs  map[string]int
	down   bool // Shutdown has begun: no new sessions

	inserts *batch.Batcher[*outbound] // group commit of sends
	live    *liveSet                  // envelopes handed to local sessions, not yet stored

	recipients   *recipientCache
	groupDevices GroupDevices          // nil: no group sends
	presence     Presence              // nil: no presence
	waker        Waker                 // nil: no wake-ups
	unwatch      func()                // ends the watch of bus.DevicesTopic
	acks         *batch.Batcher[Acked] // group commit of acks
}

// New returns a Service and subscribes it to b. greet may be nil.
func New(cfg Config, store Store, b bus.Bus, log *slog.Logger, m *metrics.Metrics, greet func(context.Context, auth.Device) [][]byte) *Service {
	s := &Service{cfg: cfg, store: store, bus: b, log: log, m: m, now: time.Now, greet: greet, hub: newHub(),
		sends: ratelimit.New(cfg.SendLimit, m.Denied("sends")), addrs: map[string]int{}, live: newLiveSet(), full: newFullSet(),
		fullDenied: m.Denied("mailbox_full")}
	s.inserts = batch.New(insertBatch, s.flushInserts)
	s.acks = batch.New(ackBatch, s.flushAcks)
	s.recipients = newRecipientCache(recipientCacheSize)
	b.Subscribe(func(e bus.Event) bool {
		switch e.Kind {
		case bus.DevicesChanged:
			s.recipients.drop(e.Account)
			return true
		case bus.Resync:
			s.recipients.drop("")
		}
		return s.hub.onEvent(e)
	})
	s.unwatch = b.Watch(bus.DevicesTopic)
	return s
}

// sendBodyLimit bounds a send's JSON: base64 grows content by 4/3.
func (s *Service) sendBodyLimit() int64 {
	return int64(maxMessagesPerSend*(s.cfg.MaxContent*4/3+512) + 1024)
}

// Send checks a send against the destination's and the sender's devices and
// stores (or, ephemeral, hands over) one envelope per device.
func (s *Service) Send(ctx context.Context, sender auth.Device, req *api.Send) (*api.SendResult, error) {
	a, err := s.accept(ctx, sender, req)
	if err != nil {
		return nil, err
	}
	return a.answer(ctx)
}

// accepted is a send whose envelopes are on their way.
type accepted struct {
	s      *Service
	res    *api.SendResult
	outs   []*outbound // nil for an ephemeral send
	w      *sendWait
	urgent bool // wake offline devices by push
}

// accept checks a send and sets its envelopes on their way; sends accepted
// one after another from one device reach each recipient in that order.
func (s *Service) accept(ctx context.Context, sender auth.Device, req *api.Send) (*accepted, error) {
	dest, err := httpx.AccountID(req.Destination)
	if err != nil {
		return nil, err
	}
	if err := s.checkMessages(sender, dest, req.Messages); err != nil {
		return nil, err
	}
	if ok, wait := s.sends.Allow(sender.AccountID); !ok {
		return nil, httpx.RateLimited(wait, "sends from this account")
	}
	if err := s.checkDevices(ctx, sender, dest, req.Messages); err != nil {
		return nil, err
	}
	if !req.Ephemeral {
		err := s.checkFull(func(yield func(deviceKey) bool) {
			for _, m := range req.Messages {
				if !yield(deviceKey{accountOf(m, dest), m.DeviceID}) {
					return
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	if len(req.Messages) == 0 {
		// Only a note to self from an account's only device gets here.
		return nil, httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "nothing to send: no other device to send to")
	}

	now := s.now()
	id := newEnvelopeID()
	res := &api.SendResult{ID: id.String(), ServerTimestamp: now.UnixMilli()}
	if req.Ephemeral {
		s.sendEphemeral(ctx, sender, res, req.Messages, dest)
		return &accepted{s: s, res: res}, nil
	}
	outs := make([]*outbound, len(req.Messages))
	w := newSendWait(len(outs))
	for i, m := range req.Messages {
		outs[i] = &outbound{send: w, env: Stored{
			AccountID: accountOf(m, dest), DeviceID: m.DeviceID, ID: id,
			SourceAccount: sender.AccountID, SourceDevice: sender.DeviceID,
			Type: m.Type, Content: m.Content,
			ServerTimestamp: res.ServerTimestamp, Expires: now.Add(s.cfg.TTL),
		}, at: now}
	}
	s.m.Sent.Add(float64(len(outs)))
	s.route(outs)
	return &accepted{s: s, res: res, outs: outs, w: w, urgent: api.IsUrgent(req.Urgent)}, nil
}

// newEnvelopeID returns a send's id: a UUIDv7, in time order (48 bits of
// milliseconds, which the envelope's server timestamp tells anyway, and 12
// of their fraction) with 62 random bits. Ids in time order keep the stores' indexes on ids local: a
// batch of inserts or acks touches the few index pages at a mailbox's end,
// not a random page per envelope, each of which a commit writes out whole.
func newEnvelopeID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}

// answer waits until every envelope is durable or acked, then tells
// devices that were not handed theirs directly to look in the store.
func (a *accepted) answer(ctx context.Context) (*api.SendResult, error) {
	s := a.s
	if a.outs == nil {
		return a.res, nil
	}
	if err := a.w.wait(); err != nil {
		if errors.Is(err, batch.ErrClosed) {
			err = fmt.Errorf("%w: %w", httpx.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("store envelopes: %w", err)
	}
	for _, o := range a.outs {
		if o.full {
			a.res.MailboxFull = append(a.res.MailboxFull, api.MailboxAddress{AccountID: o.env.AccountID, DeviceID: o.env.DeviceID})
			continue
		}
		// A device whose session here took the envelope, or was poked
		// when it was stored, needs no news, unless that connection has
		// gone since.
		if !o.stored || (o.local != nil && s.hub.get(deviceKey{o.env.AccountID, o.env.DeviceID}) == o.local) {
			continue
		}
		if err := s.bus.Publish(ctx, bus.Event{Kind: bus.Mailbox, Account: o.env.AccountID, Device: o.env.DeviceID}); err != nil {
			// The envelope is stored: the device gets it on its next connect.
			s.log.WarnContext(ctx, "publish mailbox event", "err", err)
		}
		if a.urgent && s.waker != nil {
			s.waker.Queued(o.env.AccountID, o.env.DeviceID)
		}
	}
	return a.res, nil
}

func accountOf(m api.OutgoingMessage, dest string) string {
	if m.AccountID == "" {
		return dest
	}
	return m.AccountID
}

func (s *Service) checkMessages(sender auth.Device, dest string, msgs []api.OutgoingMessage) error {
	if len(msgs) > maxMessagesPerSend {
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "at most %d messages per send", maxMessagesPerSend)
	}
	for i, m := range msgs {
		acct := accountOf(m, dest)
		switch {
		case acct != dest && acct != sender.AccountID:
			return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "messages[%d]: account_id must be the destination or the sender's own", i)
		case m.DeviceID == 0 || m.DeviceID > httpx.MaxDeviceID:
			return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "messages[%d]: device_id must be 1..%d", i, httpx.MaxDeviceID)
		case m.Type < 1 || m.Type > 255:
			return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "messages[%d]: type must be 1..255", i)
		case len(m.Content) == 0:
			return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "messages[%d]: content must not be empty", i)
		case len(m.Content) > s.cfg.MaxContent:
			return httpx.Errorf(http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, "messages[%d]: content larger than %d bytes", i, s.cfg.MaxContent)
		}
	}
	return nil
}

// checkDevices answers whether msgs name exactly the devices a send must
// name, with their registration ids: every device of dest and every other
// device of the sender. The common case, a send that names them right, is
// checked on the cached device lists as they are; only a send that does
// not gets the maps that say what differs (matchDevices).
func (s *Service) checkDevices(ctx context.Context, sender auth.Device, dest string, msgs []api.OutgoingMessage) error {
	var lists [2][]Recipient
	accts := orderedAccounts(dest, sender.AccountID)
	for i, acct := range accts {
		rs, err := s.recipients.get(ctx, s.store, acct)
		if errors.Is(err, ErrNotFound) {
			return httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no such account")
		}
		if err != nil {
			return fmt.Errorf("recipients of %s: %w", acct, err)
		}
		lists[i] = rs
	}
	if namesExactly(lists, accts, sender, dest, msgs) {
		return nil
	}
	want := make(map[string]map[uint32]uint32, 2)
	for i, acct := range accts {
		m := make(map[uint32]uint32, len(lists[i]))
		for _, r := range lists[i] {
			if !isSender(sender, acct, r.DeviceID) {
				m[r.DeviceID] = r.RegistrationID
			}
		}
		want[acct] = m
	}
	return matchDevices(want, sender, dest, msgs)
}

// namesExactly reports, without allocating, whether msgs name each device
// of lists (those of accts[0] and accts[1], the sender's own device left
// out) once, with its registration id. False may also mean "too many
// messages to tell cheaply": matchDevices then decides.
func namesExactly(lists [2][]Recipient, accts []string, sender auth.Device, dest string, msgs []api.OutgoingMessage) bool {
	const most = 16 // pairs of messages compared for repeats: n²/2
	if len(msgs) > most {
		return false
	}
	want := 0
	for i, acct := range accts {
		for _, r := range lists[i] {
			if !isSender(sender, acct, r.DeviceID) {
				want++
			}
		}
	}
	if len(msgs) != want {
		return false
	}
	for i, m := range msgs {
		acct := accountOf(m, dest)
		if isSender(sender, acct, m.DeviceID) {
			return false
		}
		found := false
		for j, a := range accts {
			if a != acct {
				continue
			}
			for _, r := range lists[j] {
				if r.DeviceID == m.DeviceID {
					found = r.RegistrationID == m.RegistrationID
					break
				}
			}
		}
		if !found {
			return false
		}
		for _, p := range msgs[:i] {
			if p.DeviceID == m.DeviceID && accountOf(p, dest) == acct {
				return false
			}
		}
	}
	return true
}

// isSender reports whether device of acct is the sender's own, which a
// send never names.
func isSender(sender auth.Device, acct string, device uint32) bool {
	return acct == sender.AccountID && device == sender.DeviceID
}

// matchDevices answers 409 for missing or extra devices, then 410 for
// registration ids that differ, as Signal does.
func matchDevices(want map[string]map[uint32]uint32, sender auth.Device, dest string, msgs []api.OutgoingMessage) error {
	got := make(map[string]map[uint32]uint32, 2)
	for _, m := range msgs {
		acct := accountOf(m, dest)
		if got[acct] == nil {
			got[acct] = make(map[uint32]uint32)
		}
		if _, dup := got[acct][m.DeviceID]; dup {
			return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "device %d of %s named twice", m.DeviceID, acct)
		}
		got[acct][m.DeviceID] = m.RegistrationID
	}
	return compareDevices(want, got, orderedAccounts(dest, sender.AccountID))
}

// compareDevices answers 409 for missing or extra devices, then 410 for
// registration ids that differ, over accounts in order.
func compareDevices(want, got map[string]map[uint32]uint32, accounts []string) error {
	var mismatched []api.MismatchedDevices
	var stale []api.StaleDevices
	for _, acct := range accounts {
		mm := api.MismatchedDevices{AccountID: acct, Missing: []uint32{}, Extra: []uint32{}}
		st := api.StaleDevices{AccountID: acct}
		for d, reg := range want[acct] {
			g, ok := got[acct][d]
			switch {
			case !ok:
				mm.Missing = append(mm.Missing, d)
			case g != reg:
				st.Stale = append(st.Stale, d)
			}
		}
		for d := range got[acct] {
			if _, ok := want[acct][d]; !ok {
				mm.Extra = append(mm.Extra, d)
			}
		}
		if len(mm.Missing)+len(mm.Extra) > 0 {
			slices.Sort(mm.Missing)
			slices.Sort(mm.Extra)
			mismatched = append(mismatched, mm)
		}
		if len(st.Stale) > 0 {
			slices.Sort(st.Stale)
			stale = append(stale, st)
		}
	}
	if len(mismatched) > 0 {
		e := httpx.Errorf(http.StatusConflict, api.CodeMismatchedDevices, "the send does not name exactly the recipient's devices")
		e.Body.Mismatched = mismatched
		return e
	}
	if len(stale) > 0 {
		e := httpx.Errorf(http.StatusGone, api.CodeStaleDevices, "some devices were re-registered; refresh their sessions")
		e.Body.Stale = stale
		return e
	}
	return nil
}

func orderedAccounts(dest, self string) []string {
	if dest == self {
		return []string{dest}
	}
	return []string{dest, self}
}

// sendEphemeral hands each copy to its device if it is connected anywhere;
// nothing is stored and offline devices get nothing.
func (s *Service) sendEphemeral(ctx context.Context, sender auth.Device, res *api.SendResult, msgs []api.OutgoingMessage, dest string) {
	for _, m := range msgs {
		s.publishEphemeral(ctx, sender, res, accountOf(m, dest), m.DeviceID, m.Type, m.Content, "")
	}
}

// publishEphemeral hands one ephemeral envelope to its device's node.
func (s *Service) publishEphemeral(ctx context.Context, sender auth.Device, res *api.SendResult, account string, device uint32, typ int, content []byte, group string) {
	frame, err := wire.Encode(&wire.Frame{Type: wire.TypeEnvelope, Envelope: &wire.Envelope{
		ID: res.ID, SourceAccount: sender.AccountID, SourceDevice: sender.DeviceID,
		Type: typ, Content: content, ServerTimestamp: res.ServerTimestamp, Ephemeral: true, Group: group,
	}})
	if err != nil {
		return
	}
	if err := s.bus.Publish(ctx, bus.Event{Kind: bus.Ephemeral, Account: account, Device: device, Payload: frame}); err != nil {
		s.log.WarnContext(ctx, "publish ephemeral", "err", err)
	}
	s.m.Ephemeral.Inc()
}
