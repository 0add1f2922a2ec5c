package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/groups"
	"github.com/hushmsg/hush/internal/api"
)

// The envelopes of one group send share one stored payload, even when
// they are inserted in two transactions; concurrent acks of the last ones
// delete it, never leaving it behind.
func testSharedPayload(t *testing.T, s Store) {
	ctx := context.Background()
	id := register(t, s, 8)
	msg, payload, group := uuid.New(), uuid.New(), uuid.NewString()
	content := []byte("one ciphertext for every device")
	var envs []envelope.Stored
	for d := uint32(1); d <= 8; d++ {
		envs = append(envs, envelope.Stored{AccountID: id, DeviceID: d, ID: msg, SourceAccount: id, SourceDevice: 1, Type: 4,
			Content: content, Expires: time.Now().Add(time.Hour), Payload: payload, Group: group})
	}
	check(t, s.Insert(ctx, envs[:3], envelope.Quota{}))
	check(t, s.Insert(ctx, envs[3:], envelope.Quota{}))
	equal(t, "payloads", stat(t, s, "payloads"), 1)
	for d := uint32(1); d <= 8; d++ {
		got, err := s.Fetch(ctx, id, d, 0, 10)
		check(t, err)
		equal(t, "envelopes", len(got), 1)
		equal(t, "content", string(got[0].Content), string(content))
		equal(t, "group", got[0].Group, group)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for d := uint32(1); d <= 8; d++ {
		wg.Go(func() { errs <- s.Ack(ctx, acked(id, d, msg, 0, 0)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check(t, err)
	}
	equal(t, "payloads after the last ack", stat(t, s, "payloads"), 0)
	equal(t, "envelopes after the last ack", stat(t, s, "envelopes"), 0)
}

// A group change applies in one transaction with its notices: every
// device of the named accounts gets one; a refused decision or an unknown
// account changes nothing.
func testGroupChange(t *testing.T, s Store) {
	ctx := context.Background()
	a, b := register(t, s, 2), register(t, s, 1)
	gid := uuid.NewString()
	now := time.Now()
	notice := func(accounts ...string) groups.Notice {
		return groups.Notice{Accounts: accounts, ID: uuid.New(), Payload: uuid.New(), Content: []byte(`{"action":"x"}`),
			ServerTimestamp: now.UnixMilli(), Expires: now.Add(time.Hour)}
	}
	g, err := s.ChangeGroup(ctx, gid, true, now, func(g *groups.Group) (*groups.Change, error) {
		equal(t, "new group version", g.Version, int64(0))
		return &groups.Change{Add: []api.GroupMember{{AccountID: a, Role: api.RoleAdmin, Joined: 1}, {AccountID: b, Role: api.RoleMember, Joined: 1}},
			Notices: []groups.Notice{notice(a, b)}}, nil
	})
	check(t, err)
	equal(t, "version", g.Version, int64(1))
	equal(t, "members", len(g.Members), 2)
	equal(t, "notices (2 + 1 devices)", stat(t, s, "envelopes"), 3)
	got, err := s.Fetch(ctx, a, 2, 0, 10)
	check(t, err)
	equal(t, "notice type", got[0].Type, wire.EnvelopeGroupChange)
	equal(t, "notice source", got[0].SourceAccount, "")
	equal(t, "notice group", got[0].Group, gid)

	refused := errors.New("refused")
	_, err = s.ChangeGroup(ctx, gid, false, now, func(*groups.Group) (*groups.Change, error) { return nil, refused })
	equal(t, "refused", errors.Is(err, refused), true)
	_, err = s.ChangeGroup(ctx, gid, false, now, func(*groups.Group) (*groups.Change, error) {
		return &groups.Change{Add: []api.GroupMember{{AccountID: uuid.NewString(), Role: api.RoleMember, Joined: 2}}, Notices: []groups.Notice{notice(a)}}, nil
	})
	equal(t, "unknown account", errors.Is(err, groups.ErrUnknownAccount), true)
	g, err = s.Group(ctx, gid)
	check(t, err)
	equal(t, "version after refusals", g.Version, int64(1))
	equal(t, "envelopes after refusals", stat(t, s, "envelopes"), 3)

	devs, err := s.GroupDevices(ctx, gid, b)
	check(t, err)
	equal(t, "group devices", len(devs), 3)
	_, err = s.GroupDevices(ctx, gid, uuid.NewString())
	equal(t, "non-member", errors.Is(err, groups.ErrNotFound), true)
	list, err := s.GroupsOf(ctx, b)
	check(t, err)
	equal(t, "b's groups", len(list), 1)

	// The last member leaving deletes the group.
	_, err = s.ChangeGroup(ctx, gid, false, now, func(*groups.Group) (*groups.Change, error) {
		return &groups.Change{Remove: []string{a, b}}, nil
	})
	check(t, err)
	_, err = s.Group(ctx, gid)
	equal(t, "group gone", errors.Is(err, groups.ErrNotFound), true)
	_, err = s.ChangeGroup(ctx, gid, false, now, func(*groups.Group) (*groups.Change, error) { return nil, nil })
	equal(t, "change to a gone group", errors.Is(err, groups.ErrNotFound), true)
}

func stat(t *testing.T, s Store, table string) int64 {
	t.Helper()
	st, err := s.Stats(context.Background())
	check(t, err)
	return st[table]
}
