package groups

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/httpx"
	"github.com/hushmsg/hush/internal/metrics"
	"github.com/hushmsg/hush/internal/ratelimit"
)

// Config tunes groups; Defaults gives the documented values.
type Config struct {
	MaxMembers int           // members per group, the creator included
	NoticeTTL  time.Duration // how long a change notice waits for its device
	// CreateLimit bounds the groups an account creates; AddLimit the
	// members it adds (at creation or later), each of whom gets a notice.
	CreateLimit ratelimit.Limit
	AddLimit    ratelimit.Limit
}

// Defaults returns the documented defaults.
func Defaults() Config {
	return Config{MaxMembers: 1000, NoticeTTL: 30 * 24 * time.Hour,
		CreateLimit: ratelimit.Limit{Burst: 20, Per: time.Hour},
		AddLimit:    ratelimit.Limit{Burst: 1000, Per: time.Hour},
	}
}

// Poker tells the devices of these accounts that their mailboxes have new
// envelopes.
type Poker func(ctx context.Context, accounts []string)

// Service manages groups.
type Service struct {
	cfg           Config
	store         Store
	poke          Poker
	log           *slog.Logger
	m             *metrics.Metrics
	now           func() time.Time
	creates, adds *ratelimit.Shared
}

// New returns a Service; poke is called after every committed change.
// Its limits are shared through limits.
func New(cfg Config, store Store, poke Poker, log *slog.Logger, m *metrics.Metrics, limits *ratelimit.Buckets) *Service {
	return &Service{cfg: cfg, store: store, poke: poke, log: log, m: m, now: time.Now,
		creates: limits.Shared("group_creates", cfg.CreateLimit),
		adds:    limits.Shared("group_adds", cfg.AddLimit)}
}

// limit takes n tokens from l's bucket for account, or answers 429.
func limit(ctx context.Context, l *ratelimit.Shared, account string, n int, what string) error {
	ok, wait, err := l.TakeN(ctx, account, n)
	switch {
	case err != nil:
		return err
	case !ok:
		return httpx.RateLimited(wait, what)
	}
	return nil
}

var (
	errNoGroup  = httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no such group")
	errNotAdmin = httpx.Errorf(http.StatusForbidden, api.CodeForbidden, "only a group admin may do this")
)

// Create makes a group with dev's account as its admin and members as the
// other members.
func (s *Service) Create(ctx context.Context, dev auth.Device, members []string) (*api.Group, error) {
	add, err := s.accounts(members, dev.AccountID)
	if err != nil {
		return nil, err
	}
	if err := limit(ctx, s.creates, dev.AccountID, 1, "groups created by this account"); err != nil {
		return nil, err
	}
	if err := limit(ctx, s.adds, dev.AccountID, len(add), "members added by this account"); err != nil {
		return nil, err
	}
	id := uuid.NewString()
	return s.change(ctx, id, true, api.GroupCreated, func(g *Group, now time.Time) (*Change, error) {
		c := &Change{Add: []api.GroupMember{{AccountID: dev.AccountID, Role: api.RoleAdmin, Joined: now.Unix()}}}
		for _, a := range add {
			c.Add = append(c.Add, api.GroupMember{AccountID: a, Role: api.RoleMember, Joined: now.Unix()})
		}
		if len(c.Add) > s.cfg.MaxMembers {
			return nil, s.tooMany()
		}
		return c, s.notify(c, g, dev.AccountID, api.GroupCreated, add, now)
	})
}

// Add adds accounts to a group; dev must be an admin. Accounts that are
// members already are left as they are.
func (s *Service) Add(ctx context.Context, dev auth.Device, groupID string, members []string) (*api.Group, error) {
	add, err := s.accounts(members, "")
	if err != nil {
		return nil, err
	}
	if err := checkGroupID(groupID); err != nil {
		return nil, err
	}
	if err := limit(ctx, s.adds, dev.AccountID, len(add), "members added by this account"); err != nil {
		return nil, err
	}
	return s.change(ctx, groupID, false, api.GroupAdded, func(g *Group, now time.Time) (*Change, error) {
		if err := mustBeAdmin(g, dev.AccountID); err != nil {
			return nil, err
		}
		c := &Change{}
		var added []string
		for _, a := range add {
			if member(g, a) == nil {
				c.Add = append(c.Add, api.GroupMember{AccountID: a, Role: api.RoleMember, Joined: now.Unix()})
				added = append(added, a)
			}
		}
		if len(added) == 0 {
			return nil, nil
		}
		if len(g.Members)+len(added) > s.cfg.MaxMembers {
			return nil, s.tooMany()
		}
		return c, s.notify(c, g, dev.AccountID, api.GroupAdded, added, now)
	})
}

