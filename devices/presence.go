package devices

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/httpx"
)

// touchedCap bounds the accounts whose last write a node remembers; past
// it the memory is dropped and the next touches write again.
const touchedCap = 100_000

// Presence keeps each account's "last seen" (to the minute) and tells
// followers when an account comes online or goes offline, if the account
// lets everyone see it (the default is nobody).
type Presence struct {
	store Store
	bus   bus.Bus
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex       // guards the following fields
	local   map[string]int   // connected devices per account on this node
	touched map[string]int64 // account -> minute last written by this node
}

func newPresence(store Store, b bus.Bus, log *slog.Logger) *Presence {
	return &Presence{store: store, bus: b, log: log, now: time.Now, local: map[string]int{}, touched: map[string]int64{}}
}

// minute is now rounded down to the minute, in Unix seconds.
func (p *Presence) minute() int64 { return p.now().Unix() / 60 * 60 }

// Touch records activity of account, writing at most once a minute.
func (p *Presence) Touch(ctx context.Context, account string) {
	m := p.minute()
	p.mu.Lock()
	if p.touched[account] == m {
		p.mu.Unlock()
		return
	}
	if len(p.touched) >= touchedCap {
		clear(p.touched)
	}
	p.touched[account] = m
	p.mu.Unlock()
	if err := p.store.SetLastSeen(ctx, account, m); err != nil {
		p.log.WarnContext(ctx, "record last seen", "err", err)
	}
}

// Connected implements envelope.Presence.
func (p *Presence) Connected(ctx context.Context, account string) {
	p.mu.Lock()
	p.local[account]++
	first := p.local[account] == 1
	p.mu.Unlock()
	p.Touch(ctx, account)
	if first {
		p.announce(ctx, account, true)
	}
}

// Disconnected implements envelope.Presence. The account stays online
// while a device of it is connected to any node.
func (p *Presence) Disconnected(ctx context.Context, account string) {
	p.mu.Lock()
	p.local[account]--
	last := p.local[account] <= 0
	if last {
		delete(p.local, account)
		delete(p.touched, account) // the goodbye is always written
	}
	p.mu.Unlock()
	if !last {
		return
	}
	p.Touch(ctx, account)
	if !p.online(ctx, account) {
		p.announce(ctx, account, false)
	}
}

// online asks every node whether a device of account is connected.
func (p *Presence) online(ctx context.Context, account string) bool {
	p.mu.Lock()
	n := p.local[account]
	p.mu.Unlock()
	if n > 0 {
		return true
	}
	ok, err := p.bus.Deliver(ctx, bus.Event{Kind: bus.Online, Account: account})
	if err != nil {
		p.log.WarnContext(ctx, "ask whether online", "err", err)
	}
	return ok
}

// announce tells the followers of account its presence, unless it hides it.
func (p *Presence) announce(ctx context.Context, account string, online bool) {
	at, vis, err := p.store.Presence(ctx, account)
	if err != nil {
		p.log.WarnContext(ctx, "read presence", "err", err)
		return
	}
	if vis != api.VisibleEveryone {
		return
	}
	p.publish(ctx, &api.Presence{AccountID: account, Online: online, LastSeen: at})
}

func (p *Presence) publish(ctx context.Context, pr *api.Presence) {
	frame, err := json.Marshal(&wire.Frame{Type: wire.TypePresence, Presence: pr})
	if err != nil {
		return
	}
	if err := p.bus.Publish(ctx, bus.Event{Kind: bus.PresenceChanged, Account: pr.AccountID, Payload: frame}); err != nil {
		p.log.WarnContext(ctx, "publish presence", "err", err)
	}
}

// Lookup implements envelope.Presence: an account sees its own presence;
// others see it only when it allows everyone to. An unknown account
// looks hidden, as one that hides its presence (the default): the
// answer does not tell whether the account exists.
func (p *Presence) Lookup(ctx context.Context, viewer, account string) (*api.Presence, error) {
	at, vis, err := p.store.Presence(ctx, account)
	if errors.Is(err, ErrNotFound) {
		return &api.Presence{AccountID: account, Hidden: true}, nil
	}
	if err != nil {
		return nil, err
	}
	if vis != api.VisibleEveryone && viewer != account {
		return &api.Presence{AccountID: account, Hidden: true}, nil
	}
	return &api.Presence{AccountID: account, Online: p.online(ctx, account), LastSeen: at}, nil
}

// SetVisibility sets who sees account's last seen and tells its followers.
func (p *Presence) SetVisibility(ctx context.Context, account, vis string) error {
	if vis != api.VisibleEveryone && vis != api.VisibleNobody {
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "last_seen must be %q or %q", api.VisibleEveryone, api.VisibleNobody)
	}
	if err := p.store.SetLastSeenVisibility(ctx, account, vis); err != nil {
		if errors.Is(err, ErrNotFound) {
			return errNotFound
		}
		return err
	}
	if vis == api.VisibleNobody {
		p.publish(ctx, &api.Presence{AccountID: account, Hidden: true})
		return nil
	}
	p.announce(ctx, account, p.online(ctx, account))
	return nil
}

func (p *Presence) handleGetPrivacy(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	_, vis, err := p.store.Presence(r.Context(), dev.AccountID)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, api.Privacy{LastSeen: vis})
	return nil
}

func (p *Presence) handlePutPrivacy(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	var req api.Privacy
	if err := httpx.DecodeJSON(w, r, httpx.DefaultBodyLimit, &req); err != nil {
		return err
	}
	if err := p.SetVisibility(r.Context(), dev.AccountID, req.LastSeen); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, req)
	return nil
}

func (p *Presence) handleLastSeen(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	account, err := httpx.AccountID(r.PathValue("id"))
	if err != nil {
		return err
	}
	pr, err := p.Lookup(r.Context(), dev.AccountID, account)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, pr)
	return nil
}
