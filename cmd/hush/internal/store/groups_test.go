package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/signal"
)

func TestReceiptsNeverGoBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, t.TempDir())
	_, err := s.AddMessage(ctx, &store.Message{EnvelopeID: "e1", Direction: store.Outgoing, FromAccount: "me", FromDevice: 1, PeerAccount: "bob", Kind: "text"})
	noErr(t, err)
	_, err = s.AddMessage(ctx, &store.Message{EnvelopeID: "g1", Direction: store.Outgoing, FromAccount: "me", FromDevice: 1, Group: "grp", Kind: "text"})
	noErr(t, err)
	noErr(t, s.AddRecipients(ctx, "e1", []string{"bob"}, 10))

	steps := []struct {
		from, id, status string
		recorded         bool
		want             string
	}{
		{"bob", "e1", store.StatusRead, true, "bob=read@20"},
		{"bob", "e1", store.StatusDelivered, true, "bob=read@20"}, // late delivery receipt
		{"carol", "e1", store.StatusRead, false, "bob=read@20"},   // not a recipient of a 1:1 message
		{"bob", "nope", store.StatusRead, false, ""},              // no such message
		{"carol", "g1", store.StatusDelivered, true, "carol=delivered@20"},
	}
	for i, st := range steps {
		ok, err := s.RecordReceipt(ctx, "me", st.from, st.id, st.status, 20)
		noErr(t, err)
		assert(t, ok == st.recorded, "step %d: recorded %v", i, ok)
		rs, err := s.Receipts(ctx, st.id)
		noErr(t, err)
		got := ""
		for _, r := range rs {
			got += fmt.Sprintf("%s=%s@%d", r.AccountID, r.Status, r.Updated)
		}
		assert(t, got == st.want, "step %d: receipts %q, want %q", i, got, st.want)
	}
	sent, err := s.SentMessages(ctx, "me", store.Filter{Group: "grp"}, 10)
	assert(t, err == nil && len(sent) == 1 && sent[0].EnvelopeID == "g1", "SentMessages(group) = %+v, %v", sent, err)
	sent, err = s.SentMessages(ctx, "me", store.Filter{Peer: "bob"}, 10)
	assert(t, err == nil && len(sent) == 1 && sent[0].EnvelopeID == "e1", "SentMessages(bob) = %+v, %v", sent, err)
}

func TestUnreadAndMarkRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, t.TempDir())
	for _, m := range []store.Message{
		{EnvelopeID: "a", FromAccount: "bob", FromDevice: 1, PeerAccount: "bob"},
		{EnvelopeID: "b", FromAccount: "bob", FromDevice: 1, Group: "grp", SentAt: 20},
		{EnvelopeID: "c", FromAccount: "me", FromDevice: 2, PeerAccount: "bob", SyncTo: "bob"}, // a sync copy
		{EnvelopeID: "d", Group: "grp", Kind: "group_change"},                                  // a server notice
	} {
		m.Direction, m.Kind = store.Incoming, "text"
		_, err := s.AddMessage(ctx, &m)
		noErr(t, err)
	}
	ids := func(f store.Filter) string {
		t.Helper()
		msgs, err := s.UnreadMessages(ctx, "me", f)
		noErr(t, err)
		out := ""
		for _, m := range msgs {
			out += m.EnvelopeID
		}
		return out
	}
	assert(t, ids(store.Filter{}) == "ab", "unread %q", ids(store.Filter{}))
	assert(t, ids(store.Filter{Peer: "bob"}) == "a", "unread from bob %q", ids(store.Filter{Peer: "bob"}))
	assert(t, ids(store.Filter{Group: "grp"}) == "b", "unread in grp %q", ids(store.Filter{Group: "grp"}))
	noErr(t, s.MarkReadAt(ctx, "bob", []int64{20}))
	assert(t, ids(store.Filter{}) == "a", "unread after MarkReadAt %q", ids(store.Filter{}))
	msgs, err := s.UnreadMessages(ctx, "me", store.Filter{})
	noErr(t, err)
	noErr(t, s.MarkRead(ctx, []int64{msgs[0].Seq}))
	assert(t, ids(store.Filter{}) == "", "unread after MarkRead %q", ids(store.Filter{}))
}

func TestGroupStateAndSenderKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	noErr(t, s.SaveGroup(ctx, &store.Group{ID: "grp-1", Version: 3, Member: true, Rotated: 2,
		Members: []store.GroupMember{{AccountID: "me", Role: "admin"}, {AccountID: "bob", Role: "member"}}}))
	noErr(t, s.SaveGroup(ctx, &store.Group{ID: "grp-2", Version: 1}))
	noErr(t, s.Close())
	s = open(t, dir)
	g, err := s.Group(ctx, "grp-1")
	noErr(t, err)
	assert(t, g != nil && g.Version == 3 && g.Member && g.Rotated == 2 && len(g.Members) == 2 && g.HasMember("bob"), "group %+v", g)
	none, err := s.Group(ctx, "nope")
	assert(t, err == nil && none == nil, "unknown group: %+v %v", none, err)
	ids, err := s.GroupIDs(ctx, "grp-")
	assert(t, err == nil && len(ids) == 2, "GroupIDs(grp-) = %v %v", ids, err)
	ids, err = s.GroupIDs(ctx, "grp-2")
	assert(t, err == nil && len(ids) == 1 && ids[0] == "grp-2", "GroupIDs(grp-2) = %v %v", ids, err)

	// A sender key survives a reopen, and DeleteSenderKeys drops only
	// the ones of the group and device named.
	dist := uuid.New()
	me, bob := signal.ProtocolAddress{Name: "me", DeviceID: 1}, signal.ProtocolAddress{Name: "bob", DeviceID: 1}
	cipher := func(addr signal.ProtocolAddress) *signal.Cipher {
		c, err := signal.NewCipher(addr, s.SignalConfig())
		noErr(t, err)
		return c
	}
	dm, err := cipher(me).CreateSenderKeyDistribution(ctx, dist)
	noErr(t, err)
	noErr(t, cipher(me).ProcessSenderKeyDistribution(ctx, bob, dm)) // bob's copy, as if bob had sent it
	noErr(t, s.SetSenderKeyGroup(ctx, me, dist, "grp-1"))
	g1, ok, err := s.SenderKeyGroup(ctx, me, dist)
	assert(t, err == nil && ok && g1 == "grp-1", "SenderKeyGroup = %q %v %v", g1, ok, err)
	g1, ok, err = s.SenderKeyGroup(ctx, bob, dist)
	assert(t, err == nil && ok && g1 == "", "SenderKeyGroup(bob) = %q %v %v", g1, ok, err)
	noErr(t, s.SetSenderKeyGroup(ctx, bob, dist, "grp-1"))
	noErr(t, s.MarkSenderKeySent(ctx, "grp-1", store.Device{AccountID: "bob", DeviceID: 1}, dm.ChainID))
	noErr(t, s.MarkSenderKeySent(ctx, "grp-1", store.Device{AccountID: "bob", DeviceID: 2}, dm.ChainID))
	noErr(t, s.Close())
	s = open(t, dir)
	ct, err := cipher(me).GroupEncrypt(ctx, dist, []byte("hi"))
	noErr(t, err)
	plain, err := cipher(me).GroupDecrypt(ctx, bob, ct)
	assert(t, err == nil && string(plain) == "hi", "decrypt after reopen: %q %v", plain, err)

	noErr(t, s.DeleteSenderKeys(ctx, "grp-2", "", 0))
	noErr(t, s.DeleteSenderKeys(ctx, "grp-1", "me", 1))
	rec, err := s.LoadSenderKey(ctx, me, dist)
	assert(t, err == nil && rec == nil, "own sender key left: %v", err)
	rec, err = s.LoadSenderKey(ctx, bob, dist)
	assert(t, err == nil && rec != nil, "bob's sender key gone: %v", err)

	noErr(t, s.ForgetSenderKeysSent(ctx, "grp-1", "bob", 2))
	sent, err := s.SenderKeysSent(ctx, "grp-1")
	assert(t, err == nil && len(sent) == 1 && sent[store.Device{AccountID: "bob", DeviceID: 1}] == dm.ChainID, "sent %v %v", sent, err)
	noErr(t, s.ForgetSenderKeysSent(ctx, "grp-1", "", 0))
	sent, err = s.SenderKeysSent(ctx, "grp-1")
	assert(t, err == nil && len(sent) == 0, "sent after forgetting all %v %v", sent, err)
}