// Remove takes target out of a group: an admin removes anyone, a member
// removes itself (leaves). When the last admin leaves, the longest-standing
// member becomes admin; when the last member leaves, the group is gone.
func (s *Service) Remove(ctx context.Context, dev auth.Device, groupID, target string) error {
	if _, err := httpx.AccountID(target); err != nil {
		return err
	}
	action := api.GroupLeft
	if target != dev.AccountID {
		action = api.GroupRemoved
	}
	_, err := s.change(ctx, groupID, false, action, func(g *Group, now time.Time) (*Change, error) {
		me := member(g, dev.AccountID)
		if me == nil {
			return nil, errNoGroup
		}
		if action == api.GroupRemoved && me.Role != api.RoleAdmin {
			return nil, errNotAdmin
		}
		if member(g, target) == nil {
			return nil, httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "that account is not a member of this group")
		}
		c := &Change{Remove: []string{target}}
		if heir := heir(g, target); heir != "" {
			c.Promote = []string{heir}
		}
		return c, s.notify(c, g, dev.AccountID, action, []string{target}, now)
	})
	return err
}

// Erased takes an erased account out of every group it is in. The other
// members are told, with the member list after it, in a notice that does
// not name the account (it must leave no trace); the longest-standing
// member inherits the admin role when the last admin goes. It returns how
// many groups it left; calling it again finds none.
func (s *Service) Erased(ctx context.Context, account string) (int, error) {
	gs, err := s.store.GroupsOf(ctx, account)
	if err != nil {
		return 0, err
	}
	left := 0
	for _, g := range gs {
		_, err := s.change(ctx, g.GroupID, false, api.GroupErased, func(g *Group, now time.Time) (*Change, error) {
			if member(g, account) == nil {
				return nil, nil
			}
			c := &Change{Remove: []string{account}}
			if heir := heir(g, account); heir != "" {
				c.Promote = []string{heir}
			}
			after := apply(g, c)
			stay := make([]string, len(after))
			for i, m := range after {
				stay[i] = m.AccountID
			}
			gc := api.GroupChange{GroupID: g.ID, Version: g.Version + 1, Action: api.GroupErased, Members: after}
			return c, s.addNotice(c, stay, &gc, now)
		})
		if err != nil && !errors.Is(err, errNoGroup) {
			return left, err
		}
		left++
	}
	return left, nil
}

// Promote makes a member an admin; dev must be an admin.
func (s *Service) Promote(ctx context.Context, dev auth.Device, groupID, target string) (*api.Group, error) {
	if _, err := httpx.AccountID(target); err != nil {
		return nil, err
	}
	return s.change(ctx, groupID, false, api.GroupPromoted, func(g *Group, now time.Time) (*Change, error) {
		if err := mustBeAdmin(g, dev.AccountID); err != nil {
			return nil, err
		}
		m := member(g, target)
		switch {
		case m == nil:
			return nil, httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "that account is not a member of this group")
		case m.Role == api.RoleAdmin:
			return nil, nil
		}
		c := &Change{Promote: []string{target}}
		return c, s.notify(c, g, dev.AccountID, api.GroupPromoted, []string{target}, now)
	})
}

// Get returns a group dev's account is a member of.
func (s *Service) Get(ctx context.Context, dev auth.Device, groupID string) (*api.Group, error) {
	if err := checkGroupID(groupID); err != nil {
		return nil, err
	}
	g, err := s.store.Group(ctx, groupID)
	if errors.Is(err, ErrNotFound) || err == nil && member(g, dev.AccountID) == nil {
		return nil, errNoGroup
	}
	if err != nil {
		return nil, err
	}
	return view(g), nil
}

// List returns dev's account's groups.
func (s *Service) List(ctx context.Context, dev auth.Device) ([]api.GroupSummary, error) {
	gs, err := s.store.GroupsOf(ctx, dev.AccountID)
	if gs == nil {
		gs = []api.GroupSummary{}
	}
	return gs, err
}

// Devices returns every device of every member of a group, for a send by
// member; a non-member gets ErrNotFound.
func (s *Service) Devices(ctx context.Context, groupID, member string) ([]Device, error) {
	if err := checkGroupID(groupID); err != nil {
		return nil, err
	}
	devs, err := s.store.GroupDevices(ctx, groupID, member)
	if errors.Is(err, ErrNotFound) {
		return nil, errNoGroup
	}
	return devs, err
}

