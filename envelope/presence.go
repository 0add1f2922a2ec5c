package envelope

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/httpx"
)

// Presence keeps "last seen" and online state; the devices package
// provides it.
type Presence interface {
	// Connected and Disconnected are told of every device socket of this
	// node, Disconnected once the socket no longer answers for the device.
	Connected(ctx context.Context, account string)
	Disconnected(ctx context.Context, account string)
	// Lookup returns account's presence as viewer may see it.
	Lookup(ctx context.Context, viewer, account string) (*api.Presence, error)
}

// SetPresence enables presence: connections are reported to p, and
// presence_follow frames answered.
func (s *Service) SetPresence(p Presence) { s.presence = p }

// follow replaces the accounts this connection follows: it watches their
// presence topics, sends each new one's presence now, and the hub forwards
// their changes. It returns an error only when the socket is gone.
func (ss *session) follow(f *api.Follow) error {
	s := ss.s
	if s.presence == nil {
		return ss.writeFrame(errorFrame(api.CodeNotFound, "presence is not enabled"))
	}
	if len(f.Accounts) > api.MaxFollow {
		return ss.writeFrame(errorFrame(api.CodeBadRequest, "presence_follow: too many accounts"))
	}
	var next []string
	for _, a := range f.Accounts {
		if _, err := httpx.AccountID(a); err != nil {
			return ss.writeFrame(errorFrame(api.CodeBadRequest, "presence_follow: malformed account id"))
		}
		if !slices.Contains(next, a) {
			next = append(next, a)
		}
	}
	var added []string
	ss.mu.Lock()
	for a, unwatch := range ss.following {
		if !slices.Contains(next, a) {
			unwatch()
			s.hub.unfollow(a, ss.conn)
			delete(ss.following, a)
		}
	}
	for _, a := range next {
		if _, ok := ss.following[a]; !ok {
			ss.following[a] = s.bus.Watch(bus.PresenceTopic(a))
			s.hub.follow(a, ss.conn)
			added = append(added, a)
		}
	}
	ss.mu.Unlock()
	for _, a := range added {
		p, err := s.presence.Lookup(ss.io, ss.dev.AccountID, a)
		var he *httpx.Error
		switch {
		case errors.As(err, &he) && he.Status == http.StatusNotFound:
			p = &api.Presence{AccountID: a, Hidden: true}
		case err != nil:
			return ss.writeFrame(errorFrame(api.CodeUnavailable, "presence unavailable"))
		}
		if err := ss.writeFrame(&wire.Frame{Type: wire.TypePresence, Presence: p}); err != nil {
			return err
		}
	}
	return nil
}

// unfollowAll ends every follow of a closing session.
func (ss *session) unfollowAll() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for a, unwatch := range ss.following {
		unwatch()
		ss.s.hub.unfollow(a, ss.conn)
	}
	ss.following = nil
}

// Waker wakes offline devices (the push package).
type Waker interface {
	// Queued is told, without blocking, that an urgent envelope was
	// stored for a device that no connection on this node took.
	Queued(account string, device uint32)
	// Connected is told that a device connected.
	Connected(ctx context.Context, account string, device uint32)
}

// SetWaker enables wake-ups of offline devices.
func (s *Service) SetWaker(w Waker) { s.waker = w }