// change runs decide in the store's transaction and pokes the devices its
// notices went to.
func (s *Service) change(ctx context.Context, groupID string, create bool, action string, decide func(*Group, time.Time) (*Change, error)) (*api.Group, error) {
	if err := checkGroupID(groupID); err != nil {
		return nil, err
	}
	now := s.now()
	var notices []Notice
	g, err := s.store.ChangeGroup(ctx, groupID, create, now, func(g *Group) (*Change, error) {
		c, err := decide(g, now)
		if c != nil {
			notices = c.Notices
		}
		return c, err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, errNoGroup
	case errors.Is(err, ErrUnknownAccount):
		return nil, httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "%v", err)
	case err != nil:
		return nil, err
	}
	var poked []string
	if len(notices) > 0 {
		s.m.GroupChanges.WithLabelValues(action).Inc()
	}
	for _, n := range notices {
		poked = append(poked, n.Accounts...)
	}
	if len(poked) > 0 {
		s.poke(ctx, poked)
	}
	return view(g), nil
}

// notify adds to c the notices of a change: the member list after it for
// the members, and a notice without it for the accounts it removed.
func (s *Service) notify(c *Change, g *Group, actor, action string, about []string, now time.Time) error {
	after := apply(g, c)
	gc := api.GroupChange{GroupID: g.ID, Version: g.Version + 1, Action: action, Actor: actor, Accounts: about, Members: after}
	stay := make([]string, len(after))
	for i, m := range after {
		stay[i] = m.AccountID
	}
	if err := s.addNotice(c, stay, &gc, now); err != nil {
		return err
	}
	if len(c.Remove) > 0 {
		gc.Members = nil
		return s.addNotice(c, c.Remove, &gc, now)
	}
	return nil
}

func (s *Service) addNotice(c *Change, accounts []string, gc *api.GroupChange, now time.Time) error {
	if len(accounts) == 0 {
		return nil
	}
	b, err := json.Marshal(gc)
	if err != nil {
		return fmt.Errorf("encode group change: %w", err)
	}
	c.Notices = append(c.Notices, Notice{Accounts: accounts, ID: uuid.New(), Payload: uuid.New(), Content: b,
		ServerTimestamp: now.UnixMilli(), Expires: now.Add(s.cfg.NoticeTTL)})
	return nil
}

// accounts checks and dedupes account ids, leaving out self.
func (s *Service) accounts(ids []string, self string) ([]string, error) {
	if len(ids) > s.cfg.MaxMembers {
		return nil, s.tooMany()
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, err := httpx.AccountID(id); err != nil {
			return nil, err
		}
		if id != self && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func (s *Service) tooMany() error {
	return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "a group has at most %d members", s.cfg.MaxMembers)
}

func checkGroupID(id string) error {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 || u.String() != id {
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "malformed group id")
	}
	return nil
}

func mustBeAdmin(g *Group, account string) error {
	m := member(g, account)
	switch {
	case m == nil:
		return errNoGroup
	case m.Role != api.RoleAdmin:
		return errNotAdmin
	}
	return nil
}

// member returns an account's membership, or nil.
func member(g *Group, account string) *api.GroupMember {
	for i := range g.Members {
		if g.Members[i].AccountID == account {
			return &g.Members[i]
		}
	}
	return nil
}

// heir is the member who becomes admin when leaving takes the last admin
// away: the longest-standing other member ("" when none is needed).
func heir(g *Group, leaving string) string {
	var next *api.GroupMember
	for i := range g.Members {
		m := &g.Members[i]
		switch {
		case m.AccountID == leaving:
		case m.Role == api.RoleAdmin:
			return ""
		case next == nil || m.Joined < next.Joined || m.Joined == next.Joined && m.AccountID < next.AccountID:
			next = m
		}
	}
	if next == nil {
		return ""
	}
	return next.AccountID
}

// apply returns the member list after c, in the store's order (joined,
// then account id).
func apply(g *Group, c *Change) []api.GroupMember {
	out := make([]api.GroupMember, 0, len(g.Members)+len(c.Add))
	for _, m := range append(slices.Clone(g.Members), c.Add...) {
		if slices.Contains(c.Remove, m.AccountID) {
			continue
		}
		if slices.Contains(c.Promote, m.AccountID) {
			m.Role = api.RoleAdmin
		}
		out = append(out, m)
	}
	sortMembers(out)
	return out
}

// sortMembers orders members as the store lists them.
func sortMembers(ms []api.GroupMember) {
	slices.SortFunc(ms, func(a, b api.GroupMember) int {
		return cmp.Or(cmp.Compare(a.Joined, b.Joined), cmp.Compare(a.AccountID, b.AccountID))
	})
}

// view is a group as the API shows it; stores list members in order.
func view(g *Group) *api.Group {
	return &api.Group{GroupID: g.ID, Version: g.Version, Members: g.Members}
}
